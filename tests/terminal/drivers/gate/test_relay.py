"""The gate relay: pulse length, active-low wiring, and the safe state on every failure path."""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Callable

import pytest
from gpiozero.pins.mock import MockFactory

from presence.clock import ManualClock, SystemClock
from terminal.drivers.events import DriverEvent
from terminal.drivers.gate import (
    Gate,
    GateError,
    ManualScheduler,
    ThreadScheduler,
    install_sigterm_hook,
)
from tests.conftest import ErrorLogGuard
from tests.terminal.drivers.gate.conftest import TEST_CONFIG
from tests.terminal.drivers.gate.support import level, press

LATE_TOLERANCE_S = 0.5  # real-time tests: a loaded 2-core CI machine may be late, never early
RELAY = TEST_CONFIG.relay_pin
PULSE_S = TEST_CONFIG.pulse_s


def test_the_relay_is_locked_from_the_start(gate: Gate, mock_factory: MockFactory) -> None:
    assert level(mock_factory, RELAY) == 0.0
    assert [s.state for s in mock_factory.pin(RELAY).states] == [False]
    assert not gate.relay_released


def test_admit_releases_for_exactly_the_configured_pulse(
    gate: Gate, mock_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    gate.admit()
    assert level(mock_factory, RELAY) == 1.0
    assert gate.relay_released
    scheduler.advance(PULSE_S - 0.001)
    assert level(mock_factory, RELAY) == 1.0
    scheduler.advance(0.001)
    assert level(mock_factory, RELAY) == 0.0
    assert not gate.relay_released


def test_the_pulse_length_comes_from_the_config(
    make_gate: Callable[..., Gate], mock_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    make_gate(pulse_s=0.5).admit()
    scheduler.advance(0.49)
    assert level(mock_factory, RELAY) == 1.0
    scheduler.advance(0.01)
    assert level(mock_factory, RELAY) == 0.0


def test_a_second_admission_restarts_the_pulse(
    gate: Gate, mock_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    gate.admit()
    scheduler.advance(2.0)
    gate.admit()
    scheduler.advance(PULSE_S - 0.01)
    assert level(mock_factory, RELAY) == 1.0, "the first pulse's end must not cut the second"
    scheduler.advance(0.01)
    assert level(mock_factory, RELAY) == 0.0


def test_active_low_wiring_inverts_the_pin(
    make_gate: Callable[..., Gate], mock_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    gate = make_gate(relay_active_high=False)
    assert level(mock_factory, RELAY) == 1.0, "locked = inactive = high"
    gate.admit()
    assert level(mock_factory, RELAY) == 0.0
    assert gate.relay_released
    scheduler.advance(PULSE_S)
    assert level(mock_factory, RELAY) == 1.0
    gate.close()
    assert level(mock_factory, RELAY) == 1.0


def test_lock_ends_a_pulse_at_once(
    gate: Gate, mock_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    gate.admit()
    gate.lock()
    assert level(mock_factory, RELAY) == 0.0
    gate.admit()
    scheduler.advance(PULSE_S)
    assert level(mock_factory, RELAY) == 0.0


def test_close_during_a_pulse_locks_and_is_idempotent(
    gate: Gate, mock_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    gate.admit()
    gate.close()
    gate.close()
    assert level(mock_factory, RELAY) == 0.0
    assert mock_factory.pin(RELAY).function == "input", "the pin is released"
    scheduler.advance(PULSE_S)
    assert level(mock_factory, RELAY) == 0.0
    with pytest.raises(GateError) as info:
        gate.admit()
    assert info.value.code == "closed"


def test_an_exception_in_the_with_block_leaves_the_gate_locked(
    mock_factory: MockFactory,
    events: queue.Queue[DriverEvent],
    clock: ManualClock,
    scheduler: ManualScheduler,
) -> None:
    with (
        pytest.raises(RuntimeError),
        Gate(
            TEST_CONFIG, events, pin_factory=mock_factory, clock=clock, scheduler=scheduler
        ) as gate,
    ):
        gate.admit()
        raise RuntimeError("the flow failed")
    assert level(mock_factory, RELAY) == 0.0


def test_fail_open_sites_release_on_close_but_start_locked(
    make_gate: Callable[..., Gate], mock_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    gate = make_gate(fail_open=True)
    assert level(mock_factory, RELAY) == 0.0, "starting is normal operation: locked"
    gate.admit()
    scheduler.advance(PULSE_S)
    assert level(mock_factory, RELAY) == 0.0
    gate.lock()
    assert level(mock_factory, RELAY) == 0.0, "lock() locks, whatever fail_open says"
    gate.close()
    assert level(mock_factory, RELAY) == 1.0, "fail-open: released when the software stops"


def test_fail_safe_ends_the_pulse_and_stays(
    gate: Gate, mock_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    gate.admit()
    gate.fail_safe()
    assert level(mock_factory, RELAY) == 0.0
    scheduler.advance(PULSE_S)
    assert level(mock_factory, RELAY) == 0.0


class BrokenQueue(queue.Queue[DriverEvent]):
    """The flow's queue failing: the gate's sensor callback raises inside gpiozero."""

    def put(self, item: DriverEvent, block: bool = True, timeout: float | None = None) -> None:
        raise RuntimeError("queue broken")


def test_a_failing_sensor_callback_applies_the_safe_state(
    mock_factory: MockFactory,
    clock: ManualClock,
    scheduler: ManualScheduler,
    logged_errors: ErrorLogGuard,
) -> None:
    logged_errors.expect("gate callback failed")
    with Gate(
        TEST_CONFIG, BrokenQueue(), pin_factory=mock_factory, clock=clock, scheduler=scheduler
    ) as gate:
        gate.admit()
        press(mock_factory, TEST_CONFIG.passage_pin)
        assert level(mock_factory, RELAY) == 0.0
    assert len(logged_errors.records) == 1


def test_sigterm_hook_applies_the_safe_state_then_exits(
    gate: Gate, mock_factory: MockFactory
) -> None:
    previous = install_sigterm_hook(gate.fail_safe)
    try:
        gate.admit()
        with pytest.raises(SystemExit) as info:
            signal.raise_signal(signal.SIGTERM)
        assert info.value.code == 128 + signal.SIGTERM
        assert level(mock_factory, RELAY) == 0.0
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sigterm_hook_chains_to_the_programs_own_handler(
    gate: Gate, mock_factory: MockFactory
) -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: seen.append(signum))
    try:
        install_sigterm_hook(gate.fail_safe)
        gate.admit()
        signal.raise_signal(signal.SIGTERM)
        assert level(mock_factory, RELAY) == 0.0
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_gpio_errors_become_gate_errors_and_nothing_stays_reserved(
    gate: Gate,
    mock_factory: MockFactory,
    events: queue.Queue[DriverEvent],
    clock: ManualClock,
    scheduler: ManualScheduler,
) -> None:
    with pytest.raises(GateError) as info:
        Gate(TEST_CONFIG, events, pin_factory=mock_factory, clock=clock, scheduler=scheduler)
    assert info.value.code == "pin_in_use"
    gate.close()
    with Gate(TEST_CONFIG, events, pin_factory=mock_factory, clock=clock, scheduler=scheduler):
        pass


def test_the_pulse_ends_by_itself_when_the_caller_dies(mock_factory: MockFactory) -> None:
    """Real clock and timer thread; the admitting thread dies right after admit()."""
    events: queue.Queue[DriverEvent] = queue.Queue()
    config = TEST_CONFIG.__class__(tamper_pin=0, pulse_s=0.1)
    gate = Gate(config, events, pin_factory=mock_factory, clock=SystemClock())
    pin = mock_factory.pin(RELAY)
    try:
        pin.clear_states()

        def caller() -> None:
            gate.admit()  # and the thread ends at once

        thread = threading.Thread(target=caller)
        thread.start()
        thread.join()
        deadline = time.monotonic() + 2.0
        while pin.state and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [s.state for s in pin.states] == [False, True, False]
        # never shorter than asked; later only by the machine's load
        assert 0.1 - 0.005 <= pin.states[2].timestamp <= 0.1 + LATE_TOLERANCE_S
    finally:
        gate.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_no_release_without_a_live_timer_to_end_it(mock_factory: MockFactory) -> None:
    """If the timer thread has died, admit() refuses and leaves the relay locked."""
    scheduler = ThreadScheduler(SystemClock())
    events: queue.Queue[DriverEvent] = queue.Queue()
    gate = Gate(TEST_CONFIG, events, pin_factory=mock_factory, scheduler=scheduler)
    try:

        def kill_the_thread() -> None:
            raise SystemExit

        scheduler.call_later(0.0, kill_the_thread)
        deadline = time.monotonic() + 2.0
        while scheduler.alive and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(GateError) as info:
            gate.admit()
        assert info.value.code == "relay_failed"
        assert level(mock_factory, RELAY) == 0.0
    finally:
        gate.close()
        scheduler.close()
