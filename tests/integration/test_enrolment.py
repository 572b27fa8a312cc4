"""A terminal enrols itself, end to end, in real processes: a ``sitegate-terminal run`` with
no credentials reads the enrolment QR (the PNG ``sitegate-provision enrol`` wrote) with its
camera, enrols against ``sitegate-controller run`` over HTTPS, connects to the site's own
mosquitto with its new certificate, and a posted worker's L1 check-in from it reaches the
NSSO stand-in."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from PIL import Image

from controller import views
from controller.ingest import BACKLOG_MIN_S
from controller.store import open_store
from presence.clock import brussels_date
from provisioning import pki, terminals
from provisioning.layout import SiteLayout
from sim.crew import Worker, morning_crew, write_declared_works
from sim.demo_site import write_named_roster
from sim.mosquitto import MosquittoBroker
from sim.nsso.server import StandIn
from sim.processes import wait_for_port
from terminal.drivers.camera.synthetic import Scene, compose
from tests.provisioning.conftest import WORKPLACE, site_broker
from tests.provisioning.enrolment.support import configure, enrolment_site

pytestmark = pytest.mark.integration
ENROLLED_WITHIN_S = 30.0
REGISTERED_WITHIN_S = 30.0
BLANK_FRAMES = 30  # the L1 code comes back into view every 2 s at 15 frames a second


def frame(path: Path, text: str | None) -> None:
    Image.fromarray(compose(640, 480, Scene(text))).save(path)


@pytest.fixture
def site() -> Iterator[SiteLayout]:
    with enrolment_site() as layout:
        yield layout


@pytest.fixture
def broker(site: SiteLayout) -> Iterator[MosquittoBroker]:
    made = site_broker(site)
    yield made.start()
    made.close()


@pytest.fixture
def worker() -> Worker:
    today = brussels_date(datetime.now(UTC))
    return next(w for w in morning_crew(today) if w.kind == "l1" and w.on_roster)


@pytest.fixture
def nsso(tmp_path: Path, worker: Worker) -> Iterator[StandIn]:
    works = tmp_path / "works.toml"
    write_declared_works(WORKPLACE, [worker], brussels_date(datetime.now(UTC)), works)
    stand_in = StandIn(tmp_path / "nsso.db", works, validation_delay_s=0.5).start()
    yield stand_in
    stand_in.close()


class Processes:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        log = self.directory / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen([sys.executable, "-m", *argv], stdout=out,
                                       stderr=subprocess.STDOUT)  # fmt: skip
        self.running.append((process, log))
        return process

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process, _ in reversed(self.running):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    made = Processes(tmp_path)
    yield made
    made.stop()


def run(*argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout} s")


def test_a_terminal_without_credentials_enrols_from_the_qr_code_and_its_checkin_reaches_nsso(
    site: SiteLayout, broker: MosquittoBroker, nsso: StandIn, worker: Worker,
    processes: Processes, tmp_path: Path,
) -> None:  # fmt: skip
    database = f"sqlite:///{tmp_path / 'controller.db'}"
    config = configure(site, database, broker.pid_file, registry_endpoint=nsso.endpoint)
    roster = tmp_path / "roster.csv"
    write_named_roster([worker], roster)
    run("controller.cli", "--config", str(config), "roster", "import", str(roster))
    processes.start("controller", "controller.cli", "--config", str(config), "run")
    enrol_port = int(config.read_text().split("[enrolment]")[1].split("port = ")[1].split()[0])
    assert wait_for_port("127.0.0.1", enrol_port, 20), processes.log("controller")
    time.sleep(BACKLOG_MIN_S)  # what reaches a controller that just connected is backlog

    shown, gate_frames = tmp_path / "shown", tmp_path / "gate-frames"
    shown.mkdir(), gate_frames.mkdir()
    frame(shown / "a-someone-elses-l1.png", "https://www.limosa.be/q.html?id=1")  # ignored
    state = tmp_path / "state"
    out = run(
        "provisioning.cli", "enrol", "gate-3", "--direction", "in", "--dir", str(site.root),
        "--png", str(shown / "b-enrolment.png"), "--no-qr",
        "--set", "reader.backend=none", "--set", "camera.backend=folder",
        "--set", f"camera.device={gate_frames}", "--set", "qr.repeat_window_s=1.0",
        "--set", "gate.pin_factory=mock", "--set", "gate.tamper_pin=0",
        "--set", f"terminal.state_dir={state}",
    )  # fmt: skip
    assert "enrolment code for gate-3 (in)" in out
    frame(gate_frames / "a-worker.png", worker.l1_url())
    for n in range(BLANK_FRAMES):
        frame(gate_frames / f"b-{n:02d}.png", None)
    terminal_dir = tmp_path / "terminal"
    terminal_dir.mkdir()
    terminal_toml = terminal_dir / "terminal.toml"

    terminal = processes.start(
        "terminal", "terminal.cli", "run", "--config", str(terminal_toml),
        "--camera", "folder", "--camera-device", str(shown), "--pin-factory", "mock",
    )  # fmt: skip

    wait_for(terminal_toml.exists, ENROLLED_WITHIN_S, "enrolment")
    assert terminal.poll() is None, processes.log("terminal")
    key_mode = stat.S_IMODE((terminal_dir / "terminal.key").stat().st_mode)
    assert key_mode == 0o600
    cert = x509.load_pem_x509_certificate((terminal_dir / "terminal.pem").read_bytes())
    assert pki.common_name(cert) == "gate-3"
    record = terminals.load(site.terminals_file)
    assert [(r.id, r.cert_serial) for r in record] == [
        ("gate-3", pki.serial_hex(cert.serial_number))
    ]
    assert not list(site.root.rglob("terminal.key"))  # the key never left the terminal

    def registered() -> bool:
        return any(r["limosa_id"] == worker.limosa_id for r in nsso.registrations())

    wait_for(registered, REGISTERED_WITHIN_S, f"the registration; {processes.log('terminal')}")
    store = open_store(database)
    try:
        rows = views.terminal_health(store)
    finally:
        store.close()
    gate = next(r for r in rows if r["terminal"] == "gate-3")
    assert gate["link"] == "online" and gate["version"], gate
    assert "enrolled as terminal gate-3" in processes.log("terminal")
