"""Helpers for the controller tests: site files, check-ins, a test terminal on MQTT."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Table, func, select

from controller.store import Store
from presence import topics
from presence.events import CheckIn, Credential, encode, new_event_id
from presence.ids import Inss, LimosaId, WorkplaceId, parse_inss
from presence.messages import Ack, decode_acks
from sim.identifiers import with_inss_check
from sim.nsso.works import declared_site, render_works

WORKPLACE = "1Y102M7NZF7PZ"
COMPANY = "0403170701"
OTHER_COMPANY = "0202239951"


def inss(n: int) -> Inss:
    """The n-th valid national number of a synthetic crew (born 1985, n < 500); python-stdnum
    says which check digits fit."""
    return parse_inss(with_inss_check(f"850730{2 * n + 1:03d}"))


def limosa(n: int) -> LimosaId:
    return LimosaId(f"249{n:014d}")


def checkin(
    person: Inss | LimosaId,
    *,
    terminal: str = "gate-1",
    at: datetime | None = None,
    direction: str = "in",
    decision: str = "admitted",
    clock_synced: bool = True,
    seq: int = 1,
    workplace: str = WORKPLACE,
) -> CheckIn:
    if isinstance(person, Inss):
        credential = Credential("eid", person, "592123456789", date(2030, 1, 1))
    else:
        credential = Credential("l1_qr", person)
    return CheckIn(
        event_id=new_event_id(),
        terminal_id=terminal,
        workplace_id=WorkplaceId(workplace),
        seq=seq,
        scanned_at=at or datetime.now(UTC),
        clock_synced=clock_synced,
        credential=credential,
        direction=direction,  # type: ignore[arg-type]
        decision=decision,  # type: ignore[arg-type]
        reason="ok",
    )


def write_site(
    directory: Path,
    *,
    db_url: str,
    broker_port: int = 1883,
    registry: str = "http://127.0.0.1:9/PresenceRegistration/v1",
    client_id: str = "sitegate-controller",
    terminals: tuple[tuple[str, bool], ...] = (("gate-1", False), ("gate-2", False)),
    timing: str = (
        "relay_interval_s = 0.2\nretry_base_s = 0.2\nretry_max_s = 1.0\n"
        "poll_interval_s = 0.5\nin_doubt_grace_s = 0.0\n"
    ),
    name: str = "controller.toml",
    timeouts: tuple[float, float] = (1.0, 2.0),
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for terminal_id, revoked in terminals:
        lines += [
            "[[terminal]]",
            f'id = "{terminal_id}"',
            'direction = "in"',
            'cert_serial = "5f3a01"',
            f"revoked = {'true' if revoked else 'false'}",
        ]
    terminals_file = directory / "terminals.toml"
    if not terminals_file.exists():
        terminals_file.write_text("\n".join(lines) + "\n")
    path = directory / name
    path.write_text(
        f"""config_version = 1
[site]
workplace_id = "{WORKPLACE}"
company_id = "{COMPANY}"
name = "Test site"
terminals_file = "terminals.toml"
[broker]
host = "127.0.0.1"
port = {broker_port}
tls = false
client_id = "{client_id}"
session_expiry_s = 3600
[database]
url = "{db_url}"
[registry]
endpoint = "{registry}"
connect_timeout_s = {timeouts[0]}
read_timeout_s = {timeouts[1]}
[timing]
{timing}
[policy]
unknown_person = "refuse"
cooldown_s = 60
"""
    )
    return path


class FakeTerminal:
    """A bare MQTT terminal: publishes check-ins at QoS 1 and collects the controller's acks."""

    def __init__(self, port: int, terminal: str = "gate-1") -> None:
        self.terminal = terminal
        self.acks: queue.Queue[Ack] = queue.Queue()
        self.ack_messages: list[int] = []  # how many acks each ack message carried
        self.configs: queue.Queue[bytes] = queue.Queue()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"t-{terminal}-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(
            [(topics.ack_topic(WORKPLACE, terminal), 1), (topics.config_topic(WORKPLACE), 1)]
        )
        assert self._subscribed.wait(5)

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/config"):
            self.configs.put(bytes(message.payload))
        else:
            acks = decode_acks(bytes(message.payload))
            self.ack_messages.append(len(acks))
            for ack in acks:
                self.acks.put(ack)

    def send(self, event: CheckIn, topic_terminal: str | None = None) -> None:
        self.send_raw(encode(event), topic_terminal)

    def send_all(self, events: list[CheckIn]) -> None:
        for event in events:
            self.send(event)

    def send_burst(self, events: list[CheckIn]) -> None:
        """Publish all at once (QoS 1), then wait for the broker's PUBACKs."""
        topic = topics.checkin_topic(WORKPLACE, self.terminal)
        infos = [self.client.publish(topic, encode(event), qos=1) for event in events]
        for info in infos:
            info.wait_for_publish(5)

    def send_raw(self, payload: bytes, topic_terminal: str | None = None) -> None:
        topic = topics.checkin_topic(WORKPLACE, topic_terminal or self.terminal)
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def ack(self, timeout: float = 10.0) -> Ack:
        return self.acks.get(timeout=timeout)

    def acks_for(self, count: int, timeout: float = 20.0) -> dict[uuid.UUID, Ack]:
        found: dict[uuid.UUID, Ack] = {}
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while len(found) < count and not deadline.is_set():
                try:
                    ack = self.acks.get(timeout=0.2)
                except queue.Empty:
                    continue
                found[ack.event_id] = ack
        finally:
            timer.cancel()
        return found

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def at_time(event: CheckIn, moment: datetime) -> CheckIn:
    return replace(event, scanned_at=moment)


class ControllerProcess:
    """``python -m controller.cli --config F run`` as a real child process."""

    def __init__(self, config_path: Path, name: str = "controller") -> None:
        self.config_path = config_path
        self.log_path = config_path.parent / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> ControllerProcess:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "controller.cli", "--config", str(self.config_path), "run"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "controller ready" in self.log_path.read_text(errors="replace")[offset:]:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"controller did not become ready: {self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no clean-up, no last commit, no goodbye to the broker."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def write_works(path: Path, limosa_ids: tuple[str, ...] = ()) -> Path:
    """A declared-works file for the stand-in: our site, our contractor, known Limosa ids."""
    site = declared_site(WORKPLACE, [COMPANY], date(2020, 1, 1), date(2035, 12, 31),
                         list(limosa_ids))  # fmt: skip
    path.write_text(render_works(site))
    return path


class StandInAdmin:
    """The stand-in's admin endpoint, over HTTP like any client."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def faults(self, **spec: float) -> None:
        httpx.post(f"{self.base_url}/admin/faults", json=spec, timeout=5).raise_for_status()

    def reset_faults(self) -> None:
        self.faults(
            latency_s=0.0,
            http_503_share=0.0,
            system_error_retry=0,
            drop_after_processing=0,
            malformed=0,
        )

    def registrations(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.base_url}/admin/registrations", timeout=10)
        answer.raise_for_status()
        return list(answer.json())


def count_rows(store: Store, table: Table) -> int:
    with store.transaction() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
