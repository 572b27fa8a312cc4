"""The ``[gate]`` section of ``terminal.toml`` as a frozen, validated dataclass.

Pins are BCM numbers. ``0`` means "not fitted" for the optional inputs (passage sensor,
tamper switch, exit button); every output must be wired.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from terminal.drivers.gate.errors import GateConfigError

PIN_FACTORIES = ("", "mock", "lgpio", "rpigpio", "pigpio", "native")
INDICATORS = ("leds", "rgb")
BUZZER_KINDS = ("active", "tonal")
# BCM GPIO numbers on the 40-pin header; 0 and 1 are the HAT ID EEPROM bus.
FIRST_BCM_PIN = 2
LAST_BCM_PIN = 27
# Upper bounds that keep a typo from holding the gate open or a window open for ever.
MAX_PULSE_S = 30.0
MAX_PASSAGE_WINDOW_S = 120.0

OUTPUT_PINS = ("relay_pin", "green_pin", "red_pin", "amber_pin", "buzzer_pin")
OPTIONAL_INPUT_PINS = ("passage_pin", "tamper_pin", "exit_button_pin")


@dataclass(frozen=True, slots=True)
class GateConfig:
    pin_factory: str = ""
    relay_pin: int = 17
    relay_active_high: bool = True
    pulse_s: float = 3.0
    fail_open: bool = False
    indicator: str = "leds"
    green_pin: int = 22
    red_pin: int = 27
    amber_pin: int = 23
    buzzer_pin: int = 24
    buzzer_kind: str = "active"
    passage_pin: int = 5
    passage_window_s: float = 8.0
    tamper_pin: int = 6
    exit_button_pin: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _typed(f.name, f.type, getattr(self, f.name)))
        _check_choice("pin_factory", self.pin_factory, PIN_FACTORIES)
        _check_choice("indicator", self.indicator, INDICATORS)
        _check_choice("buzzer_kind", self.buzzer_kind, BUZZER_KINDS)
        _check_seconds("pulse_s", self.pulse_s, MAX_PULSE_S)
        _check_seconds("passage_window_s", self.passage_window_s, MAX_PASSAGE_WINDOW_S)
        for key in OUTPUT_PINS:
            _check_pin(key, getattr(self, key), optional=False)
        for key in OPTIONAL_INPUT_PINS:
            _check_pin(key, getattr(self, key), optional=True)
        self._check_distinct_pins()

    @classmethod
    def from_table(cls, table: Mapping[str, Any], *, where: str = "[gate]") -> GateConfig:
        """Build from a parsed TOML table; missing keys take the defaults above."""
        known = {f.name for f in fields(cls)}
        for key in table:
            if key not in known:
                raise GateConfigError("unknown_key", key, "unknown setting", where)
        try:
            return cls(**dict(table))
        except GateConfigError as exc:
            raise exc.located(where) from None

    def wired_pins(self) -> dict[str, int]:
        """Every pin in use, by setting name."""
        keys = OUTPUT_PINS + OPTIONAL_INPUT_PINS
        return {key: getattr(self, key) for key in keys if getattr(self, key) != 0}

    def _check_distinct_pins(self) -> None:
        seen: dict[int, str] = {}
        for key, pin in self.wired_pins().items():
            if pin in seen:
                raise GateConfigError(
                    "pin_conflict", key, f"GPIO{pin} is already used by {seen[pin]}"
                )
            seen[pin] = key


_TYPES: dict[str, type] = {"str": str, "int": int, "bool": bool, "float": float}


def _typed(key: str, type_name: object, value: object) -> object:
    expected = _TYPES[str(type_name)]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and expected is not bool:
        raise GateConfigError("bad_type", key, f"expected {expected.__name__}, got a boolean")
    if not isinstance(value, expected):
        raise GateConfigError(
            "bad_type", key, f"expected {expected.__name__}, got {type(value).__name__}"
        )
    return value


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise GateConfigError("bad_value", key, f"{value!r} is not one of {listed}")


def _check_seconds(key: str, value: float, maximum: float) -> None:
    if not math.isfinite(value) or not 0 < value <= maximum:
        raise GateConfigError("bad_value", key, f"{value} s is outside (0, {maximum}] s")


def _check_pin(key: str, pin: int, *, optional: bool) -> None:
    if optional and pin == 0:
        return
    if not FIRST_BCM_PIN <= pin <= LAST_BCM_PIN:
        allowed = f"{FIRST_BCM_PIN}-{LAST_BCM_PIN}" + (", or 0 for none" if optional else "")
        raise GateConfigError("bad_pin", key, f"{pin} is not a BCM GPIO number ({allowed})")
