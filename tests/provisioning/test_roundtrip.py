"""What provisioning writes is what the terminal and the controller read."""

from __future__ import annotations

from pathlib import Path

from controller import config as controller_config
from controller.terminals import parse_terminals
from provisioning import terminal_admin
from provisioning.layout import SiteLayout
from terminal import config as terminal_config
from tests.provisioning.conftest import COMPANY, WORKPLACE


def test_terminal_toml_loads_in_the_terminal(site: SiteLayout, clock) -> None:
    terminal_admin.add_terminal(
        site.root,
        "gate-1",
        "out",
        ["keypad.backend=evdev", "keypad.device=/dev/input/event2", "gate.pulse_s=2.5"],
        clock,
    )
    bundle = site.bundle_dir("gate-1")

    config = terminal_config.load(bundle / "terminal.toml")

    assert config.terminal.id == "gate-1"
    assert str(config.terminal.workplace_id) == WORKPLACE
    assert config.terminal.direction == "out"
    assert config.broker.host == "gate-controller.local"
    assert config.broker.tls is True
    assert config.broker.ca_file == bundle / "ca.pem"
    assert config.broker.cert_file == bundle / "terminal.pem"
    assert config.broker.key_file == bundle / "terminal.key"
    assert config.keypad.backend == "evdev"
    assert config.gate.pulse_s == 2.5
    assert config.gate.relay_pin == 17


def test_controller_toml_loads_in_the_controller(site: SiteLayout) -> None:
    config = controller_config.load(site.controller_dir / "controller.toml")

    assert config.site.workplace_id == WORKPLACE
    assert config.site.company_id == COMPANY
    assert config.site.name == "Demo site Antwerp"
    assert config.broker.client_id == "sitegate-controller"
    assert Path(config.terminals_path) == site.terminals_file
    for name in ("ca_file", "cert_file", "key_file"):
        assert Path(controller_config.resolve(config, getattr(config.broker, name))).is_file()


def test_terminals_toml_loads_in_the_controller(site: SiteLayout, clock) -> None:
    assert parse_terminals(site.terminals_file) == {}
    terminal_admin.add_terminal(site.root, "gate-1", "in", clock=clock)
    terminal_admin.add_terminal(site.root, "gate-2", "out", clock=clock)
    terminal_admin.revoke_terminal(site.root, "gate-2", clock)

    entries = parse_terminals(site.terminals_file)

    assert sorted(entries) == ["gate-1", "gate-2"]
    assert entries["gate-1"].revoked is False and entries["gate-2"].revoked is True
    assert entries["gate-2"].direction == "out"
