"""The gpiozero pin factory named by ``[gate] pin_factory``."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from gpiozero import GPIOZeroError
from gpiozero.pins.mock import MockFactory, MockPWMPin

from terminal.drivers.gate.errors import GateError


def make_pin_factory(name: str) -> Any:
    """``""``: None, so gpiozero picks its default (``GPIOZERO_PIN_FACTORY``, then lgpio...).
    ``"mock"``: a ``MockFactory`` whose pins all support PWM (tonal buzzer, RGB LED) — for
    demos and tests. Any other name is a gpiozero pin factory entry point (``lgpio``...).
    """
    if name == "":
        return None
    if name == "mock":
        return MockFactory(pin_class=MockPWMPin)
    found = list(entry_points(group="gpiozero_pin_factories", name=name))
    if not found:
        raise GateError("gpio_unavailable", f"no gpiozero pin factory named {name!r}")
    try:
        return found[0].load()()
    except (GPIOZeroError, ImportError, OSError, RuntimeError) as exc:
        raise GateError("gpio_unavailable", f"pin factory {name!r} unusable: {exc}") from exc
