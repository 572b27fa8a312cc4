"""Helpers of the gate tests: read and drive MockFactory pins, empty the event queue."""

from __future__ import annotations

import queue

from gpiozero.pins.mock import MockFactory

from terminal.drivers.events import DriverEvent


def drain(events: queue.Queue[DriverEvent]) -> list[DriverEvent]:
    out = []
    while not events.empty():
        out.append(events.get_nowait())
    return out


def press(factory: MockFactory, pin: int) -> None:
    """A contact to ground closes and opens again (the inputs use the Pi's pull-up)."""
    factory.pin(pin).drive_low()
    factory.pin(pin).drive_high()


def level(factory: MockFactory, pin: int) -> float:
    return float(factory.pin(pin).state)
