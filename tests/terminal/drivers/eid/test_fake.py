"""FakeCardReader: the same reading code, in-process, with the emulated card."""

from __future__ import annotations

import queue
from dataclasses import replace
from datetime import date

import pytest

from sim.belpic import BankCard, BelpicCard
from terminal.drivers.eid import FakeCardReader
from terminal.drivers.events import CardError, CardInserted, CardRemoved, DriverEvent, ReaderFault
from tests.terminal.drivers.eid import cards


def drain(events: queue.Queue[DriverEvent]) -> list[DriverEvent]:
    out = []
    while not events.empty():
        out.append(events.get_nowait())
    return out


@pytest.fixture
def events() -> queue.Queue[DriverEvent]:
    return queue.Queue()


@pytest.fixture
def reader(events: queue.Queue[DriverEvent]) -> FakeCardReader:
    return FakeCardReader(events, cards.clock_on(cards.TODAY))


def test_citizen_card_is_inserted_with_its_identity(
    reader: FakeCardReader, events: queue.Queue[DriverEvent]
) -> None:
    reader.insert(cards.card())
    [event] = drain(events)
    assert isinstance(event, CardInserted)
    assert event.identity.national_number.digits == "85073003328"
    assert event.apdu_count == len(reader.apdus) <= 6


def test_only_the_identity_file_is_selected(reader: FakeCardReader) -> None:
    card = cards.card()
    reader.insert(card)
    selects = [apdu[5:] for apdu in reader.apdus if apdu[1] == 0xA4]
    assert selects[1:] == [bytes.fromhex("3F00DF014031")]
    assert all(apdu[1] in (0xA4, 0xB0) for apdu in reader.apdus)


@pytest.mark.parametrize(
    "fields",
    [cards.WOMAN_NL, cards.KIDS_ID, cards.FOREIGNER_A, cards.FOREIGNER_WORKER, cards.LONG_FILE],
)
def test_every_card_type_reads(
    reader: FakeCardReader, events: queue.Queue[DriverEvent], fields: object
) -> None:
    reader.insert(BelpicCard.from_fields(fields))  # type: ignore[arg-type]
    [event] = drain(events)
    assert isinstance(event, CardInserted)
    assert event.identity.card_number == fields.card_number  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "quirks",
    [
        {"get_response": True},
        {"max_le": 0x80},
        {"short_reply": True},
        {"no_path_select": True},
    ],
)
def test_quirky_cards_read_the_same_identity(
    reader: FakeCardReader, events: queue.Queue[DriverEvent], quirks: dict[str, object]
) -> None:
    reader.insert(cards.card(cards.LONG_FILE, **quirks))
    [event] = drain(events)
    assert isinstance(event, CardInserted)
    assert event.identity.surname == cards.LONG_FILE.surname.strip()


def test_6cxx_waits_the_named_delay_without_sleeping(reader: FakeCardReader) -> None:
    reader.insert(cards.card())
    assert reader.sleeps == [0.02]


def test_card_removed_mid_read_gives_no_identity_and_the_next_card_reads(
    reader: FakeCardReader, events: queue.Queue[DriverEvent]
) -> None:
    reader.insert(cards.card(remove_after=3))
    assert [type(e) for e in drain(events)] == [CardRemoved]
    assert not reader.card_present
    reader.insert(cards.card())
    assert [type(e) for e in drain(events)] == [CardInserted]


def test_non_eid_card(reader: FakeCardReader, events: queue.Queue[DriverEvent]) -> None:
    reader.insert(BankCard())
    assert drain(events) == [CardError("not_an_eid", at=1000.0)]


def test_expired_card_is_reported_not_decided(
    reader: FakeCardReader, events: queue.Queue[DriverEvent]
) -> None:
    reader.insert(BelpicCard.from_fields(cards.EXPIRED))
    assert [e.code for e in drain(events)] == ["card_expired"]  # type: ignore[attr-defined]


def test_a_card_valid_until_today_in_brussels_is_not_expired(
    events: queue.Queue[DriverEvent],
) -> None:
    # 23:30 UTC on 1 March is already 2 March in Brussels
    clock = cards.clock_on(date(2026, 3, 1))
    clock.advance(17 * 3600)
    reader = FakeCardReader(events, clock)
    reader.insert(BelpicCard.from_fields(replace(cards.CITIZEN, valid_until=date(2026, 3, 2))))
    assert isinstance(events.get_nowait(), CardInserted)
    reader.insert(BelpicCard.from_fields(replace(cards.CITIZEN, valid_until=date(2026, 3, 1))))
    assert [type(e) for e in drain(events)] == [CardRemoved, CardError]


def test_bad_national_number_checksum(
    reader: FakeCardReader, events: queue.Queue[DriverEvent]
) -> None:
    reader.insert(BelpicCard.from_fields(cards.BAD_CHECKSUM))
    assert [e.code for e in drain(events)] == ["invalid_national_number"]  # type: ignore[attr-defined]


def test_truncated_identity_file_is_bad_card_data(
    reader: FakeCardReader, events: queue.Queue[DriverEvent]
) -> None:
    card = cards.card()
    path = next(p for p in card.files if p[-1] == b"\x40\x31")
    card.files[path] = card.files[path][:-4]
    reader.insert(card)
    assert [e.code for e in drain(events)] == ["bad_card_data"]  # type: ignore[attr-defined]


def test_remove_is_idempotent_and_insert_replaces_a_card(
    reader: FakeCardReader, events: queue.Queue[DriverEvent]
) -> None:
    reader.remove()
    reader.insert(cards.card())
    reader.insert(cards.card())
    reader.remove()
    reader.remove()
    assert [type(e) for e in drain(events)] == [
        CardInserted,
        CardRemoved,
        CardInserted,
        CardRemoved,
    ]


def test_faults_and_recovery_can_be_played(
    reader: FakeCardReader, events: queue.Queue[DriverEvent]
) -> None:
    reader.fault("no_service")
    reader.recover()
    assert drain(events) == [ReaderFault("no_service", at=1000.0), ReaderFault("ok", at=1000.0)]


def test_identity_data_never_reaches_the_log(
    reader: FakeCardReader, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="terminal")
    reader.insert(BelpicCard.from_fields(cards.CITIZEN))
    reader.insert(BelpicCard.from_fields(cards.BAD_CHECKSUM))
    text = caplog.text
    assert caplog.records
    for secret in ("85073003328", "85073003329", "Broeck", "Zoë", cards.CITIZEN.card_number):
        assert secret not in text
