"""One controller per identity: the lease, on SQLite and PostgreSQL, and with real processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import lease as lease_module
from controller import schema
from controller.config import ControllerConfig
from controller.lease import Lease, LeaseHeld, LeaseLost
from controller.service import Controller
from controller.store import Store, open_store
from presence.clock import ManualClock
from sim.mosquitto import MosquittoBroker
from tests.controller.support import ControllerProcess, wait_until, write_site

IDENTITY = "sitegate-controller"


def _dead_pid() -> int:
    done = subprocess.run(["true"], check=True)
    assert done.returncode == 0
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_second_holder_of_the_same_identity_is_refused_naming_the_first(store: Store) -> None:
    first = Lease(store, IDENTITY, holder="office-pc:4242:aaaa")
    first.acquire()
    with pytest.raises(LeaseHeld) as refused:
        Lease(store, IDENTITY).acquire()
    assert refused.value.code == "lease_held"
    assert "office-pc:4242:aaaa" in str(refused.value) and "until" in str(refused.value)


def test_another_identity_is_not_held_up(store: Store) -> None:
    Lease(store, IDENTITY).acquire()
    Lease(store, "sitegate-controller-2").acquire()


def test_a_lease_past_its_expiry_is_taken_over_and_its_old_holder_learns_it(store: Store) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    stalled = Lease(store, IDENTITY, clock, holder="office-pc:4242:aaaa")
    stalled.acquire()
    clock.advance(lease_module.LEASE_S - 1)
    with pytest.raises(LeaseHeld):
        Lease(store, IDENTITY, clock).acquire()
    clock.advance(2)
    successor = Lease(store, IDENTITY, clock)
    successor.acquire()
    with pytest.raises(LeaseLost):
        stalled.renew()
    successor.renew()


def test_a_renewed_lease_is_not_taken_over(store: Store) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    running = Lease(store, IDENTITY, clock, holder="office-pc:4242:aaaa")
    running.acquire()
    for _ in range(5):
        clock.advance(lease_module.RENEW_S)
        running.renew()
    with pytest.raises(LeaseHeld):
        Lease(store, IDENTITY, clock).acquire()


def test_the_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(store: Store) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    killed = Lease(store, IDENTITY, clock, holder=f"{socket.gethostname()}:{_dead_pid()}:dead")
    killed.acquire()
    Lease(store, IDENTITY, clock).acquire()  # no wait for the expiry
    with pytest.raises(LeaseLost):
        killed.renew()


def test_a_released_lease_lets_the_next_controller_start_at_once(store: Store) -> None:
    first = Lease(store, IDENTITY)
    first.acquire()
    first.release()
    Lease(store, IDENTITY).acquire()


def test_of_many_controllers_racing_for_a_stale_lease_exactly_one_wins(store: Store) -> None:
    stale = datetime.now(UTC) - timedelta(minutes=1)
    with store.transaction() as conn:
        conn.execute(schema.controller_leases.insert().values(
            identity=IDENTITY, holder="elsewhere:1:old", acquired_at=stale, renewed_at=stale,
            expires_at=stale))  # fmt: skip
    contenders = [Lease(store, IDENTITY) for _ in range(8)]
    start = threading.Barrier(len(contenders))
    won: list[Lease] = []

    def race(lease: Lease) -> None:
        start.wait()
        try:
            lease.acquire()
            won.append(lease)
        except LeaseHeld:
            pass

    threads = [threading.Thread(target=race, args=(c,)) for c in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(won) == 1
    with store.transaction() as conn:
        holder = conn.execute(select(schema.controller_leases.c.holder)).scalar_one()
    assert holder == won[0].holder


def test_two_controller_objects_with_one_client_id_do_not_both_run(
    broker_config: ControllerConfig,
) -> None:
    store = open_store(broker_config.database.url)
    first = Controller(broker_config, store, with_relay=False)
    second = Controller(broker_config, store, with_relay=False)
    first.start()
    try:
        with pytest.raises(LeaseHeld):
            second.start()
        assert not second.ingest.alive
    finally:
        first.stop()
    second.start()  # a clean stop released it
    second.stop()
    store.close()


def test_a_controller_whose_lease_was_taken_over_stops_being_healthy(
    broker_config: ControllerConfig, monkeypatch: pytest.MonkeyPatch, logged_errors
) -> None:
    monkeypatch.setattr(lease_module, "RENEW_S", 0.1)
    logged_errors.expect("lost the lease")
    store = open_store(broker_config.database.url)
    controller = Controller(broker_config, store, with_relay=False)
    controller.start()
    try:
        with store.transaction() as conn:
            conn.execute(schema.controller_leases.update().values(holder="elsewhere:1:new"))
        assert wait_until(lambda: not controller.healthy, timeout=5)
    finally:
        controller.stop()
        store.close()


@pytest.mark.integration
def test_a_second_run_with_the_same_client_id_exits_at_once_naming_the_holder(
    tmp_path: Path, db_url: str, mosquitto: MosquittoBroker
) -> None:
    config = write_site(tmp_path / "site", db_url=db_url, broker_port=mosquitto.port)
    first = ControllerProcess(config).start()
    try:
        assert first.process is not None
        second = subprocess.run(
            [sys.executable, "-m", "controller.cli", "--config", str(config), "run"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert second.returncode == 1
        assert "[lease_held]" in second.stderr
        assert f"{socket.gethostname()}:{first.process.pid}:" in second.stderr
        assert first.process.poll() is None, "the first controller must carry on"
    finally:
        first.stop()


@pytest.mark.integration
def test_a_sigkilled_controller_is_restarted_at_once(
    tmp_path: Path, db_url: str, mosquitto: MosquittoBroker
) -> None:
    config = write_site(tmp_path / "site", db_url=db_url, broker_port=mosquitto.port)
    controller = ControllerProcess(config).start()
    try:
        controller.kill()
        controller.start(timeout=10)  # well within the 15 s a stale lease would last
    finally:
        assert controller.stop() == 0
