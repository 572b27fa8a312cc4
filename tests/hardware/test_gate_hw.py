"""On a real Raspberry Pi with the gate wired (docs/gate.md): each output once.

Runs only with ``SITEGATE_HW=1``; ``SITEGATE_HW_CONFIG`` may name a terminal.toml whose
``[gate]`` section gives the wiring (default: the default wiring). Watch and listen: green
and amber with a beep, red with a buzz, then the relay clicks open and shut.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from gpiozero import Device

from terminal.drivers.events import DriverEvent
from terminal.drivers.gate import PATTERNS, Gate, GateConfig, Sound, Step
from terminal.drivers.gate.indicators import rgb_color

pytestmark = [
    pytest.mark.hardware,
    pytest.mark.skipif(
        os.environ.get("SITEGATE_HW") != "1",
        reason="needs a Raspberry Pi wired as in docs/gate.md (set SITEGATE_HW=1)",
    ),
]

SETTLE_S = 0.05  # let a timeline step land on the pins before reading them back
TEST_PULSE_S = 0.5


def hw_config() -> GateConfig:
    path = os.environ.get("SITEGATE_HW_CONFIG")
    table: dict[str, Any] = {}
    if path:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("gate", {})
    config = GateConfig.from_table(table, where=f"{path or 'defaults'} [gate]")
    return dataclasses.replace(config, pulse_s=TEST_PULSE_S)


def pin_level(gate: Gate, pin: int) -> float:
    factory = gate.pin_factory or Device.pin_factory
    return float(factory.pin(pin).state)


def expected_levels(config: GateConfig, step: Step) -> dict[int, bool]:
    if config.indicator == "rgb":
        red, green, blue = rgb_color(step)
        lights = {config.red_pin: red > 0, config.green_pin: green > 0, config.amber_pin: blue > 0}
    else:
        lights = {
            config.green_pin: step.green,
            config.red_pin: step.red,
            config.amber_pin: step.amber,
        }
    return {**lights, config.buzzer_pin: step.buzzer is not Sound.OFF}


def test_each_output_once() -> None:
    config = hw_config()
    events: queue.Queue[DriverEvent] = queue.Queue()
    with Gate(config, events) as gate:
        # admitted_offline starts with green, amber and the high beep; refused with red and
        # the low buzz: between them every light and the buzzer go on and off once.
        for name in ("admitted_offline", "refused"):
            gate.show(name)
            time.sleep(SETTLE_S)
            for pin, on in expected_levels(config, PATTERNS[name].steps[0]).items():
                assert (pin_level(gate, pin) > 0) == on, f"{name}: GPIO{pin} should be {on}"

        gate.admit()
        time.sleep(SETTLE_S)
        assert gate.relay_released
        time.sleep(TEST_PULSE_S + 0.2)
        assert not gate.relay_released
