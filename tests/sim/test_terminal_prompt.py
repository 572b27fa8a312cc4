"""``sitegate-demo terminal``: the simulated hardware, the prompt's words, the demo's options.
The whole session against a running site is tests/test_readme.py."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from sim import demo
from sim.terminal_prompt import Prompt, Usage, simulated
from terminal import config as terminal_config
from tests.terminal.sample_config import CONTRACT_EXAMPLE, write


def test_simulated_hardware_replaces_the_configs_and_keeps_the_real_outbox_apart(
    tmp_path: Path,
) -> None:
    config = terminal_config.load(write(tmp_path, CONTRACT_EXAMPLE))
    sim = simulated(config, tmp_path / "simulated-state")
    assert (sim.reader.backend, sim.camera.backend, sim.keypad.backend) == (
        "fake", "synthetic", "fake",
    )  # fmt: skip
    assert sim.gate.pin_factory == "mock" and sim.gate.tamper_pin == 0
    assert sim.terminal.state_dir == tmp_path / "simulated-state" != config.terminal.state_dir
    assert (sim.terminal.id, sim.broker) == (config.terminal.id, config.broker)


def bare_prompt() -> Prompt:
    """A prompt without a terminal: the lines these tests type never reach one."""
    prompt = Prompt.__new__(Prompt)
    prompt.today = date(2026, 3, 2)
    return prompt


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("card", "NUMBER missing"),
        ("card 12345678901", "12345678901"),
        ("keypad abc", "keypad DIGITS"),
        ("qr", "qr TEXT"),
        ("wave", "'wave' is not a command here"),
        ('card "85', "cannot read that line"),
    ],
)
def test_the_prompt_says_what_to_type_instead(line: str, says: str) -> None:
    with pytest.raises(Usage, match=says):
        bare_prompt().handle(line)


def test_the_prompt_stops_on_quit_and_ignores_empty_lines() -> None:
    prompt = bare_prompt()
    assert prompt.handle("   ") is True
    assert prompt.handle("quit") is False


def test_demo_options_go_before_or_after_the_command() -> None:
    parser = demo.build_parser()
    before = parser.parse_args(["--no-pcscd", "--dir", "/w", "chaos", "--seed", "3"])
    after = parser.parse_args(["chaos", "--seed", "3", "--dir", "/w", "--no-pcscd"])
    assert (before.no_pcscd, before.dir, before.seed) == (after.no_pcscd, after.dir, 3)
    assert (before.no_pcscd, before.dir) == (True, "/w")


def test_the_terminal_command_finds_a_terminal_in_the_site_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITEGATE_SITE_DIR", str(tmp_path))
    assert demo.main(["terminal", "gate-9"]) == 2
    assert f"{tmp_path}/terminals/gate-9/terminal.toml" in capsys.readouterr().err


def test_the_demo_without_a_command_plays_the_shift() -> None:
    assert demo.with_default_command([]) == ["shift"]
    assert demo.with_default_command(["--seed", "5", "--stay"]) == [
        "shift",
        "--seed",
        "5",
        "--stay",
    ]
    assert demo.with_default_command(["--no-pcscd", "chaos"]) == ["--no-pcscd", "chaos"]
    assert demo.with_default_command(["--help"]) == ["--help"]
    args = demo.build_parser().parse_args(demo.with_default_command(["--seed", "5"]))
    assert (args.command, args.seed, args.stay, args.dir) == ("shift", 5, False, None)
