"""The demo site on one machine: broker, NSSO stand-in, controller and three terminals.

Everything listens on loopback and lives in one work directory; ``DemoSite`` is a context
manager that stops all it started.
"""

from __future__ import annotations

import logging
import secrets
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import date
from pathlib import Path

from controller import views
from controller.store import open_store
from sim.crew import Worker, write_declared_works
from sim.mosquitto import MosquittoBroker
from sim.nsso.server import StandIn
from sim.pcscd import CardSlot, Pcscd, machine_lock
from sim.virtual_terminal import VirtualTerminal

log = logging.getLogger(__name__)

WORKPLACE = "1Y102M7NZF7PZ"
TERMINALS = (("gate-1", "in"), ("gate-2", "in"), ("gate-3", "out"))
VALIDATION_DELAY_S = 3.0
READY_TIMEOUT_S = 20.0


def controller_toml(
    workdir: Path, broker_port: int, nsso_endpoint: str, console_port: int | None = None
) -> str:
    return base_toml(workdir, broker_port, nsso_endpoint) + web_section(console_port)


def base_toml(workdir: Path, broker_port: int, nsso_endpoint: str) -> str:
    return f"""\
config_version = 1
[site]
workplace_id = "{WORKPLACE}"
company_id = "0403170701"
name = "Demo site Antwerp"
terminals_file = "terminals.toml"
[broker]
host = "127.0.0.1"
port = {broker_port}
tls = false
client_id = "sitegate-controller"
session_expiry_s = 3600
[database]
url = "sqlite:///{workdir / "controller.db"}"
[registry]
endpoint = "{nsso_endpoint}"
connect_timeout_s = 2.0
read_timeout_s = 5.0
[timing]
relay_interval_s = 0.5
retry_base_s = 0.5
retry_max_s = 2.0
poll_interval_s = 1.0
clock_skew_max_s = 300.0
[policy]
unknown_person = "refuse"
cooldown_s = 60
"""


