"""The refusal log: refusals the outbox does not carry are kept, summarised rather than
dropped, and their counts sent until acknowledged (real SQLite, a manual clock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from presence.clock import ManualClock
from terminal import refusal_log
from terminal.outbox import Outbox
from terminal.refusal_log import SUMMARISE_AFTER_S, Refusal, key


def refusal(clock: ManualClock, reason: str = "unknown_person") -> Refusal:
    return Refusal(clock.now(), True, clock.boot_id(), clock.monotonic(), reason, "in",
                   "eid", "85.07.30-***.**")  # fmt: skip


def totals(counts: list[refusal_log.RefusalCount]) -> list[tuple[int, int, str, int]]:
    return sorted((c.minute, c.span, c.reason, c.count) for c in counts)


def test_old_refusals_become_counts_per_reason_and_minute(tmp_path: Path) -> None:
    clock = ManualClock()  # monotonic 1000 s: minute 16
    with Outbox(tmp_path / "o.db", clock=clock) as outbox:
        for reason in ("unknown_person", "unknown_person", "blocked"):
            outbox.log_refusal(refusal(clock, reason))
        clock.advance(61)
        outbox.log_refusal(refusal(clock))
        assert outbox.refusal_counts_to_send() == []  # not old yet: kept as they are
        assert outbox.refusals_logged == 4
        clock.advance(SUMMARISE_AFTER_S + 60)
        counts = outbox.refusal_counts_to_send()
        assert totals(counts) == [(16, 1, "blocked", 1), (16, 1, "unknown_person", 2),
                                  (17, 1, "unknown_person", 1)]  # fmt: skip
        assert outbox.refusals_logged == 0
        assert all(c.at == counts[0].at or c.minute == 17 for c in counts)


def test_counts_are_sent_again_until_acknowledged_then_leave(tmp_path: Path) -> None:
    clock = ManualClock()
    with Outbox(tmp_path / "o.db", clock=clock) as outbox:
        outbox.log_refusal(refusal(clock))
        clock.advance(SUMMARISE_AFTER_S + 120)
        first = outbox.refusal_counts_to_send()
        keys = {key(c) for c in first}
        assert outbox.refusal_counts_to_send(skip=keys) == []  # on their way
        assert outbox.refusal_counts_to_send() == first  # not acknowledged: again
        outbox.ack_refusal_counts(list(keys))
        assert outbox.refusal_counts_to_send() == []


def test_a_full_log_summarises_early_instead_of_dropping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(refusal_log, "CAPACITY", 5)
    clock = ManualClock()
    with Outbox(tmp_path / "o.db", clock=clock) as outbox:
        for _ in range(12):  # all in one minute
            outbox.log_refusal(refusal(clock))
        assert outbox.refusals_logged <= 5
        # The count of a minute still under way is not sent: rows of it may follow.
        assert outbox.refusal_counts_to_send() == []
        clock.advance(SUMMARISE_AFTER_S + 60)
        assert totals(outbox.refusal_counts_to_send()) == [(16, 1, "unknown_person", 12)]


def test_refusals_of_an_earlier_boot_are_counted_and_sent_at_once(tmp_path: Path) -> None:
    clock = ManualClock()
    with Outbox(tmp_path / "o.db", clock=clock) as outbox:
        before = clock.boot_id()
        outbox.log_refusal(refusal(clock, "read_error"))
        clock.reboot(clock.now(), uptime_s=15)
        [count] = outbox.refusal_counts_to_send()
    assert (count.boot_id, count.reason, count.count) == (before, "read_error", 1)


def test_counts_never_sent_are_merged_per_hour_beyond_capacity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(refusal_log, "COUNTS_CAPACITY", 3)
    clock = ManualClock()  # minute 16
    with Outbox(tmp_path / "o.db", clock=clock) as outbox:
        for _ in range(5):  # minutes 16 to 20 of hour 0
            outbox.log_refusal(refusal(clock))
            clock.advance(60)
        clock.advance(3600)  # hour 0 is whole
        counts = outbox.refusal_counts_to_send()
    assert totals(counts) == [(0, 60, "unknown_person", 5)]


def test_counts_already_sent_are_never_merged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sent count may be at the controller: merged into an hour it would count twice."""
    monkeypatch.setattr(refusal_log, "COUNTS_CAPACITY", 3)
    clock = ManualClock()
    with Outbox(tmp_path / "o.db", clock=clock) as outbox:
        for _ in range(2):
            outbox.log_refusal(refusal(clock))
            clock.advance(60)
        clock.advance(SUMMARISE_AFTER_S)
        sent = outbox.refusal_counts_to_send()
        for _ in range(3):
            outbox.log_refusal(refusal(clock))
            clock.advance(60)
        clock.advance(3600)
        counts = outbox.refusal_counts_to_send(skip={key(c) for c in sent})
    assert totals(sent) == [(16, 1, "unknown_person", 1), (17, 1, "unknown_person", 1)]
    assert totals(counts) == [(0, 60, "unknown_person", 3)]
