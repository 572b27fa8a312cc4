"""The outbox: committed before the gate moves, removed on the controller's ack, bounded."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from presence.clock import ManualClock
from presence.events import decode
from presence.messages import MAX_CLOCK_PINS, ClockPin
from terminal.outbox import Outbox, OutboxError, OutboxFull
from tests.conftest import ErrorLogGuard
from tests.terminal.people import checkin


def test_events_get_increasing_seq_and_come_back_in_order(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        stored = [outbox.append(lambda seq: checkin(seq)) for _ in range(3)]
        pending = outbox.pending()
    assert [e.seq for e in stored if e] == [1, 2, 3]
    assert [p.seq for p in pending] == [1, 2, 3]
    assert [decode(p.payload).event_id for p in pending] == [e.event_id for e in stored if e]


def test_the_outbox_and_its_seq_survive_a_reopen(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        first = outbox.append(lambda seq: checkin(seq))
        outbox.append(lambda seq: checkin(seq))
        assert first is not None and outbox.ack(first.event_id)
    with Outbox(tmp_path / "o.db") as outbox:
        assert outbox.depth == 1
        third = outbox.append(lambda seq: checkin(seq))
        assert third is not None and third.seq == 3


def test_the_database_is_wal_with_synchronous_full(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        assert outbox._db is not None
        assert outbox._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    with sqlite3.connect(tmp_path / "o.db") as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_an_event_leaves_only_on_its_ack(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        a = outbox.append(lambda seq: checkin(seq))
        b = outbox.append(lambda seq: checkin(seq))
        assert a is not None and b is not None
        assert outbox.ack(b.event_id) is True
        assert outbox.ack(b.event_id) is False  # a second ack changes nothing
        assert [p.event_id for p in outbox.pending()] == [a.event_id]
        assert [p.seq for p in outbox.pending(after_seq=1)] == []


def test_the_alarm_rises_at_80_percent(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", capacity=10) as outbox:
        for _ in range(7):
            outbox.append(lambda seq: checkin(seq))
        assert not outbox.alarm
        outbox.append(lambda seq: checkin(seq))
        assert outbox.alarm and outbox.depth == 8


def test_above_the_alarm_a_refused_event_goes_to_the_refusal_log_and_is_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Outbox(tmp_path / "o.db", capacity=10) as outbox:
        for _ in range(8):
            outbox.append(lambda seq: checkin(seq))
        assert outbox.append(lambda seq: checkin(seq, "refused", "unknown_person")) is None
        assert outbox.refused_shed == 1 and outbox.depth == 8
        assert outbox.refusals_logged == 1
        assert "refusal log" in caplog.text
        admitted = outbox.append(lambda seq: checkin(seq))
        assert admitted is not None and admitted.seq == 9
    with Outbox(tmp_path / "o.db", capacity=10) as outbox:
        assert outbox.refused_shed == 1 and outbox.refusals_logged == 1


def test_a_full_outbox_refuses_an_admission_and_writes_nothing(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", capacity=3) as outbox:
        for _ in range(3):
            outbox.append(lambda seq: checkin(seq))
        with pytest.raises(OutboxFull) as caught:
            outbox.append(lambda seq: checkin(seq))
        assert caught.value.code == "outbox_full"
        assert outbox.full and outbox.depth == 3
        assert [p.seq for p in outbox.pending()] == [1, 2, 3]


def test_oldest_unacked_age_follows_the_clock(tmp_path: Path) -> None:
    clock = ManualClock()
    with Outbox(tmp_path / "o.db", clock=clock) as outbox:
        assert outbox.oldest_age_s() is None
        outbox.append(lambda seq: checkin(seq))  # scanned at the ManualClock's start
        clock.advance(42)
        assert outbox.oldest_age_s() == pytest.approx(42)


def test_the_last_site_config_is_kept(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        assert outbox.load_site_config() is None
        outbox.save_site_config(b'{"v":1}')
    with Outbox(tmp_path / "o.db") as outbox:
        assert outbox.load_site_config() == b'{"v":1}'


def test_a_closed_outbox_says_so(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    outbox.close()
    outbox.close()
    with pytest.raises(OutboxError) as caught:
        outbox.append(lambda seq: checkin(seq))
    assert caught.value.code == "closed"


def test_an_unusable_path_is_a_storage_error(tmp_path: Path, logged_errors: ErrorLogGuard) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OutboxError) as caught:
        Outbox(tmp_path / "file" / "o.db")
    assert caught.value.code == "storage"


def test_clock_pins_survive_a_reboot_newest_first_and_bounded(tmp_path: Path) -> None:
    at = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    boots = [f"0b0a0a0a-0000-4000-8000-0000000000{n:02d}" for n in range(MAX_CLOCK_PINS + 2)]
    with Outbox(tmp_path / "o.db") as outbox:
        for n, boot in enumerate(boots):
            outbox.save_clock_pin(ClockPin(boot, 10.0 + n, at + timedelta(minutes=n)))
    with Outbox(tmp_path / "o.db") as outbox:
        pins = outbox.clock_pins()
    assert [p.boot_id for p in pins] == boots[::-1][:MAX_CLOCK_PINS]
    assert pins[0] == ClockPin(boots[-1], 10.0 + len(boots) - 1, at + timedelta(minutes=9))


def test_a_new_pin_of_a_boot_replaces_its_old_one(tmp_path: Path) -> None:
    boot = "0b0a0a0a-0000-4000-8000-00000000000a"
    at = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    with Outbox(tmp_path / "o.db") as outbox:
        outbox.save_clock_pin(ClockPin(boot, 10.0, at))
        outbox.save_clock_pin(ClockPin(boot, 70.0, at + timedelta(minutes=1)))
        assert outbox.clock_pins() == [ClockPin(boot, 70.0, at + timedelta(minutes=1))]
