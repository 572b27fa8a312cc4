"""The campaign's own parts: the fault proxy, the seeded schedule and workload, the clocks
and the journal."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from presence.clock import SystemClock
from sim.chaos import journal
from sim.chaos.clock import SkewedClock
from sim.chaos.proxy import FaultProxy, PathFaults
from sim.chaos.scheduler import KINDS, draw
from sim.chaos.shifted import shift
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
    firsts: dict[int, float] = {}
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


def test_shifted_moves_the_clock_every_part_reads() -> None:
    real = SystemClock.now
    try:
        shift(3600.0)
        ahead = (SystemClock().now() - datetime.now(UTC)).total_seconds()
    finally:
        SystemClock.now = real  # type: ignore[method-assign]
    assert 3599.0 < ahead < 3601.0


def test_a_skewed_clock_jumps_when_told_and_keeps_monotonic_time_real() -> None:
    clock = SkewedClock(-5 * 3600.0, synced=False)
    behind = (datetime.now(UTC) - clock.now()).total_seconds()
    assert 5 * 3600 - 1 < behind < 5 * 3600 + 1 and not clock.synced()
    clock.set(0.0, True)
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 1 and clock.synced()
    assert abs(clock.monotonic() - time.monotonic()) < 1


def test_a_journal_line_torn_by_a_kill_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "gate-1.journal"
    whole = {
        "at": 1.0,
        "terminal": "gate-1",
        "decision": "refused",
        "reason": "unknown_person",
        "pattern": "refused",
        "event": None,
    }
    path.write_bytes(json.dumps(whole).encode() + b"\n" + b'{"at": 2.0, "termi')
    entries = list(journal.read(path))
    assert [e.reason for e in entries] == ["unknown_person"]
