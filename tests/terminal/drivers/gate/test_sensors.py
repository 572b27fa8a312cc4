"""Passage, tamper and exit inputs: what reaches the flow's queue, and when."""

from __future__ import annotations

import queue
from collections.abc import Callable

from gpiozero.pins.mock import MockFactory

from presence.clock import ManualClock
from terminal.drivers.events import (
    DriverEvent,
    ExitRequested,
    Forced,
    NotPassed,
    Passed,
    Tampered,
)
from terminal.drivers.gate import PATTERNS, Gate, ManualScheduler
from tests.terminal.drivers.gate.conftest import TEST_CONFIG
from tests.terminal.drivers.gate.support import drain, level, press

PASSAGE = TEST_CONFIG.passage_pin
WINDOW_S = TEST_CONFIG.passage_window_s
TAMPER = 6
EXIT = 16


def kinds(events: queue.Queue[DriverEvent]) -> list[type]:
    return [type(e) for e in drain(events)]


def test_a_passage_within_the_window_is_passed(
    gate: Gate,
    mock_factory: MockFactory,
    events: queue.Queue[DriverEvent],
    scheduler: ManualScheduler,
    clock: ManualClock,
) -> None:
    gate.admit()
    scheduler.advance(WINDOW_S - 0.5)
    press(mock_factory, PASSAGE)
    assert drain(events) == [Passed(at=clock.monotonic())]
    scheduler.advance(10.0)
    assert drain(events) == [], "a used window does not expire into NotPassed"


def test_no_passage_before_the_window_ends_is_not_passed(
    gate: Gate,
    events: queue.Queue[DriverEvent],
    scheduler: ManualScheduler,
    clock: ManualClock,
) -> None:
    start = clock.monotonic()
    gate.admit()
    scheduler.advance(WINDOW_S - 0.01)
    assert drain(events) == []
    scheduler.advance(0.01)
    assert drain(events) == [NotPassed(at=start + WINDOW_S)]


def test_a_passage_after_the_window_is_forced(
    gate: Gate,
    mock_factory: MockFactory,
    events: queue.Queue[DriverEvent],
    scheduler: ManualScheduler,
) -> None:
    gate.admit()
    scheduler.advance(WINDOW_S)
    press(mock_factory, PASSAGE)
    assert kinds(events) == [NotPassed, Forced]


def test_a_passage_without_admission_is_forced(
    gate: Gate, mock_factory: MockFactory, events: queue.Queue[DriverEvent], clock: ManualClock
) -> None:
    press(mock_factory, PASSAGE)
    assert drain(events) == [Forced(at=clock.monotonic())]
    assert level(mock_factory, TEST_CONFIG.relay_pin) == 0.0, "the gate reports, it does not act"


def test_tailgating_is_one_passed_then_forced(
    gate: Gate, mock_factory: MockFactory, events: queue.Queue[DriverEvent]
) -> None:
    gate.admit()
    press(mock_factory, PASSAGE)
    press(mock_factory, PASSAGE)
    assert kinds(events) == [Passed, Forced]


def test_each_admission_has_its_own_window_oldest_first(
    gate: Gate,
    mock_factory: MockFactory,
    events: queue.Queue[DriverEvent],
    scheduler: ManualScheduler,
    clock: ManualClock,
) -> None:
    first = clock.monotonic()
    gate.admit()
    scheduler.advance(1.0)
    gate.admit()
    press(mock_factory, PASSAGE)
    assert kinds(events) == [Passed]
    scheduler.advance(WINDOW_S - 1.0)
    assert drain(events) == [], "the passage used the first window; the second still runs"
    scheduler.advance(1.0)
    assert drain(events) == [NotPassed(at=first + 1.0 + WINDOW_S)]


def test_without_a_passage_sensor_admission_opens_no_window(
    make_gate: Callable[..., Gate], events: queue.Queue[DriverEvent], scheduler: ManualScheduler
) -> None:
    make_gate(passage_pin=0).admit()
    scheduler.advance(WINDOW_S * 2)
    assert drain(events) == []


def test_tamper_switch_reports_both_edges_and_shows_its_pattern(
    make_gate: Callable[..., Gate],
    mock_factory: MockFactory,
    events: queue.Queue[DriverEvent],
    clock: ManualClock,
) -> None:
    gate = make_gate(tamper_pin=TAMPER)
    mock_factory.pin(TAMPER).drive_low()  # the enclosure is shut: contact closed
    drain(events)
    assert not gate.tampered and gate.pattern == "idle"

    mock_factory.pin(TAMPER).drive_high()
    assert drain(events) == [Tampered(active=True, at=clock.monotonic())]
    assert gate.tampered and gate.pattern == "tampered"

    mock_factory.pin(TAMPER).drive_low()
    assert drain(events) == [Tampered(active=False, at=clock.monotonic())]
    assert gate.pattern == "idle"


def test_an_open_enclosure_at_start_is_reported(
    make_gate: Callable[..., Gate], events: queue.Queue[DriverEvent]
) -> None:
    gate = make_gate(tamper_pin=TAMPER)  # pull-up, nothing closes the contact
    assert kinds(events) == [Tampered]
    assert gate.pattern == "tampered"


def test_while_tampered_feedback_returns_to_the_alarm_and_the_background_is_kept(
    make_gate: Callable[..., Gate], mock_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    gate = make_gate(tamper_pin=TAMPER)
    assert gate.pattern == "tampered"
    gate.show("refused")
    assert gate.pattern == "refused"
    scheduler.advance(PATTERNS["refused"].duration)
    assert gate.pattern == "tampered"
    gate.show("fault")
    assert gate.pattern == "tampered", "the alarm stays until the enclosure is shut"
    mock_factory.pin(TAMPER).drive_low()
    assert gate.pattern == "fault"


def test_exit_button_asks_for_exit_and_pulses_the_relay(
    make_gate: Callable[..., Gate],
    mock_factory: MockFactory,
    events: queue.Queue[DriverEvent],
    scheduler: ManualScheduler,
) -> None:
    make_gate(exit_button_pin=EXIT)
    press(mock_factory, EXIT)
    assert kinds(events) == [ExitRequested]
    assert level(mock_factory, TEST_CONFIG.relay_pin) == 1.0
    press(mock_factory, PASSAGE)
    assert drain(events) == [], "a passage through a free exit is neither Passed nor Forced"
    scheduler.advance(WINDOW_S)
    assert drain(events) == []
    assert level(mock_factory, TEST_CONFIG.relay_pin) == 0.0


def test_an_unused_free_exit_reports_nothing(
    make_gate: Callable[..., Gate],
    mock_factory: MockFactory,
    events: queue.Queue[DriverEvent],
    scheduler: ManualScheduler,
) -> None:
    make_gate(exit_button_pin=EXIT)
    press(mock_factory, EXIT)
    drain(events)
    scheduler.advance(WINDOW_S)
    assert drain(events) == []
