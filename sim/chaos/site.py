"""The site under test, every part its own process: mosquitto, the NSSO stand-in, the
controller (SQLite or PostgreSQL) and K terminals (gate-1 on pcscd + vpcd when asked).

Terminals reach the broker, and the controller reaches NSSO, through ``FaultProxy``s, so
the campaign can slow, lose and cut those paths. Everything listens on loopback and lives in
one work directory: logs, configs, databases, journals, outboxes.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sim.chaos.procs import Proc
from sim.chaos.proxy import FaultProxy
from sim.chaos.terminal_proc import request
from sim.chaos.workload import Workload, write_roster
from sim.crew import write_declared_works
from sim.demo_site import WORKPLACE, terminal_toml
from sim.mosquitto import MosquittoBroker
from sim.pcscd import Pcscd, machine_lock
from sim.processes import free_port, wait_for_port

log = logging.getLogger(__name__)

CONTROL_TIMEOUT_S = 12.0  # above the terminal's own 10 s wait for a decision
READY_TIMEOUT_S = 30.0
VALIDATION_DELAY_S = 1.0
SLOW_VALIDATION_DELAY_S = 20.0


IN_DOUBT_GRACE_S = 20.0


def controller_toml(
    db_url: str, broker_port: int, nsso_port: int, in_doubt_grace_s: float = IN_DOUBT_GRACE_S
) -> str:
    """The campaign's controller: short timings, so that a minute holds many recoveries.
    ``in_doubt_grace_s`` (the wait before an unanswered batch is looked up) stays above the
    longest the campaign's network can hold a request back (``proxy``: about 13 s of
    retransmissions plus latency): the product's own assumption, with 120 s by default."""
    return f"""\
config_version = 1
[site]
workplace_id = "{WORKPLACE}"
company_id = "0403170701"
name = "Chaos site"
terminals_file = "terminals.toml"
[broker]
host = "127.0.0.1"
port = {broker_port}
tls = false
client_id = "sitegate-controller"
session_expiry_s = 3600
[database]
url = "{db_url}"
[registry]
endpoint = "http://127.0.0.1:{nsso_port}/PresenceRegistration/v1"
connect_timeout_s = 1.0
read_timeout_s = 3.0
[timing]
relay_interval_s = 0.5
retry_base_s = 0.5
retry_max_s = 2.0
poll_interval_s = 1.0
clock_skew_max_s = 300.0
in_doubt_grace_s = {in_doubt_grace_s}
[policy]
unknown_person = "refuse"
cooldown_s = 60
"""


@dataclass(frozen=True, slots=True)
class Gate:
    id: str
    direction: str
    pcsc: bool


def gates(count: int, pcsc: bool) -> list[Gate]:
    """gate-1..K; the last is the exit when there are three or more (entries otherwise)."""
    found = []
    for n in range(1, count + 1):
        direction = "out" if count >= 3 and n == count else "in"
        found.append(Gate(f"gate-{n}", direction, pcsc and n == 1))
    return found


@dataclass(slots=True)
class TerminalClock:
    offset_s: float = 0.0
    synced: bool = True
    rebooted: bool = False  # its next start is a new boot (new boot id, monotonic from 0)


