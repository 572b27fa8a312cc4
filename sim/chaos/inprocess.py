"""A small site in one process, for the fast property test of short fault schedules.

Only mosquitto runs as its own process; the NSSO stand-in serves from a thread, the
controller (ingest and relay threads) and the terminals (``VirtualTerminal``) run here too,
so a site starts in about a second. Faults here are the ones a process can play on itself:
the broker stopped, the controller or a terminal stopped and started again (a restart
rather than a SIGKILL: the process campaign does those), NSSO's own faults, latency and
partitions on the proxies, a check-in delivered twice. The checker is the campaign's.
"""

from __future__ import annotations

import contextlib
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from controller import config as controller_config
from controller.roster import import_file
from controller.service import Controller
from controller.store import open_store
from sim.chaos import checker
from sim.chaos.clock import SkewedClock
from sim.chaos.journal import JournalWriter
from sim.chaos.proxy import FaultProxy, PathFaults
from sim.chaos.site import controller_toml, gates
from sim.chaos.terminal_proc import card_from_request
from sim.chaos.workload import Pass, Workload, control_request, write_roster
from sim.crew import write_declared_works
from sim.demo_site import WORKPLACE, terminal_toml
from sim.mosquitto import MosquittoBroker
from sim.nsso.server import StandIn
from sim.virtual_terminal import VirtualTerminal
from terminal.flows.checkin import Decided

VALIDATION_DELAY_S = 0.5
# Its network only delays by LATENCY_S (no loss): an unanswered batch is looked up after a
# few seconds without breaking the product's assumption that the request has landed by then.
LATENCY_S = 0.3
IN_DOUBT_GRACE_S = 3.0
RETRY_PAUSE_S = 1.2  # beyond the camera's repeat window: a code shown again counts again
OPEN_WORK = text(
    "SELECT (SELECT count(*) FROM presences WHERE state IN ('pending', 'sent', 'registered'))"
    " + (SELECT count(*) FROM registry_batches WHERE state IN ('sending', 'in_doubt'))"
)
FAULT_KINDS = (
    "broker",
    "controller",
    "terminal",
    "nsso_503",
    "nsso_drop",
    "nsso_malformed",
    "nsso_system_error",
    "partition",
    "latency",
    "duplicate",
)


@dataclass(frozen=True, slots=True)
class Step:
    """A fault of the short schedule: at ``at`` s, for ``duration`` s, on ``target``."""

    at: float
    kind: str
    target: int  # which terminal (or path), modulo their number
    duration: float


