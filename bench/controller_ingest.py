"""Benchmark: check-ins stored and acknowledged end to end by the controller.

Several publisher processes (like terminals) send check-ins at QoS 1 through a private
mosquitto to a real controller process (``sitegate-controller run``, SQLite by default).
Measured in one run:

- ``controller_eps``: events/s from the first publish to the last end-to-end ack;
- ``bare_eps``: the same load counted by a bare paho subscriber that stores nothing;
- ``ratio`` = controller_eps / bare_eps;
- ack latency p50/p99 (publish -> end-to-end ack) at a fixed rate (500 events/s).

Prints one JSON line.  Usage: ``python bench/controller_ingest.py [--db-url URL]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.mqtt import RECEIVE_MAXIMUM
from presence import topics
from presence.events import CheckIn, Credential, encode, new_event_id
from presence.ids import LimosaId, WorkplaceId
from presence.messages import decode_acks
from sim.mosquitto import MosquittoBroker
from sim.processes import free_port

WORKPLACE = "1Y102M7NZF7PZ"
PUBLISHERS = 4
FLOOD_EVENTS = 4000  # per publisher
RATE = 500.0  # events/s, all publishers together
RATE_SECONDS = 8.0
INFLIGHT = 100
# As sim.mosquitto's default, plus TCP_NODELAY (without it Nagle's algorithm holds small
# QoS 1 packets back for tens of milliseconds: mosquitto's set_tcp_nodelay defaults to false)
# and a window of 1000 unacknowledged messages towards a client: the controller acknowledges
# after each group commit, so a window of 100 caps it at 100 messages per commit cycle.
BROKER_CONFIG = (
    "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n"
    "max_inflight_messages 1000\npersistence true\npersistence_location {dir}/\n"
    "set_tcp_nodelay true\n"
)


def _event(terminal: str, seq: int, person: int) -> CheckIn:
    from datetime import UTC, datetime

    return CheckIn(
        event_id=new_event_id(),
        terminal_id=terminal,
        workplace_id=WorkplaceId(WORKPLACE),
        seq=seq,
        scanned_at=datetime.now(UTC),
        clock_synced=True,
        credential=Credential("l1_qr", LimosaId(f"249{person:014d}")),
        direction="in",
        decision="admitted",
        reason="ok",
    )


def _client(name: str, port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(INFLIGHT)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    _nodelay(client)
    return client


def _nodelay(client: mqtt.Client) -> None:
    """As a terminal should: no Nagle delay on small QoS 1 packets."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def publisher(
    index: int,
    port: int,
    count: int,
    rate: float | None,
    want_acks: bool,
    start_at: float,
    results: Any,
) -> None:
    """Publish ``count`` check-ins (paced at ``rate``/s when given); time their acks."""
    terminal = f"gate-{index}"
    sent: dict[str, float] = {}
    latencies: list[float] = []
    last_ack = [0.0]
    done = threading.Event()
    client = _client(f"bench-pub-{index}-{os.getpid()}", port)

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        now = time.time()
        for ack in decode_acks(bytes(message.payload)):
            started = sent.pop(str(ack.event_id), None)
            if started is not None:
                latencies.append(now - started)
                last_ack[0] = now
        if len(latencies) >= count:
            done.set()

    subscribed = threading.Event()
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.loop_start()
    if want_acks:
        client.subscribe(topics.ack_topic(WORKPLACE, terminal), qos=1)
        subscribed.wait(10)
    payloads = []
    for seq in range(count):
        event = _event(terminal, seq, index * 1_000_000 + seq)
        payloads.append((str(event.event_id), encode(event)))
    while time.time() < start_at:
        time.sleep(0.001)
    first = time.time()
    topic = topics.checkin_topic(WORKPLACE, terminal)
    infos = []
    for seq, (event_id, payload) in enumerate(payloads):
        if rate:
            due = first + seq / rate
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
        sent[event_id] = time.time()
        infos.append(client.publish(topic, payload, qos=1))
    for info in infos:
        info.wait_for_publish(60)
    if want_acks:
        done.wait(120)
    client.disconnect()
    client.loop_stop()
    results.put(
        {
            "first": first,
            "last_ack": last_ack[0],
            "latencies": latencies,
            "cpu_s": time.process_time(),
        }
    )


def bare_subscriber(port: int, expected: int, ready: Any, results: Any) -> None:
    """Counts check-ins at QoS 1 (paho's automatic acks) and does nothing else."""
    count = [0]
    last = [0.0]
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=mqtt.MQTTv5)

    def on_message(_c: object, _u: object, _m: mqtt.MQTTMessage) -> None:
        count[0] += 1
        last[0] = time.time()
        if count[0] >= expected:
            done.set()

    client.on_message = on_message
    client.on_subscribe = lambda *a: ready.set()
    # The controller's session settings (persistent session, same receive window), so that
    # the baseline is not cheaper for the broker than the controller.
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = RECEIVE_MAXIMUM
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    _nodelay(client)
    client.subscribe(topics.subscription(WORKPLACE, "checkin"), qos=1)
    client.loop_start()
    done.wait(120)
    client.disconnect()
    client.loop_stop()
    results.put({"count": count[0], "last": last[0]})


