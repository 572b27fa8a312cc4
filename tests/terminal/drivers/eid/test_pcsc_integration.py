"""PcscCardReader on the real stack: pyscard -> pcscd -> vpcd -> the BELPIC emulator."""

from __future__ import annotations

import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.belpic import VPCD_PORT, BankCard, BelpicCard
from sim.pcscd import VIRTUAL_READER, CardSlot, Pcscd
from terminal.drivers.eid import PcscCardReader
from terminal.drivers.events import CardError, CardInserted, CardRemoved, DriverEvent, ReaderFault
from tests.terminal.drivers.eid import cards

pytestmark = pytest.mark.integration

# pcscd polls presence about every 400 ms; a read takes a few ms.
EVENT_TIMEOUT_S = 3.0


def next_event(events: queue.Queue[DriverEvent], timeout: float = EVENT_TIMEOUT_S) -> DriverEvent:
    return events.get(timeout=timeout)


@pytest.fixture
def events() -> queue.Queue[DriverEvent]:
    return queue.Queue()


@pytest.fixture
def reader(vpcd_card: CardSlot, events: queue.Queue[DriverEvent]) -> Iterator[PcscCardReader]:
    with PcscCardReader(events, VIRTUAL_READER, cards.clock_on()) as running:
        yield running
    assert running.errors == 0


def fault_code(event: DriverEvent) -> str:
    assert isinstance(event, ReaderFault), event
    return event.code


def inserted(events: queue.Queue[DriverEvent]) -> CardInserted:
    event = next_event(events)
    assert isinstance(event, CardInserted), event
    return event


def test_citizen_card_through_pcscd(
    reader: PcscCardReader, vpcd_card: CardSlot, events: queue.Queue[DriverEvent]
) -> None:
    card = cards.card()
    vpcd_card.insert(card)
    event = inserted(events)
    assert event.identity.surname == "Van den Broeck-D'Hondt"
    assert event.identity.given_names == "Zoë Françoise"
    assert event.apdu_count <= 6
    files = {apdu[5:] for apdu, _, _ in card.log if apdu[1] == 0xA4}
    assert bytes.fromhex("3F00DF014031") in files
    assert not any(f.endswith((b"\x40\x33", b"\x40\x35")) for f in files)
    vpcd_card.remove(wait=False)
    assert isinstance(next_event(events), CardRemoved)


def test_identity_file_over_256_bytes_in_several_chunks(
    reader: PcscCardReader, vpcd_card: CardSlot, events: queue.Queue[DriverEvent]
) -> None:
    card = cards.card(cards.LONG_FILE)
    vpcd_card.insert(card)
    event = inserted(events)
    assert event.identity.document_type == 34
    assert sum(1 for apdu, sw1, _ in card.log if apdu[1] == 0xB0 and sw1 == 0x90) == 2


@pytest.mark.parametrize("quirk", [{"max_le": 0x80}, {"get_response": True}])
def test_6cxx_and_61xx_cards(
    reader: PcscCardReader,
    vpcd_card: CardSlot,
    events: queue.Queue[DriverEvent],
    quirk: dict[str, object],
) -> None:
    card = cards.card(cards.FOREIGNER_WORKER, **quirk)
    vpcd_card.insert(card)
    event = inserted(events)
    assert event.identity.labour_market == "8"
    status_words = {sw1 for _, sw1, _ in card.log}
    assert status_words & {0x6C, 0x61}


def test_card_removed_mid_read_then_the_next_card_reads(
    reader: PcscCardReader, vpcd_card: CardSlot, events: queue.Queue[DriverEvent]
) -> None:
    vpcd_card.insert(cards.card(remove_after=3))
    assert isinstance(next_event(events), CardRemoved)
    vpcd_card.remove()
    vpcd_card.insert(cards.card(cards.KIDS_ID))
    assert inserted(events).identity.document_type == 6


@pytest.mark.parametrize(
    ("card", "code"),
    [
        (BankCard(), "not_an_eid"),
        (BelpicCard.from_fields(cards.EXPIRED), "card_expired"),
        (BelpicCard.from_fields(cards.BAD_CHECKSUM), "invalid_national_number"),
    ],
    ids=["bank-card", "expired", "bad-checksum"],
)
def test_cards_that_cannot_check_in(
    reader: PcscCardReader,
    vpcd_card: CardSlot,
    events: queue.Queue[DriverEvent],
    card: object,
    code: str,
) -> None:
    vpcd_card.insert(card)  # type: ignore[arg-type]
    event = next_event(events)
    assert isinstance(event, CardError)
    assert event.code == code


def test_pcscd_killed_and_restarted_while_the_reader_runs(
    reader: PcscCardReader,
    pcscd_vpcd: Pcscd,
    vpcd_card: CardSlot,
    events: queue.Queue[DriverEvent],
) -> None:
    vpcd_card.insert(cards.card())
    inserted(events)
    pcscd_vpcd.stop()
    assert isinstance(next_event(events), CardRemoved)
    assert fault_code(next_event(events)) == "no_service"
    pcscd_vpcd.start()
    assert fault_code(next_event(events, 10)) == "ok"
    # the card stayed in the reader: it reconnects to the new vpcd and is read again
    assert inserted(events).identity.national_number.digits == "85073003328"
    assert pcscd_vpcd.running


def test_a_reader_that_is_not_there_is_a_fault_and_close_returns_quickly(
    vpcd_card: CardSlot, events: queue.Queue[DriverEvent]
) -> None:
    started = time.monotonic()
    reader = PcscCardReader(events, "No Such Reader").start()
    assert time.monotonic() - started < 0.2  # start never blocks
    assert isinstance(next_event(events), ReaderFault)
    reader.close()
    reader.close()
    assert time.monotonic() - started < 2


def test_emulator_command_line_plays_a_card_from_a_file(
    reader: PcscCardReader,
    vpcd_card: CardSlot,
    events: queue.Queue[DriverEvent],
    tmp_path: Path,
) -> None:
    card_file = tmp_path / "card.toml"
    card_file.write_text(
        '[identity]\nsurname = "Dubois"\nnational_number = "92022812412"\n'
        'birth_date = "22.DEZ. 1997"\ndocument_type = "31"\n[quirks]\nget_response = true\n'
    )
    command = [sys.executable, "-m", "sim.belpic", "--vpcd", f"127.0.0.1:{VPCD_PORT}"]
    emulator = subprocess.Popen([*command, "--card", str(card_file)], stderr=subprocess.PIPE)
    try:
        event = inserted(events)
        assert (event.identity.surname, event.identity.document_type) == ("Dubois", 31)
    finally:
        emulator.terminate()
        emulator.wait(5)
    assert isinstance(next_event(events), CardRemoved)