def web_section(console_port: int | None) -> str:
    """The console on loopback, plain HTTP (allowed there only): a newcomer opens it."""
    if console_port is None:
        return ""
    return (
        f'[web]\nhost = "127.0.0.1"\nport = {console_port}\ntls = false\n'
        "session_idle_s = 86400\nsession_max_s = 86400\n"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_named_roster(crew: list[Worker], path: Path) -> None:
    """The roster as a site office keeps it: ``;``-separated, with names (the console's
    lists show who a person is)."""
    lines = ["person;employer;name"]
    for worker in crew:
        if not worker.on_roster:
            continue
        name = f"{worker.given_names.strip()} {worker.surname}"
        if worker.kind != "l1":
            assert worker.employer is not None
            lines.append(f"{worker.inss};{worker.employer.kbo};{name}")
        else:
            lines.append(f"{worker.limosa_id};;{name}")
    path.write_text("\n".join(lines) + "\n")


def terminal_toml(workdir: Path, terminal_id: str, direction: str, broker_port: int,
                  reader: str) -> str:  # fmt: skip
    return f"""\
config_version = 1
[terminal]
id = "{terminal_id}"
workplace_id = "{WORKPLACE}"
direction = "{direction}"
state_dir = "{workdir / terminal_id}"
[broker]
host = "127.0.0.1"
port = {broker_port}
tls = false
keepalive_s = 5
session_expiry_s = 3600
[reader]
backend = "{reader}"
[camera]
backend = "synthetic"
width = 640
height = 480
fps = 15
[qr]
decoder = "zxing"
repeat_window_s = 1.0
[keypad]
backend = "fake"
[gate]
pin_factory = "mock"
pulse_s = 0.5
tamper_pin = 0
passage_window_s = 5.0
[policy]
unknown_person = "refuse"
allowlist_max_age_s = 86400
cooldown_s = 60
"""


class DemoSite:
    def __init__(
        self,
        workdir: Path,
        crew: list[Worker],
        today: date,
        use_pcscd: bool,
        console: bool = True,
    ) -> None:
        self.workdir = workdir
        self.console_port = free_port() if console else None
        self.console_user = "demo"
        self.console_password = secrets.token_urlsafe(9)
        self.crew = crew
        self.today = today
        self.use_pcscd = use_pcscd
        self.terminals: dict[str, VirtualTerminal] = {}
        self.card_reader = "in-process fake reader"
        self._stack = ExitStack()
        self._controller: subprocess.Popen[bytes] | None = None

    # --- start and stop ------------------------------------------------------------------

    def __enter__(self) -> DemoSite:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.broker = self._stack.enter_context(MosquittoBroker())
        works, roster = self.workdir / "works.toml", self.workdir / "roster.csv"
        write_declared_works(WORKPLACE, self.crew, self.today, works)
        write_named_roster(self.crew, roster)
        self.nsso = StandIn(self.workdir / "nsso.db", works,
                            validation_delay_s=VALIDATION_DELAY_S).start()  # fmt: skip
        self._stack.callback(self.nsso.close)
        self.controller_config = self.workdir / "controller.toml"
        self.controller_config.write_text(
            controller_toml(self.workdir, self.broker.port, self.nsso.endpoint, self.console_port)
        )
        (self.workdir / "terminals.toml").write_text("".join(
            f'[[terminal]]\nid = "{t}"\ndirection = "{d}"\ncert_serial = ""\nrevoked = false\n\n'
            for t, d in TERMINALS
        ))  # fmt: skip
        self.manage("roster", "import", str(roster))
        if self.console_port is not None:
            secret = self.workdir / "console-password"
            secret.write_text(self.console_password + "\n")
            secret.chmod(0o600)
            self.manage(
                "user",
                "add",
                self.console_user,
                "--role",
                "manager",
                "--password-file",
                str(secret),
            )
        self._start_controller()
        slot = self._card_slot()
        for terminal_id, direction in TERMINALS:
            reader = "pcsc" if slot is not None and terminal_id == "gate-1" else "fake"
            path = self.workdir / f"{terminal_id}.toml"
            path.write_text(terminal_toml(self.workdir, terminal_id, direction,
                                          self.broker.port, reader))  # fmt: skip
            terminal = VirtualTerminal(path, slot if reader == "pcsc" else None).start()
            self._stack.callback(terminal.stop)
            self.terminals[terminal_id] = terminal
        self._wait_until_configured()

    def _card_slot(self) -> CardSlot | None:
        if not self.use_pcscd:
            return None
        self._stack.enter_context(machine_lock())  # the one vpcd reader is ours while we run
        pcscd = Pcscd()
        try:
            pcscd.ensure()
        except (OSError, RuntimeError) as exc:
            log.warning("no pcscd with the vpcd reader (%s): gate-1 uses the fake reader", exc)
            return None
        self._stack.callback(pcscd.close)
        self.card_reader = "pcscd + vpcd + BELPIC emulator"
        return CardSlot()

    def _start_controller(self) -> None:
        log_file = (self.workdir / "controller.log").open("ab")
        self._stack.callback(log_file.close)
        self._controller = subprocess.Popen(
            [sys.executable, "-m", "controller.cli", "--config", str(self.controller_config),
             "run"], stdout=log_file, stderr=subprocess.STDOUT)  # fmt: skip
        self._stack.callback(self._stop_controller)

    def _stop_controller(self) -> None:
        if self._controller is not None and self._controller.poll() is None:
            self._controller.terminate()
            try:
                self._controller.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._controller.kill()
                self._controller.wait()

    def _wait_until_configured(self) -> None:
        """Terminals leave set-up mode once the controller's site config reached them."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            states = {t.app.flow.state for t in self.terminals.values()}
            if "provisioning" not in states:
                return
            time.sleep(0.1)
        raise RuntimeError(f"terminals never got the site config; see {self.workdir}")

    def wait_drained(self, timeout: float = 30.0) -> float:
        """Seconds until every terminal is online with an empty outbox (or ``timeout``)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            terminals = self.terminals.values()
            if all(t.online and t.outbox_depth == 0 for t in terminals):
                break
            time.sleep(0.1)
        return time.monotonic() - started

    @property
    def console_url(self) -> str | None:
        return f"http://127.0.0.1:{self.console_port}" if self.console_port else None

    # --- what the site manager sees ------------------------------------------------------

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "controller.cli", "--config", str(self.controller_config),
             *args], capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"sitegate-controller {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def presences(self) -> list[dict[str, object]]:
        store = open_store(f"sqlite:///{self.workdir / 'controller.db'}")
        try:
            return [dict(row) for row in views.presences(store, reveal=True)]
        finally:
            store.close()