def _run_publishers(port: int, count: int, rate: float | None, want_acks: bool) -> list[dict]:
    results: Any = mp.Queue()
    start_at = time.time() + 1.0
    per_rate = rate / PUBLISHERS if rate else None
    procs = [
        mp.Process(
            target=publisher, args=(i + 1, port, count, per_rate, want_acks, start_at, results)
        )
        for i in range(PUBLISHERS)
    ]
    for proc in procs:
        proc.start()
    out = [results.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(30)
    return out


def _write_site(directory: Path, port: int, db_url: str) -> Path:
    gates = "".join(
        f'[[terminal]]\nid = "gate-{i + 1}"\ndirection = "in"\ncert_serial = "01"\n'
        "revoked = false\n"
        for i in range(PUBLISHERS)
    )
    (directory / "terminals.toml").write_text(gates)
    path = directory / "controller.toml"
    path.write_text(
        f'config_version = 1\n[site]\nworkplace_id = "{WORKPLACE}"\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {port}\ntls = false\n'
        f'client_id = "bench-controller"\n[database]\nurl = "{db_url}"\n'
        f'[registry]\nendpoint = "http://127.0.0.1:{free_port()}/PresenceRegistration/v1"\n'
        "[timing]\nretry_base_s = 300.0\nretry_max_s = 300.0\n"
    )
    return path


def _broker_pid(broker: MosquittoBroker) -> int:
    process = broker._process
    assert process is not None
    return process.pid


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    import subprocess

    workdir = Path(tempfile.mkdtemp(prefix="sitegate-bench-"))
    db_url = args.db_url or f"sqlite:///{workdir / 'controller.db'}"
    broker = MosquittoBroker(config=BROKER_CONFIG).start()
    config = _write_site(workdir, broker.port, db_url)
    log = (workdir / "controller.log").open("wb")
    controller = subprocess.Popen(
        [sys.executable, "-m", "controller.cli", "--config", str(config), "run"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        deadline = time.time() + 30
        while "controller ready" not in (workdir / "controller.log").read_text():
            if time.time() > deadline or controller.poll() is not None:
                raise RuntimeError("controller did not start")
            time.sleep(0.05)
        cpu_before = _cpu_seconds(controller.pid)
        broker_before = _cpu_seconds(_broker_pid(broker))
        flood = _run_publishers(broker.port, FLOOD_EVENTS, None, True)
        controller_cpu = _cpu_seconds(controller.pid) - cpu_before
        broker_cpu = _cpu_seconds(_broker_pid(broker)) - broker_before
        total = FLOOD_EVENTS * PUBLISHERS
        acked = sum(len(r["latencies"]) for r in flood)
        elapsed = max(r["last_ack"] for r in flood) - min(r["first"] for r in flood)
        controller_eps = acked / elapsed
        paced_count = int(RATE * RATE_SECONDS / PUBLISHERS)
        paced = _run_publishers(broker.port, paced_count, RATE, True)
        latencies = [x for r in paced for x in r["latencies"]]
        paced_elapsed = max(r["last_ack"] for r in paced) - min(r["first"] for r in paced)
    finally:
        controller.terminate()
        controller.wait(30)
        log.close()
    ready = mp.Event()
    results: Any = mp.Queue()
    bare = mp.Process(target=bare_subscriber, args=(broker.port, total, ready, results))
    bare.start()
    ready.wait(10)
    pubs = _run_publishers(broker.port, FLOOD_EVENTS, None, False)
    counted = results.get(timeout=300)
    bare.join(30)
    broker.close()
    bare_eps = counted["count"] / (counted["last"] - min(r["first"] for r in pubs))
    print(
        json.dumps(
            {
                "bench": "controller_ingest",
                "db": db_url.split(":", 1)[0],
                "publishers": PUBLISHERS,
                "events": total,
                "acked": acked,
                "controller_eps": round(controller_eps, 1),
                "controller_cpu_us_per_event": round(controller_cpu / acked * 1e6, 1),
                "flood_s": round(elapsed, 2),
                "broker_cpu_s": round(broker_cpu, 2),
                "publishers_cpu_s": round(sum(r["cpu_s"] for r in flood), 2),
                "controller_cpu_s": round(controller_cpu, 2),
                "bare_eps": round(bare_eps, 1),
                "ratio": round(controller_eps / bare_eps, 3),
                "paced_rate_eps": RATE,
                "paced_events": len(latencies),
                "paced_achieved_eps": round(len(latencies) / paced_elapsed, 1),
                "ack_p50_ms": round(statistics.median(latencies) * 1000, 2),
                "ack_p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
                "cpus": os.cpu_count(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
