from __future__ import annotations

import dataclasses
import math

import pytest

from terminal.drivers.gate import GateConfig, GateConfigError, GateError

# The [gate] section of terminal.toml exactly as contracts.md shows it.
CONTRACT_SECTION = {
    "pin_factory": "",
    "relay_pin": 17,
    "relay_active_high": True,
    "pulse_s": 3.0,
    "fail_open": False,
    "indicator": "leds",
    "green_pin": 22,
    "red_pin": 27,
    "amber_pin": 23,
    "buzzer_pin": 24,
    "buzzer_kind": "active",
    "passage_pin": 5,
    "passage_window_s": 8.0,
    "tamper_pin": 6,
    "exit_button_pin": 0,
}


def reject(table: dict[str, object]) -> GateConfigError:
    with pytest.raises(GateConfigError) as info:
        GateConfig.from_table(table, where="terminal.toml [gate]")
    return info.value


def test_fields_are_exactly_the_gate_keys_with_the_contract_defaults() -> None:
    assert [f.name for f in dataclasses.fields(GateConfig)] == list(CONTRACT_SECTION)
    assert dataclasses.asdict(GateConfig()) == CONTRACT_SECTION
    assert GateConfig.from_table(CONTRACT_SECTION) == GateConfig()


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        GateConfig().relay_pin = 4  # type: ignore[misc]


def test_unknown_key_is_rejected_naming_file_section_and_key() -> None:
    error = reject({"relay_pinn": 17})
    assert error.code == "unknown_key"
    assert error.key == "relay_pinn"
    assert str(error) == "terminal.toml [gate] relay_pinn: unknown setting"
    assert isinstance(error, GateError)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("relay_pin", "17"),
        ("relay_pin", True),
        ("relay_pin", 17.0),
        ("relay_active_high", 1),
        ("fail_open", "no"),
        ("pulse_s", "3"),
        ("pulse_s", False),
        ("indicator", None),
    ],
)
def test_wrong_types_are_rejected(key: str, value: object) -> None:
    error = reject({key: value})
    assert (error.code, error.key) == ("bad_type", key)
    assert str(error).startswith(f"terminal.toml [gate] {key}: expected ")


def test_an_integer_number_of_seconds_is_a_float() -> None:
    config = GateConfig.from_table({"pulse_s": 2, "passage_window_s": 10})
    assert config.pulse_s == 2.0 and isinstance(config.pulse_s, float)
    assert isinstance(config.passage_window_s, float)


@pytest.mark.parametrize("key", ["relay_pin", "green_pin", "red_pin", "amber_pin", "buzzer_pin"])
@pytest.mark.parametrize("pin", [0, 1, 28, -3])
def test_outputs_need_a_bcm_gpio_number(key: str, pin: int) -> None:
    error = reject({key: pin})
    assert (error.code, error.key) == ("bad_pin", key)
    assert "2-27" in error.detail


@pytest.mark.parametrize("key", ["passage_pin", "tamper_pin", "exit_button_pin"])
def test_optional_inputs_may_be_zero_but_not_out_of_range(key: str) -> None:
    assert getattr(GateConfig.from_table({key: 0}), key) == 0
    error = reject({key: 40})
    assert (error.code, error.key) == ("bad_pin", key)
    assert "or 0 for none" in error.detail


def test_a_pin_used_twice_is_a_conflict_naming_both_settings() -> None:
    error = reject({"exit_button_pin": 17})
    assert (error.code, error.key) == ("pin_conflict", "exit_button_pin")
    assert "GPIO17 is already used by relay_pin" in str(error)


def test_unused_optional_pins_do_not_conflict() -> None:
    config = GateConfig(passage_pin=0, tamper_pin=0, exit_button_pin=0)
    assert set(config.wired_pins()) == {
        "relay_pin",
        "green_pin",
        "red_pin",
        "amber_pin",
        "buzzer_pin",
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("pulse_s", 0.0),
        ("pulse_s", -1.0),
        ("pulse_s", 31.0),
        ("pulse_s", math.nan),
        ("passage_window_s", 0),
        ("passage_window_s", 121.0),
        ("passage_window_s", math.inf),
    ],
)
def test_durations_must_be_positive_and_bounded(key: str, value: float) -> None:
    error = reject({key: value})
    assert (error.code, error.key) == ("bad_value", key)


@pytest.mark.parametrize(
    ("key", "value"),
    [("indicator", "lamp"), ("buzzer_kind", "piezo"), ("pin_factory", "gpio")],
)
def test_choices_are_checked(key: str, value: str) -> None:
    error = reject({key: value})
    assert (error.code, error.key) == ("bad_value", key)
    assert repr(value) in error.detail


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(GateConfigError) as info:
        GateConfig(pulse_s=0.0)
    assert str(info.value) == "[gate] pulse_s: 0.0 s is outside (0, 30.0] s"


def test_rgb_and_tonal_options_are_accepted() -> None:
    config = GateConfig.from_table(
        {"indicator": "rgb", "buzzer_kind": "tonal", "pin_factory": "mock"}
    )
    assert (config.indicator, config.buzzer_kind, config.pin_factory) == ("rgb", "tonal", "mock")
