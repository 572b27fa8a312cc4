"""The program's wiring, in process: back-ends chosen by config feed one flow through one queue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from presence.events import decode
from sim.belpic import BelpicCard, IdentityFields
from sim.processes import free_port
from terminal import config as terminal_config
from terminal.app import UNHEALTHY_AFTER, App
from terminal.cli import main
from terminal.drivers.events import Entered
from terminal.notify import SystemdNotifier
from tests.conftest import ErrorLogGuard
from tests.terminal.people import POSTED, l1_url
from tests.terminal.sample_config import sim_config, write

SIM_INPUTS = '[camera]\nbackend = "synthetic"\nfps = 30\n'


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    text = sim_config(tmp_path / "state", port=free_port(), reader="fake",
                      unknown_person="admit_and_flag").replace('[camera]\nbackend = "none"\n',
                                                                SIM_INPUTS)  # fmt: skip
    config = terminal_config.load(write(tmp_path, text))
    with App(config, clock_probe=lambda: True, notifier=SystemdNotifier({})) as running:
        yield running


def run_until_decided(app: App, count: int = 1, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(app.outbox.pending()) < count and time.monotonic() < deadline:
        app.step(0.05)


def test_the_config_chooses_the_back_ends_and_the_gate_starts_locked(app: App) -> None:
    assert set(app.drivers) == {"reader", "qr", "keypad"}
    assert type(app.drivers["reader"]).__name__ == "FakeCardReader"
    assert type(app.drivers["keypad"]).__name__ == "FakeKeypad"
    assert not app.gate.relay_released
    assert app.flow.state == "provisioning"


def test_a_card_in_the_fake_reader_is_decided_and_stored(app: App) -> None:
    app.start()
    app.drivers["reader"].insert(BelpicCard.from_fields(IdentityFields()))
    run_until_decided(app)
    [pending] = app.outbox.pending()
    event = decode(pending.payload)
    assert event.credential.kind == "eid" and event.decision == "admitted"
    assert app.gate.relay_released


def test_a_qr_code_in_front_of_the_synthetic_camera_is_decided(app: App) -> None:
    app.start()
    app.drivers["qr"].source.show(l1_url())
    run_until_decided(app)
    [pending] = app.outbox.pending()
    assert decode(pending.payload).credential.person == POSTED


def test_the_keypad_reaches_the_flow(app: App) -> None:
    app.drivers["keypad"].type(POSTED.digits + "\n")
    run_until_decided(app)
    assert [decode(p.payload).credential.kind for p in app.outbox.pending()] == ["keypad_limosa"]


def test_the_heartbeat_names_the_fault_the_inputs_and_a_missing_tamper_switch(
    app: App,
) -> None:
    health = app.link.status().health
    assert health["fault"] == "none" and health["tamper"] == "none"
    assert health["reader"] == "ok" and health["camera"] == "ok"


def test_an_open_enclosure_is_in_the_heartbeat_as_fault_and_tamper(tmp_path: Path) -> None:
    text = sim_config(tmp_path / "state", port=free_port(), reader="fake", gate="tamper_pin = 6")
    config = terminal_config.load(write(tmp_path, text))
    with App(config, clock_probe=lambda: True, notifier=SystemdNotifier({})) as running:
        switch = running.gate.pin_factory.pin(6)
        switch.drive_low()  # the contact closes: the enclosure is shut
        _drain(running)
        app_health = running.link.status().health
        assert app_health["tamper"] == "closed" and app_health["fault"] == "none"
        switch.drive_high()  # the enclosure opens
        _drain(running)
        health = running.link.status().health
        assert health["tamper"] == "open" and health["fault"] == "tampered"
        assert health["flow"] == "fault"


def _drain(app: App) -> None:
    while not app.events.empty():
        app.step()


def test_repeated_failures_lock_the_gate_and_stop_the_watchdog(
    app: App, logged_errors: ErrorLogGuard
) -> None:
    logged_errors.expect("the flow failed")
    app.gate.close()  # the gate can no longer move: every admission fails
    for _ in range(UNHEALTHY_AFTER):
        assert app.healthy
        app.events.put(Entered(POSTED.digits))
        app.step()
        assert app.flow.state == "provisioning"
    assert not app.healthy
    assert not app.gate.relay_released


def test_close_is_idempotent_and_leaves_the_outbox_closed(app: App) -> None:
    app.close()
    app.close()
    assert not app.gate.relay_released
    with pytest.raises(Exception, match="closed"):
        app.outbox.pending()


def test_a_driver_that_cannot_start_is_a_clear_error_and_nothing_stays_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = sim_config(tmp_path / "state", port=free_port()).replace(
        '[camera]\nbackend = "none"\n', '[camera]\nbackend = "folder"\ndevice = "no-such-dir"\n'
    )
    path = write(tmp_path, text)
    assert main(["run", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "cannot start" in err and "camera" in err
