"""The terminal's side of enrolment (``terminal.enrol.Enroller``) against the real service:
the camera (a synthetic frame source) shows the code, the LEDs (gpiozero's mock pins) say
how it went; the CA is pinned by the code, the key is made here and written 0600."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from controller import enrolment as tokens
from controller import schema
from controller.config import ControllerConfig
from controller.store import Store
from presence.clock import ManualClock
from presence.enrolment import EnrolmentCode
from provisioning import enrol_code, pki
from provisioning.enrol_service import EnrolmentServer
from terminal.cli import main
from terminal.config import TerminalConfig
from terminal.drivers.camera import SyntheticSource
from terminal.drivers.gate import GateConfig
from terminal.enrol import Enroller, Hardware

pytestmark = pytest.mark.integration
WAIT_S = 15.0
SETTINGS = ("gate.pin_factory=mock", "gate.tamper_pin=0", "reader.backend=none")


def code_for(config: ControllerConfig, store: Store, valid_s: int = 900) -> str:
    token = tokens.new_token(store, "gate-3", "in", SETTINGS, valid_s)
    return tokens.code_text(config, token)


@pytest.fixture
def camera() -> SyntheticSource:
    return SyntheticSource(640, 480, 15.0)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "terminal" / "terminal.toml"


@contextmanager
def enrolling(config_path: Path, camera: SyntheticSource) -> Iterator[tuple[Enroller, Future]]:
    hardware = Hardware(gate=GateConfig(pin_factory="mock", tamper_pin=0))
    enroller = Enroller(config_path, hardware, source=camera)
    done: Future[TerminalConfig] = Future()

    def run() -> None:
        try:
            done.set_result(enroller.run(timeout_s=WAIT_S))
        except BaseException as exc:
            done.set_exception(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield enroller, done
    finally:
        enroller.stop()
        thread.join(timeout=WAIT_S)
        enroller.close()


def until(condition, timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def used(store: Store) -> list[object]:
    with store.transaction() as conn:
        return list(conn.execute(select(schema.enrolment_tokens.c.used_at)).scalars())


def test_a_terminal_shown_its_code_enrols_with_a_key_it_made_itself(
    config: ControllerConfig, store: Store, service: EnrolmentServer, camera: SyntheticSource,
    config_path: Path,
) -> None:  # fmt: skip
    with enrolling(config_path, camera) as (enroller, done):
        assert until(lambda: enroller.gate.pattern == "provisioning")
        camera.show(code_for(config, store))
        enrolled = done.result(WAIT_S)

    directory = config_path.parent
    assert enrolled.terminal.id == "gate-3" and enrolled.path == config_path
    assert stat.S_IMODE((directory / "terminal.key").stat().st_mode) == 0o600
    key = serialization.load_pem_private_key((directory / "terminal.key").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((directory / "terminal.pem").read_bytes())
    assert cert.public_key() == key.public_key()
    assert pki.common_name(cert) == "gate-3"
    assert enrolled.broker.ca_file is not None
    assert enrolled.broker.ca_file.read_bytes() == config.site_path("ca.pem").read_bytes()
    assert sorted(p.name for p in directory.iterdir()) == [
        "ca.pem", "terminal.key", "terminal.pem", "terminal.toml",
    ]  # fmt: skip


def test_a_qr_code_that_is_not_an_enrolment_code_is_ignored(
    config: ControllerConfig, store: Store, service: EnrolmentServer, camera: SyntheticSource,
    config_path: Path,
) -> None:  # fmt: skip
    with enrolling(config_path, camera) as (enroller, done):
        camera.show("https://www.limosa.be/q.html?id=1")
        assert until(lambda: enroller.scanner.decodes > 3)
        assert (enroller.last_failure, enroller.gate.pattern) == (None, "provisioning")
        assert not done.done()
        camera.show(code_for(config, store))
        assert done.result(WAIT_S).terminal.id == "gate-3"


def test_a_code_naming_another_ca_is_refused_before_the_token_is_sent(
    config: ControllerConfig, store: Store, service: EnrolmentServer, camera: SyntheticSource,
    config_path: Path,
) -> None:  # fmt: skip
    genuine = code_for(config, store)
    assert config.enrolment is not None
    token = genuine.split("token=")[1].split("&")[0]
    forged = EnrolmentCode(config.enrolment.url, "gate-3", token, "ab" * 32).text()

    with enrolling(config_path, camera) as (enroller, done):
        camera.show(forged)
        assert until(lambda: enroller.last_failure is not None)
        failure = enroller.last_failure
        assert failure is not None and failure.code == "ca_mismatch"
        assert until(lambda: enroller.gate.pattern == "enrolment_failed", 1.0)
        assert used(store) == [None]  # the token never left the terminal
        assert not config_path.parent.exists() or not any(config_path.parent.iterdir())
        assert not done.done()


def test_a_refused_code_shows_why_and_the_terminal_waits_for_another(
    config: ControllerConfig, store: Store, service: EnrolmentServer, camera: SyntheticSource,
    config_path: Path, clock: ManualClock,
) -> None:  # fmt: skip
    expired = code_for(config, store, valid_s=60)
    clock.advance(61)

    with enrolling(config_path, camera) as (enroller, done):
        camera.show(expired)
        assert until(lambda: enroller.last_failure is not None)
        failure = enroller.last_failure
        assert failure is not None and failure.code == "expired_token"
        assert until(lambda: enroller.gate.pattern == "enrolment_refused", 1.0)
        assert not config_path.exists()
        camera.show(None)
        camera.show(code_for(config, store))
        assert done.result(WAIT_S).terminal.id == "gate-3"


def test_sitegate_terminal_enrol_enrols_from_the_camera_and_exits(
    config: ControllerConfig, store: Store, service: EnrolmentServer, config_path: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    shown = tmp_path / "shown"
    shown.mkdir()
    (shown / "code.png").write_bytes(enrol_code.qr_png(code_for(config, store)))

    done = subprocess.run(
        [sys.executable, "-m", "terminal.cli", "enrol", "--config", str(config_path),
         "--camera", "folder", "--camera-device", str(shown), "--pin-factory", "mock"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-2000:]
    assert f"enrolled as terminal gate-3: {config_path}" in done.stdout
    assert stat.S_IMODE((config_path.parent / "terminal.key").stat().st_mode) == 0o600


def test_a_terminal_that_cannot_watch_for_its_code_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = str(tmp_path / "no-such-folder")
    argv = ["run", "--config", str(tmp_path / "terminal.toml"), "--camera", "folder",
            "--camera-device", nowhere, "--pin-factory", "mock"]  # fmt: skip

    assert main(argv) == 1
    assert "cannot enrol (bad_folder)" in capsys.readouterr().err
    assert not (tmp_path / "terminal.toml").exists()
