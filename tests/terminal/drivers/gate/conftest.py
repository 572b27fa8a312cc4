"""Gate tests run on gpiozero's MockFactory with a manual clock: no real GPIO, no sleeps."""

from __future__ import annotations

import dataclasses
import queue
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin

from presence.clock import ManualClock
from terminal.drivers.events import DriverEvent
from terminal.drivers.gate import Gate, GateConfig, ManualScheduler

# The test wiring: the defaults of terminal.toml, without a tamper switch unless asked
# (a Button with the pull-up reads "open" until the test closes the contact).
TEST_CONFIG = GateConfig(tamper_pin=0)


def _factory_fixture(pin_class: type[MockPin]) -> Iterator[MockFactory]:
    default_before = Device.pin_factory
    factory = MockFactory(pin_class=pin_class)
    yield factory
    factory.reset()
    assert Device.pin_factory is default_before, "a device used gpiozero's default factory"


@pytest.fixture
def mock_factory() -> Iterator[MockFactory]:
    """A fresh MockFactory, reset afterwards. Every device gets it explicitly, so gpiozero's
    global default factory must stay untouched. Its pins keep their last level when released,
    so a test can read the state a closed gate left behind."""
    yield from _factory_fixture(MockPin)


@pytest.fixture
def pwm_factory() -> Iterator[MockFactory]:
    """The same with PWM-capable pins (RGB LED, tonal buzzer)."""
    yield from _factory_fixture(MockPWMPin)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def scheduler(clock: ManualClock) -> ManualScheduler:
    return ManualScheduler(clock)


@pytest.fixture
def events() -> queue.Queue[DriverEvent]:
    return queue.Queue()


@pytest.fixture
def make_gate(
    mock_factory: MockFactory,
    events: queue.Queue[DriverEvent],
    clock: ManualClock,
    scheduler: ManualScheduler,
) -> Iterator[Callable[..., Gate]]:
    """``make_gate(factory=None, **config_overrides)``: a Gate on mock pins (``mock_factory``
    unless another is given), closed after the test."""
    gates: list[Gate] = []

    def make(factory: MockFactory | None = None, **overrides: Any) -> Gate:
        config = dataclasses.replace(TEST_CONFIG, **overrides)
        gate = Gate(
            config, events, pin_factory=factory or mock_factory, clock=clock, scheduler=scheduler
        )
        gates.append(gate)
        return gate

    yield make
    for gate in gates:
        gate.close()


@pytest.fixture
def gate(make_gate: Callable[..., Gate]) -> Gate:
    return make_gate()
