"""The terminal as a process: SIGKILL between admission and publication, SIGTERM, systemd."""

from __future__ import annotations

import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.mosquitto import MosquittoBroker
from sim.processes import free_port
from terminal.outbox import Outbox
from tests.terminal.controller_stub import ControllerStub, wait_until
from tests.terminal.people import ALICE
from tests.terminal.sample_config import sim_config, write

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
READ_TIMEOUT_S = 10.0


class TerminalProcess:
    def __init__(self, config: Path, clock: str = "synced", env: dict[str, str] | None = None):
        self.stderr_path = config.parent / f"terminal-{uuid.uuid4().hex[:6]}.log"
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.terminal.terminal_process", str(config), clock],
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                text=True, env={**os.environ, **(env or {})},
            )  # fmt: skip

    def type(self, digits: str) -> str:
        """Type on the keypad; returns the decision line once the gate has moved."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"type {digits}\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], READ_TIMEOUT_S)
        assert ready, f"no decision within {READ_TIMEOUT_S} s: {self.stderr()}"
        return self.proc.stdout.readline().strip()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def kill(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=15)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def processes() -> Iterator[list[TerminalProcess]]:
    started: list[TerminalProcess] = []
    yield started
    for process in started:
        process.close()


@pytest.fixture
def offline_broker() -> Iterator[MosquittoBroker]:
    """A broker on a port nobody listens on yet: the test starts it when it wants."""
    broker = MosquittoBroker(port=free_port())
    yield broker
    broker.close()


def outbox_ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT event_id FROM outbox ORDER BY seq")]


def test_an_admission_killed_before_publication_is_delivered_once_after_restart(
    tmp_path: Path, offline_broker: MosquittoBroker, processes: list[TerminalProcess]
) -> None:
    config = write(tmp_path, sim_config(tmp_path / "state", port=offline_broker.port,
                                        unknown_person="admit_and_flag"))  # fmt: skip
    first = TerminalProcess(config)
    processes.append(first)
    decision, reason, event_id = first.type(ALICE.digits).split()[1:]
    assert (decision, reason) == ("admitted", "unknown_person_admitted")
    assert first.kill(signal.SIGKILL) == -signal.SIGKILL
    outbox = tmp_path / "state" / "outbox.db"
    assert outbox_ids(outbox) == [event_id]

    offline_broker.start()
    controller = ControllerStub(offline_broker.port).start()
    try:
        second = TerminalProcess(config)
        processes.append(second)
        assert wait_until(lambda: outbox_ids(outbox) == [], timeout=15), second.stderr()
        assert second.kill(signal.SIGTERM) == 0
        deliveries = [str(e.event_id) for e in controller.deliveries]
        assert deliveries == [event_id]
        [stored] = controller.stored_in_order()
        assert stored.decision == "admitted" and stored.credential.person == ALICE
    finally:
        controller.stop()


def test_sigterm_locks_the_gate_closes_the_outbox_and_says_offline(
    tmp_path: Path, offline_broker: MosquittoBroker, processes: list[TerminalProcess]
) -> None:
    offline_broker.start()
    controller = ControllerStub(offline_broker.port).start()
    config = write(tmp_path, sim_config(tmp_path / "state", port=offline_broker.port))
    process = TerminalProcess(config)
    processes.append(process)
    try:
        assert wait_until(lambda: controller.says("online"), timeout=15)
        assert process.kill(signal.SIGTERM) == 0
        log = process.stderr()
        assert "signal SIGTERM: stopping" in log
        assert "gate relay in its safe state (locked)" in log
        assert "terminal gate-1 stopped" in log
        assert not (tmp_path / "state" / "outbox.db-wal").exists()  # closed cleanly
        Outbox(tmp_path / "state" / "outbox.db").close()
        assert wait_until(lambda: controller.says("offline"))
    finally:
        controller.stop()


def test_a_killed_terminal_leaves_its_last_will_offline(
    tmp_path: Path, offline_broker: MosquittoBroker, processes: list[TerminalProcess]
) -> None:
    offline_broker.start()
    controller = ControllerStub(offline_broker.port).start()
    config = write(tmp_path, sim_config(tmp_path / "state", port=offline_broker.port))
    process = TerminalProcess(config)
    processes.append(process)
    try:
        assert wait_until(lambda: controller.says("online"), timeout=15)
        process.kill(signal.SIGKILL)
        assert wait_until(lambda: controller.says("offline"))
    finally:
        controller.stop()


def test_an_unsynchronised_clock_is_marked_in_the_published_event(
    tmp_path: Path, offline_broker: MosquittoBroker, processes: list[TerminalProcess]
) -> None:
    offline_broker.start()
    controller = ControllerStub(offline_broker.port).start()
    config = write(tmp_path, sim_config(tmp_path / "state", port=offline_broker.port,
                                        unknown_person="admit_and_flag"))  # fmt: skip
    process = TerminalProcess(config, clock="unsynced")
    processes.append(process)
    try:
        process.type(ALICE.digits)
        assert wait_until(lambda: len(controller.stored) == 1)
        [event] = controller.stored_in_order()
        assert event.clock_synced is False
        assert wait_until(lambda: (s := controller.last_status()) is not None
                          and s.clock_synced is False)  # fmt: skip
    finally:
        controller.stop()


def test_systemd_hears_ready_then_watchdog_pings_then_stopping(
    tmp_path: Path, processes: list[TerminalProcess]
) -> None:
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(10)
    config = write(tmp_path, sim_config(tmp_path / "state", port=free_port()))
    process = TerminalProcess(config, env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"})
    processes.append(process)
    try:
        received = [listener.recv(256).decode() for _ in range(3)]
        assert received[0] == "READY=1"
        assert received[1:] == ["WATCHDOG=1", "WATCHDOG=1"]
        assert process.kill(signal.SIGTERM) == 0
        rest = []
        while (message := listener.recv(256).decode()) != "STOPPING=1":
            rest.append(message)
        assert set(rest) <= {"WATCHDOG=1"}
    finally:
        listener.close()