class ChaosSite:
    """``with ChaosSite(...) as site``: everything started, everything stopped after."""

    def __init__(
        self,
        workdir: Path,
        workload: Workload,
        today: date,
        *,
        gate_count: int = 3,
        db: str = "sqlite",
        pg_server: str | None = None,
        use_pcscd: bool = True,
        seed: int = 0,
        in_doubt_grace_s: float = IN_DOUBT_GRACE_S,
        clock_offset_s: int = 0,
    ) -> None:
        self.in_doubt_grace_s = in_doubt_grace_s
        self.clock_offset_s = clock_offset_s
        self.workdir = workdir
        self.workload = workload
        self.today = today
        self.db = db
        self.pg_server = pg_server
        self.use_pcscd = use_pcscd
        self.seed = seed
        self.gates = gates(gate_count, use_pcscd)
        self.procs: dict[str, Proc] = {}
        self.proxies: dict[str, FaultProxy] = {}
        self.clocks = {g.id: TerminalClock() for g in self.gates}
        self.validation_delay_s = VALIDATION_DELAY_S
        self.card_reader = "fake reader"
        self.db_url = ""
        self._stack = ExitStack()

    # --- start and stop ----------------------------------------------------------------------

    def __enter__(self) -> ChaosSite:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()

    def stop_all(self) -> None:
        """Terminals first (their outboxes close cleanly), then controller, NSSO, broker."""
        for name in [*(g.id for g in self.gates), "controller", "nsso", "broker"]:
            if name in self.procs:
                self.procs[name].stop()

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_url = self._database()
        self._start_broker()
        self._start_nsso()
        self._write_controller_files()
        self._start_controller()
        self._start_terminals()
        self._stack.callback(self.stop_all)
        self.wait_configured()

    def _database(self) -> str:
        if self.db == "sqlite":
            return f"sqlite:///{self.workdir / 'controller.db'}"
        if not self.pg_server:
            raise RuntimeError("--db postgresql needs a server (--pg-url or SITEGATE_PG_URL)")
        return scratch_database(self.pg_server, self._stack)

    def _start_broker(self) -> None:
        broker = MosquittoBroker()
        self._stack.callback(broker.close)  # removes its directory (the process is ours)
        self.broker_port = broker.port
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        proc = Proc(
            "broker",
            lambda: [binary, "-c", str(broker.config_path)],
            self.workdir / "broker.log",
            cwd=broker.workdir,
            ready=lambda: _answers(broker.port),
        )
        self.procs["broker"] = proc.start()
        self._stack.callback(proc.stop)

    def _start_nsso(self) -> None:
        works = self.workdir / "works.toml"
        write_declared_works(WORKPLACE, self.workload.crew, self.today, works)
        self.nsso_port = free_port()
        db = self.workdir / "nsso.db"

        def command() -> list[str]:
            delay = str(self.validation_delay_s)
            return self.python(
                "sim.registry_server",
                "--listen",
                f"127.0.0.1:{self.nsso_port}",
                "--db",
                str(db),
                "--works",
                str(works),
                "--validation-delay",
                delay,
            )

        proc = Proc(
            "nsso",
            command,
            self.workdir / "nsso.log",
            ready=lambda: _answers(self.nsso_port),
        )
        self.procs["nsso"] = proc.start()
        self._stack.callback(proc.stop)
        self.nsso_db = db
        proxy = FaultProxy(self.nsso_port, self.seed * 1000 + 1, "controller-nsso").start()
        self._stack.callback(proxy.close)
        self.proxies["controller-nsso"] = proxy

    def _write_controller_files(self) -> None:
        self.controller_config = self.workdir / "controller.toml"
        self.controller_config.write_text(
            controller_toml(
                self.db_url,
                self.broker_port,
                self.proxies["controller-nsso"].port,
                self.in_doubt_grace_s,
            )
        )
        (self.workdir / "terminals.toml").write_text(
            "".join(
                f'[[terminal]]\nid = "{g.id}"\ndirection = "{g.direction}"\ncert_serial = ""\n'
                "revoked = false\n\n"
                for g in self.gates
            )
        )
        roster = self.workdir / "roster.csv"
        write_roster(self.workload.people, roster)
        self.manage("roster", "import", str(roster))

    def _start_controller(self) -> None:
        command = self.python(
            "controller.cli",
            "--config",
            str(self.controller_config),
            "run",
        )
        proc = Proc("controller", lambda: command, self.workdir / "controller.log")
        self.procs["controller"] = proc.start()
        self._stack.callback(proc.stop)

    def _start_terminals(self) -> None:
        if any(g.pcsc for g in self.gates) and not self._pcscd():
            self.gates = [Gate(g.id, g.direction, False) for g in self.gates]
        for gate in self.gates:
            proxy = FaultProxy(
                self.broker_port, self.seed * 1000 + 10 + len(self.proxies), f"{gate.id}-broker"
            ).start()
            self._stack.callback(proxy.close)
            self.proxies[f"{gate.id}-broker"] = proxy
            path = self.workdir / f"{gate.id}.toml"
            reader = "pcsc" if gate.pcsc else "fake"
            path.write_text(
                terminal_toml(self.workdir, gate.id, gate.direction, proxy.port, reader)
            )
            proc = Proc(
                gate.id,
                self._terminal_command(gate, path),
                self.workdir / f"{gate.id}.log",
                ready=self._answering(gate.id),
            )
            self.procs[gate.id] = proc.start(READY_TIMEOUT_S)
            self._stack.callback(proc.stop)

    def _answering(self, terminal: str) -> Callable[[], bool]:
        return lambda: self.terminal_state(terminal, timeout=1.0) is not None

    def _terminal_command(self, gate: Gate, config: Path) -> Any:
        def command() -> list[str]:
            clock = self.clocks[gate.id]
            return self.python(
                "sim.chaos.terminal_proc",
                "--config",
                str(config),
                "--control",
                str(self.control_path(gate.id)),
                "--journal",
                str(self.journal_path(gate.id)),
                *(["--pcsc"] if gate.pcsc else []),
                "--clock-offset",
                str(clock.offset_s),
                *([] if clock.synced else ["--clock-unsynced"]),
                *(["--rebooted"] if clock.rebooted else []),
            )

        return command

    def _pcscd(self) -> bool:
        self._stack.enter_context(machine_lock())  # the one vpcd reader is ours while we run
        pcscd = Pcscd()
        try:
            pcscd.ensure()
        except (OSError, RuntimeError) as exc:
            log.warning("no pcscd with the vpcd reader (%s): gate-1 uses the fake reader", exc)
            return False
        self._stack.callback(pcscd.close)
        self.card_reader = "pcscd + vpcd + BELPIC emulator"
        return True

    def python(self, module: str, *args: str) -> list[str]:
        """``python -m module args``, on the site's clock (``shifted``) when it is moved."""
        if not self.clock_offset_s:
            return [sys.executable, "-m", module, *args]
        return [sys.executable, "-m", "sim.chaos.shifted", str(self.clock_offset_s), module, *args]

    # --- what the campaign asks ----------------------------------------------------------------

    def control_path(self, terminal: str) -> Path:
        return self.workdir / f"{terminal}.sock"

    def journal_path(self, terminal: str) -> Path:
        return self.workdir / f"{terminal}.journal"

    def outbox_path(self, terminal: str) -> Path:
        return self.workdir / terminal / "outbox.db"

    def control(
        self, terminal: str, body: dict[str, Any], timeout: float = CONTROL_TIMEOUT_S
    ) -> dict[str, Any]:
        return request(self.control_path(terminal), body, timeout)

    def terminal_state(self, terminal: str, timeout: float = 2.0) -> dict[str, Any] | None:
        try:
            return self.control(terminal, {"op": "state"}, timeout)
        except (OSError, ValueError):
            return None

    def wait_configured(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Terminals leave set-up mode once the controller's site config reached them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [self.terminal_state(g.id) for g in self.gates]
            if all(s is not None and s["flow"] != "provisioning" for s in states):
                return
            time.sleep(0.2)
        raise RuntimeError(f"terminals never got the site config; see {self.workdir}")

    def manage(self, *args: str) -> str:
        import subprocess

        done = subprocess.run(
            self.python(
                "controller.cli",
                "--config",
                str(self.controller_config),
                *args,
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"sitegate-controller {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def nsso_admin(self, path: str, spec: dict[str, Any]) -> dict[str, Any]:
        import json
        import urllib.request

        req = urllib.request.Request(
            f"http://127.0.0.1:{self.nsso_port}{path}",
            data=json.dumps(spec).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=5) as answer:
            result: dict[str, Any] = json.loads(answer.read())
            return result


def _answers(port: int) -> bool:
    return wait_for_port("127.0.0.1", port, timeout=0.2)


def scratch_database(server_url: str, stack: ExitStack) -> str:
    """A new database on ``server_url`` (dropped when ``stack`` closes)."""
    import psycopg

    libpq = server_url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"sitegate_chaos_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with contextlib.suppress(psycopg.Error), psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    stack.callback(drop)
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"
