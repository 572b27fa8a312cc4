"""terminal.toml: the contract's example parses; every kind of mistake names file, section, key."""

from __future__ import annotations

from pathlib import Path

import pytest

from terminal import config as terminal_config
from terminal.cli import main
from terminal.config import ConfigError, TerminalConfig
from terminal.drivers.gate.config import GateConfig
from tests.terminal.sample_config import CONTRACT_EXAMPLE, write


def load_text(tmp_path: Path, text: str) -> TerminalConfig:
    return terminal_config.load(write(tmp_path, text))


def error_for(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    return caught.value


def test_the_contract_example_parses_into_typed_sections(tmp_path: Path) -> None:
    config = load_text(tmp_path, CONTRACT_EXAMPLE)
    assert config.config_version == 1
    assert config.terminal.id == "gate-1"
    assert str(config.terminal.workplace_id) == "1Y102M7NZF7PZ"
    assert config.terminal.direction == "in"
    assert config.terminal.state_dir == Path("/var/lib/sitegate-terminal")
    assert config.broker.port == 8883 and config.broker.tls is True
    assert config.reader.backend == "pcsc" and config.camera.fps == 15
    assert config.qr.repeat_window_s == 3.0 and config.keypad.backend == "none"
    assert isinstance(config.gate, GateConfig) and config.gate.relay_pin == 17
    assert config.policy.unknown_person == "refuse" and config.policy.cooldown_s == 60


def test_relative_files_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    config = load_text(tmp_path, CONTRACT_EXAMPLE)
    assert config.broker.ca_file == tmp_path / "ca.pem"
    assert config.broker.cert_file == tmp_path / "terminal.pem"
    assert config.broker.key_file == tmp_path / "terminal.key"


def test_sections_may_be_left_out_and_take_their_defaults(tmp_path: Path) -> None:
    text = '[terminal]\nid = "t1"\nworkplace_id = "W1"\ndirection = "out"\nstate_dir = "s"\n'
    config = load_text(tmp_path, "config_version = 1\n" + text)
    assert config.terminal.state_dir == tmp_path / "s"
    assert config.gate == GateConfig()
    assert config.keypad.backend == "none" and config.broker.session_expiry_s == 86400


def test_the_config_is_frozen(tmp_path: Path) -> None:
    config = load_text(tmp_path, CONTRACT_EXAMPLE)
    with pytest.raises(AttributeError):
        config.terminal.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("old", "new", "code", "where"),
    [
        ("cooldown_s = 60", "cooldown_s = 60\ncolour = 1", "unknown_key", "[policy] colour"),
        ("[qr]", "[extra]\nx = 1\n[qr]", "unknown_key", "extra"),
        ('port = 8883', 'port = "8883"', "wrong_type", "[broker] port"),
        ("tls = true", "tls = 1", "wrong_type", "[broker] tls"),
        ("port = 8883", "port = 70000", "out_of_range", "[broker] port"),
        ("fps = 15", "fps = 0", "out_of_range", "[camera] fps"),
        ("repeat_window_s = 3.0", "repeat_window_s = nan", "wrong_type", "[qr] repeat_window_s"),
        ('direction = "in"', 'direction = "both"', "bad_value", "[terminal] direction"),
        ('id = "gate-1"', 'id = "Gate 1"', "bad_value", "[terminal] id"),
        ('workplace_id = "1Y102M7NZF7PZ"', 'workplace_id = "1Y102M7NZF7PZXX"', "bad_value",
         "[terminal] workplace_id"),
        ('id = "gate-1"\n', "", "missing_key", "[terminal] id"),
        ('backend = "pcsc"', 'backend = "nfc"', "bad_value", "[reader] backend"),
        ('unknown_person = "refuse"', 'unknown_person = "admit"', "bad_value",
         "[policy] unknown_person"),
        ('key_file = "terminal.key"', 'key_file = ""', "bad_value", "[broker] key_file"),
        ("relay_pin = 17", "relay_pin = 99", "out_of_range", "[gate] relay_pin"),
        ("relay_pin = 17", "relay_pin = 22", "bad_value", "[gate] green_pin"),
        ("pulse_s = 3.0", 'pulse_s = "3"', "wrong_type", "[gate] pulse_s"),
        ("fail_open = false", "fail_open = false\nturbo = true", "unknown_key", "[gate] turbo"),
        ("config_version = 1", "config_version = 2", "version", "config_version"),
        ("config_version = 1\n", "", "missing_key", "config_version"),
    ],
)  # fmt: skip
def test_a_mistake_is_refused_naming_file_section_and_key(
    tmp_path: Path, old: str, new: str, code: str, where: str
) -> None:
    assert old in CONTRACT_EXAMPLE
    error = error_for(tmp_path, CONTRACT_EXAMPLE.replace(old, new, 1))
    assert error.code == code
    assert str(tmp_path / "terminal.toml") in str(error)
    assert where in str(error)


def test_a_section_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    error = error_for(tmp_path, 'config_version = 1\nterminal = "gate-1"\n')
    assert error.code == "wrong_type" and "[terminal]" in str(error)


def test_broken_toml_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    assert error_for(tmp_path, "config_version = = 1").code == "not_toml"
    with pytest.raises(ConfigError) as caught:
        terminal_config.load(tmp_path / "absent.toml")
    assert caught.value.code == "unreadable"
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError):
        terminal_config.load(tmp_path / "binary.toml")


def test_check_config_summarises_a_good_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, CONTRACT_EXAMPLE)
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "terminal gate-1 (in)" in out and "OK" in out


def test_check_config_names_the_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, CONTRACT_EXAMPLE.replace("fps = 15", "fps = 500"))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "out_of_range" in err and "[camera] fps" in err


def test_run_with_a_bad_config_exits_2_without_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--config", str(tmp_path / "none.toml")]) == 2
    assert "unreadable" in capsys.readouterr().err


def test_check_config_takes_config_before_or_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, CONTRACT_EXAMPLE)
    assert main(["--config", str(path), "check-config"]) == 0
    assert main(["check-config", "--config", str(path), "-v"]) == 0
    assert capsys.readouterr().out.count("terminal gate-1 (in)") == 2
