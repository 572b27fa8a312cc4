"""The campaign's own parts: the fault proxy, the seeded schedule and workload."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import date

import pytest

from sim.chaos.proxy import FaultProxy, PathFaults
from sim.chaos.scheduler import KINDS, draw
from sim.chaos.workload import make_workload

TERMINALS = ["gate-1", "gate-2", "gate-3"]
PATHS = ["gate-1-broker", "gate-2-broker", "gate-3-broker", "controller-nsso"]


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    server.close()


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(1024):
            conn.sendall(data)


def _round_trip(port: int, timeout: float = 3.0) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        started = time.monotonic()
        sock.sendall(b"ping")
        assert sock.recv(16) == b"ping"
        return time.monotonic() - started


def test_the_proxy_delays_each_way_by_its_latency(echo_port: int) -> None:
    proxy = FaultProxy(echo_port, seed=1).start()
    try:
        proxy.set(PathFaults(latency_s=0.15))
        assert 0.3 <= _round_trip(proxy.port) < 1.0
    finally:
        proxy.close()


def test_a_partition_stalls_the_path_until_it_heals(echo_port: int) -> None:
    proxy = FaultProxy(echo_port, seed=1).start()
    try:
        proxy.set(PathFaults(partition=True))
        with pytest.raises(TimeoutError):
            _round_trip(proxy.port, timeout=0.5)
        proxy.set(PathFaults())
        time.sleep(0.05)
        assert _round_trip(proxy.port) < 0.5
    finally:
        proxy.close()


def test_loss_delays_chunks_by_retransmission_timeouts_never_drops_them(echo_port: int) -> None:
    proxy = FaultProxy(echo_port, seed=3).start()
    try:
        proxy.set(PathFaults(loss=0.6))
        times = [_round_trip(proxy.port) for _ in range(6)]
        assert max(times) >= 0.2  # at least one chunk waited for a retransmission
    finally:
        proxy.close()


def test_a_seed_draws_the_same_fault_schedule_again() -> None:
    first = draw(7, 50.0, TERMINALS, PATHS)
    assert first == draw(7, 50.0, TERMINALS, PATHS)
    assert first != draw(8, 50.0, TERMINALS, PATHS)


def test_no_target_is_in_two_faults_at_once() -> None:
    for seed in range(20):
        busy: dict[str, float] = {}
        for fault in draw(seed, 120.0, TERMINALS, PATHS, mean_gap_s=1.0):
            assert busy.get(fault.target, 0.0) <= fault.at, (seed, fault)
            busy[fault.target] = fault.at + fault.duration
            assert fault.kind in KINDS


def test_the_rush_comes_early_and_people_who_must_be_refused_are_known() -> None:
    load = make_workload(5, 200, 100.0, ["gate-1", "gate-2"], ["gate-3"], date(2026, 3, 2))
    firsts = {}
    for item in load.passes:
        firsts.setdefault(item.person, item.at)
    early = sum(1 for at in firsts.values() if at < 40.0)
    assert early > 0.6 * len(firsts)
    refused = {p.role for p in load.people if not p.expect_admitted}
    assert {"expired", "off_roster", "bank", "not_l1", "bad_code"} >= refused
    assert len(refused) >= 3
    assert any(p.both_ids for p in load.people)
    baseline = make_workload(5, 200, 100.0, ["gate-1"], [], date(2026, 3, 2), "baseline")
    assert not any(p.both_ids for p in baseline.people)
