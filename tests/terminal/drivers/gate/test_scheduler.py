from __future__ import annotations

import threading

import pytest

from presence.clock import ManualClock, SystemClock
from terminal.drivers.gate import GateError, ManualScheduler, ThreadScheduler
from tests.conftest import ErrorLogGuard


def test_manual_scheduler_runs_due_callbacks_in_order_at_their_time(
    clock: ManualClock, scheduler: ManualScheduler
) -> None:
    start = clock.monotonic()
    seen: list[tuple[str, float]] = []
    scheduler.call_later(2.0, lambda: seen.append(("b", clock.monotonic() - start)))
    scheduler.call_later(1.0, lambda: seen.append(("a", clock.monotonic() - start)))
    scheduler.call_later(5.0, lambda: seen.append(("c", clock.monotonic() - start)))

    scheduler.advance(2.5)

    assert seen == [("a", 1.0), ("b", 2.0)]
    assert clock.monotonic() - start == pytest.approx(2.5)
    assert scheduler.pending() == 1


def test_manual_scheduler_runs_callbacks_scheduled_by_callbacks(
    clock: ManualClock, scheduler: ManualScheduler
) -> None:
    seen: list[float] = []

    def tick() -> None:
        seen.append(clock.monotonic())
        if len(seen) < 3:
            scheduler.call_later(0.5, tick)

    scheduler.call_later(0.5, tick)
    scheduler.advance(10.0)
    assert [t - seen[0] for t in seen] == pytest.approx([0.0, 0.5, 1.0])


def test_a_cancelled_timer_never_runs(scheduler: ManualScheduler) -> None:
    seen: list[str] = []
    handle = scheduler.call_later(1.0, lambda: seen.append("x"))
    handle.cancel()
    scheduler.advance(5.0)
    assert seen == []
    assert scheduler.pending() == 0


def test_a_closed_scheduler_refuses_new_timers(scheduler: ManualScheduler) -> None:
    scheduler.close()
    with pytest.raises(GateError) as info:
        scheduler.call_later(1.0, lambda: None)
    assert info.value.code == "scheduler_closed"


def test_thread_scheduler_runs_a_callback_on_its_own_thread() -> None:
    scheduler = ThreadScheduler(SystemClock())
    done = threading.Event()
    ran_on: list[str] = []

    def callback() -> None:
        ran_on.append(threading.current_thread().name)
        done.set()

    try:
        scheduler.call_later(0.01, callback)
        assert done.wait(2.0)
        assert ran_on == ["gate-timer"]
    finally:
        scheduler.close()


def test_thread_scheduler_survives_a_failing_callback(logged_errors: ErrorLogGuard) -> None:
    logged_errors.expect("gate timer callback failed")
    scheduler = ThreadScheduler(SystemClock())
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    try:
        scheduler.call_later(0.0, boom)
        scheduler.call_later(0.01, done.set)
        assert done.wait(2.0)
        assert scheduler.errors == 1
        assert scheduler.alive
    finally:
        scheduler.close()
    assert not scheduler.alive
    with pytest.raises(GateError) as info:
        scheduler.call_later(0.0, done.set)
    assert info.value.code == "scheduler_closed"


def test_closing_the_thread_scheduler_drops_pending_timers() -> None:
    scheduler = ThreadScheduler(SystemClock())
    seen: list[str] = []
    scheduler.call_later(0.05, lambda: seen.append("late"))
    scheduler.close()
    threading.Event().wait(0.1)
    assert seen == []
