"""Each pattern's timeline on the pins, step by step on the manual clock."""

from __future__ import annotations

import dataclasses
import queue
import time
from collections.abc import Callable

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from terminal.drivers.events import DriverEvent
from terminal.drivers.gate import (
    PATTERNS,
    Gate,
    GateError,
    ManualScheduler,
    Sound,
    Step,
    make_pin_factory,
)
from terminal.drivers.gate.indicators import RGB_AMBER, RGB_DARK, RGB_GREEN, RGB_RED, rgb_color
from tests.terminal.drivers.gate.conftest import TEST_CONFIG
from tests.terminal.drivers.gate.support import level

GREEN, RED, AMBER, BUZZER = (
    TEST_CONFIG.green_pin,
    TEST_CONFIG.red_pin,
    TEST_CONFIG.amber_pin,
    TEST_CONFIG.buzzer_pin,
)


def outputs(factory: MockFactory) -> tuple[bool, bool, bool, bool]:
    return tuple(level(factory, pin) == 1.0 for pin in (GREEN, RED, AMBER, BUZZER))  # type: ignore[return-value]


def expected(step: Step) -> tuple[bool, bool, bool, bool]:
    return (step.green, step.red, step.amber, step.buzzer is not Sound.OFF)


def test_idle_plays_from_the_start(gate: Gate, mock_factory: MockFactory) -> None:
    assert gate.pattern == "idle"
    assert outputs(mock_factory) == expected(PATTERNS["idle"].steps[0])


@pytest.mark.parametrize("name", list(PATTERNS))
def test_each_pattern_follows_its_timeline(
    name: str, gate: Gate, mock_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    pattern = PATTERNS[name]
    gate.show(name)
    for step in pattern.steps:
        assert outputs(mock_factory) == expected(step)
        scheduler.advance(step.duration * 0.9)
        assert outputs(mock_factory) == expected(step), "changed before the step's end"
        scheduler.advance(step.duration * 0.1)
    if pattern.permanent:
        assert gate.pattern == name
        assert outputs(mock_factory) == expected(pattern.steps[0]), "a permanent pattern loops"
    else:
        assert gate.pattern == "idle"
        assert outputs(mock_factory) == expected(PATTERNS["idle"].steps[0])


def test_a_new_pattern_interrupts_the_current_one(
    gate: Gate, mock_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    gate.show("admitted")
    scheduler.advance(1.0)
    gate.show("refused")
    assert outputs(mock_factory) == (False, True, False, True)
    scheduler.advance(PATTERNS["refused"].duration - 0.01)
    assert gate.pattern == "refused", "the interrupted pattern's timers must not fire"
    assert outputs(mock_factory) == (False, True, False, False)
    scheduler.advance(0.01)
    assert gate.pattern == "idle"


def test_temporary_patterns_fall_back_to_the_last_permanent_one(
    gate: Gate, mock_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    gate.show("fault")
    gate.show("refused_read_error")
    scheduler.advance(PATTERNS["refused_read_error"].duration)
    assert gate.pattern == "fault"
    assert outputs(mock_factory) == (False, False, True, False)
    gate.show("idle")
    gate.show("admitted")
    scheduler.advance(PATTERNS["admitted"].duration)
    assert gate.pattern == "idle"


def test_an_unknown_pattern_is_an_error(gate: Gate) -> None:
    with pytest.raises(GateError) as info:
        gate.show("welcome")
    assert info.value.code == "unknown_pattern"
    assert gate.pattern == "idle"


def test_close_turns_everything_off(
    gate: Gate, mock_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    gate.show("tampered")
    gate.close()
    assert outputs(mock_factory) == (False, False, False, False)
    scheduler.advance(10.0)
    assert outputs(mock_factory) == (False, False, False, False)
    gate.show("admitted")  # after close: ignored, no error
    assert gate.pattern is None


def rgb(factory: MockFactory) -> tuple[float, float, float]:
    return (level(factory, RED), level(factory, GREEN), level(factory, AMBER))


def test_rgb_led_shows_the_mixed_colour_of_each_step(
    make_gate: Callable[..., Gate], pwm_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    pattern = PATTERNS["admitted_offline"]
    gate = make_gate(pwm_factory, indicator="rgb")
    gate.show(pattern.name)
    assert rgb(pwm_factory) == (1.0, 1.0, 0.0)  # green with amber
    scheduler.advance(pattern.steps[0].duration)
    assert rgb(pwm_factory) == RGB_GREEN
    scheduler.advance(pattern.duration - pattern.steps[0].duration)
    assert rgb(pwm_factory) == RGB_GREEN  # idle starts with its green flash
    gate.show("fault")
    assert rgb(pwm_factory) == RGB_AMBER


def test_rgb_colours() -> None:
    assert rgb_color(Step(1.0)) == RGB_DARK
    assert rgb_color(Step(1.0, red=True)) == RGB_RED
    assert rgb_color(Step(1.0, amber=True)) == RGB_AMBER
    assert rgb_color(Step(1.0, red=True, amber=True)) == (1.0, 0.5, 0.0)


def test_tonal_buzzer_plays_a_high_beep_and_a_low_buzz(
    make_gate: Callable[..., Gate], pwm_factory: MockFactory, scheduler: ManualScheduler
) -> None:
    gate = make_gate(pwm_factory, buzzer_kind="tonal")
    buzzer = pwm_factory.pin(BUZZER)
    assert buzzer.frequency is None
    gate.show("admitted")
    assert buzzer.frequency == pytest.approx(1760.0)
    assert buzzer.state == 0.5
    scheduler.advance(PATTERNS["admitted"].steps[0].duration)
    assert buzzer.frequency is None
    gate.show("refused")
    assert buzzer.frequency == pytest.approx(440.0)


def test_a_tonal_buzzer_without_pwm_is_a_clear_error(
    make_gate: Callable[..., Gate], mock_factory: MockFactory
) -> None:
    with pytest.raises(GateError) as info:
        make_gate(buzzer_kind="tonal")
    assert info.value.code == "gpio_unavailable"
    assert mock_factory.pin(TEST_CONFIG.relay_pin).state == 0, "relay left locked"
    make_gate()  # every pin of the failed gate was released


def test_a_mock_gate_from_config_plays_on_real_time_within_tolerance() -> None:
    """The production path: pin factory named by config, timer thread, system clock."""
    events: queue.Queue[DriverEvent] = queue.Queue()
    config = dataclasses.replace(TEST_CONFIG, pin_factory="mock")
    with Gate(config, events) as gate:
        factory = gate.pin_factory
        assert isinstance(factory, MockFactory)
        buzzer = factory.pin(BUZZER)
        buzzer.clear_states()
        gate.show("admitted")
        beep_s = PATTERNS["admitted"].steps[0].duration
        deadline = time.monotonic() + beep_s + 2.0
        while len(buzzer.states) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [bool(s.state) for s in buzzer.states] == [False, True, False]
        # never shorter than the table says; later only by the machine's load
        assert beep_s - 0.005 <= buzzer.states[2].timestamp <= beep_s + 0.5
        assert factory.pin(GREEN).state == 1.0


def test_pin_factory_names() -> None:
    assert make_pin_factory("") is None
    mock = make_pin_factory("mock")
    assert isinstance(mock, MockFactory) and mock.pin_class is MockPWMPin
    with pytest.raises(GateError) as info:
        make_pin_factory("bogus")
    assert info.value.code == "gpio_unavailable"