class InProcessSite:
    def __init__(self, workdir: Path, workload: Workload, today: date, gate_count: int = 3):
        self.workdir = workdir
        self.workload = workload
        self.today = today
        self.gates = gates(gate_count, pcsc=False)
        self.terminals: dict[str, VirtualTerminal] = {}
        self.journals: dict[str, JournalWriter] = {}
        self.proxies: dict[str, FaultProxy] = {}
        self._stack = ExitStack()
        self._lock = threading.Lock()
        self.controller: Controller | None = None
        self.seen: list[tuple[str, bytes]] = []

    # --- start and stop --------------------------------------------------------------------

    def __enter__(self) -> InProcessSite:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        self.broker = self._stack.enter_context(MosquittoBroker())
        works = self.workdir / "works.toml"
        write_declared_works(WORKPLACE, self.workload.crew, self.today, works)
        self.nsso_db = self.workdir / "nsso.db"
        self.nsso = StandIn(self.nsso_db, works, validation_delay_s=VALIDATION_DELAY_S).start()
        self._stack.callback(self.nsso.close)
        nsso_proxy = self._proxy("controller-nsso", self.nsso.port)
        self.db_url = f"sqlite:///{self.workdir / 'controller.db'}"
        path = self.workdir / "controller.toml"
        path.write_text(
            controller_toml(self.db_url, self.broker.port, nsso_proxy.port, IN_DOUBT_GRACE_S)
        )
        (self.workdir / "terminals.toml").write_text(
            "".join(
                f'[[terminal]]\nid = "{g.id}"\ndirection = "{g.direction}"\ncert_serial = ""\n'
                "revoked = false\n\n"
                for g in self.gates
            )
        )
        self.config = controller_config.load(path)
        self.store = open_store(self.db_url)
        self._stack.callback(self.store.close)
        roster = self.workdir / "roster.csv"
        write_roster(self.workload.people, roster)
        import_file(self.store, roster)
        self.start_controller()
        self._stack.callback(self.stop_controller)
        for gate in self.gates:
            proxy = self._proxy(f"{gate.id}-broker", self.broker.port)
            config = self.workdir / f"{gate.id}.toml"
            config.write_text(
                terminal_toml(self.workdir, gate.id, gate.direction, proxy.port, "fake")
            )
            self.journals[gate.id] = JournalWriter(self.workdir / f"{gate.id}.journal", gate.id)
            self._stack.callback(self.journals[gate.id].close)
            self.start_terminal(gate.id)
        self._stack.callback(self._stop_terminals)
        self._spy()
        self.wait_configured()

    def _proxy(self, name: str, port: int) -> FaultProxy:
        proxy = FaultProxy(port, len(self.proxies) + 1, name).start()
        self._stack.callback(proxy.close)
        self.proxies[name] = proxy
        return proxy

    def _spy(self) -> None:
        """An MQTT client that sees every check-in, to deliver one a second time."""
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="inprocess-spy", protocol=mqtt.MQTTv5
        )
        client.on_connect = lambda c, *_: c.subscribe(f"sitegate/v1/{WORKPLACE}/+/checkin", 1)
        client.on_message = lambda _c, _u, m: self.seen.append((m.topic, bytes(m.payload)))
        client.reconnect_delay_set(1, 1)
        client.connect_async("127.0.0.1", self.broker.port)
        client.loop_start()
        self.spy = client
        self._stack.callback(client.disconnect)
        self._stack.callback(client.loop_stop)

    def start_controller(self) -> None:
        self.controller = Controller(self.config, self.store)
        self.controller.start()

    def stop_controller(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def start_terminal(self, terminal: str) -> None:
        clock = SkewedClock()
        vt = VirtualTerminal(
            self.workdir / f"{terminal}.toml", clock=clock, clock_probe=clock.synced
        )
        journal = self.journals[terminal]

        def record(decided: Decided) -> None:
            journal.write(decided, vt.app.gate.pattern)

        vt.app.flow.observers.insert(0, record)
        self.terminals[terminal] = vt.start()

    def stop_terminal(self, terminal: str) -> None:
        with self._lock:
            vt = self.terminals.pop(terminal, None)
        if vt is not None:
            vt.stop()

    def _stop_terminals(self) -> None:
        for terminal in list(self.terminals):
            self.stop_terminal(terminal)

    def wait_configured(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(t.app.flow.state != "provisioning" for t in self.terminals.values()):
                return
            time.sleep(0.05)
        raise RuntimeError("terminals never got the site config")

    # --- people and faults -------------------------------------------------------------------

    def present(self, item: Pass) -> dict[str, Any] | None:
        """Play one pass; None when the terminal is down at that moment."""
        vt = self.terminals.get(item.gate)
        if vt is None:
            return None
        request = control_request(self.workload.people[item.person], item.how)
        op = request["op"]
        try:
            if op == "card":
                outcome = vt.present_card(card_from_request(request["card"]))
            elif op == "qr":
                outcome = vt.show_qr(request["text"])
            else:
                outcome = vt.type_keys(request["text"])
        except Exception as exc:  # stopped under our feet: the person tries later
            return {"error": f"{type(exc).__name__}: {exc}"}
        if outcome.decided.verdict.admitted:
            with contextlib.suppress(Exception):
                vt.walk_through()
        return {"decision": outcome.decided.verdict.decision}

    def inject(self, step: Step) -> None:
        gate = self.gates[step.target % len(self.gates)].id
        if step.kind == "broker":
            self.broker.stop()
        elif step.kind == "controller":
            self.stop_controller()
        elif step.kind == "terminal":
            self.stop_terminal(gate)
        elif step.kind.startswith("nsso_"):
            self.nsso.admin("/admin/faults", _nsso(step.kind, on=True))
        elif step.kind == "partition":
            self._path(step).set(PathFaults(partition=True))
        elif step.kind == "latency":
            self._path(step).set(PathFaults(latency_s=LATENCY_S))
        elif step.kind == "duplicate" and self.seen:
            topic, payload = self.seen[step.target % len(self.seen)]
            self.spy.publish(topic, payload, qos=1)

    def heal(self, step: Step) -> None:
        gate = self.gates[step.target % len(self.gates)].id
        if step.kind == "broker" and not self.broker.running:
            self.broker.start()
        elif step.kind == "controller" and self.controller is None:
            self.start_controller()
        elif step.kind == "terminal" and gate not in self.terminals:
            self.start_terminal(gate)
        elif step.kind.startswith("nsso_"):
            self.nsso.admin("/admin/faults", _nsso(step.kind, on=False))
        elif step.kind in ("partition", "latency"):
            self._path(step).set(PathFaults())

    def _path(self, step: Step) -> FaultProxy:
        paths = sorted(self.proxies)
        return self.proxies[paths[step.target % len(paths)]]

    def settle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            depth = sum(t.outbox_depth for t in self.terminals.values())
            with self.store.transaction() as conn:
                open_ = conn.execute(OPEN_WORK).scalar_one()
            if not depth and not open_:
                return True
            time.sleep(0.2)
        return False

    def sources(self) -> checker.Sources:
        terminals = [g.id for g in self.gates]
        return checker.Sources(
            terminals=terminals,
            journal={t: self.workdir / f"{t}.journal" for t in terminals},
            outbox={t: self.workdir / t / "outbox.db" for t in terminals},
            logs={},
            db_url=self.db_url,
            nsso_db=self.nsso_db,
            exits=[],
        )


def _nsso(kind: str, on: bool) -> dict[str, Any]:
    if kind == "nsso_503":
        return {"http_503_share": 1.0 if on else 0.0}
    counter = {
        "nsso_drop": "drop_after_processing",
        "nsso_malformed": "malformed",
        "nsso_system_error": "system_error_retry",
    }[kind]
    return {counter: 2 if on else 0}


def play(site: InProcessSite, passes: list[Pass], steps: list[Step]) -> None:
    """The passes in order at their times, each gate in its own thread; the faults beside."""
    started = time.monotonic()
    errors: list[BaseException] = []

    def lane(items: list[Pass]) -> None:
        for item in items:
            time.sleep(max(0.0, item.at - (time.monotonic() - started)))
            for _ in range(40):  # a terminal that is down: the person waits for it
                answer = site.present(item)
                if answer is not None and "error" not in answer:
                    break
                time.sleep(RETRY_PAUSE_S)

    def fault(step: Step) -> None:
        try:
            time.sleep(max(0.0, step.at - (time.monotonic() - started)))
            site.inject(step)
            time.sleep(step.duration)
            site.heal(step)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    by_gate: dict[str, list[Pass]] = {}
    for item in passes:
        by_gate.setdefault(item.gate, []).append(item)
    threads = [threading.Thread(target=lane, args=(items,)) for items in by_gate.values()]
    threads += [threading.Thread(target=fault, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
