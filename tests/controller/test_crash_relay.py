"""Real controller processes against the real stand-in: SIGKILL during relay, and two
controllers sharing one PostgreSQL database. Each presence is registered exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import checkins, schema
from controller.store import Store, open_store
from presence.events import encode
from sim.mosquitto import MosquittoBroker
from sim.nsso.server import StandIn
from tests.controller.support import (
    ControllerProcess,
    FakeTerminal,
    StandInAdmin,
    checkin,
    limosa,
    wait_until,
    write_site,
)

pytestmark = pytest.mark.integration
DONE = {"registered", "validated"}


def _states(store: Store) -> Counter[str]:
    with store.transaction() as conn:
        return Counter(conn.execute(select(schema.presences.c.state)).scalars())


def _assert_registered_exactly_once(store: Store, admin: StandInAdmin, count: int) -> None:
    registrations = admin.registrations()
    refs = Counter(r["client_reference"] for r in registrations)
    assert len(registrations) == count, f"{len(registrations)} registrations for {count}"
    assert set(refs.values()) == {1}
    with store.transaction() as conn:
        ours = dict(
            conn.execute(select(schema.presences.c.client_ref, schema.presences.c.receipt_id)).all()
        )
    assert ours == {r["client_reference"]: r["receipt_id"] for r in registrations}


def test_sigkill_during_relay_then_restart_registers_each_presence_once(
    tmp_path: Path,
    db_url: str,
    mosquitto: MosquittoBroker,
    stand_in: StandIn,
    admin: StandInAdmin,
) -> None:
    config = write_site(
        tmp_path / "site",
        db_url=db_url,
        broker_port=mosquitto.port,
        registry=stand_in.endpoint,
        timeouts=(0.5, 1.0),
    )
    store = open_store(db_url)
    now = datetime.now(UTC)
    with store.transaction() as conn:
        for n in range(30):
            event = checkin(limosa(n))
            checkins.record(store, conn, event, encode(event), now, 300)
    admin.faults(latency_s=0.6)
    controller = ControllerProcess(config)
    try:
        controller.start()
        assert wait_until(lambda: _states(store)["sent"] > 0, timeout=10)
        controller.kill()  # the batch is on the wire: its answer is lost
        assert _states(store)["sent"] == 30
        admin.reset_faults()
        controller.start()
        assert wait_until(lambda: sum(_states(store)[s] for s in DONE) == 30, timeout=25), (
            f"{_states(store)}\n{controller.log()[-3000:]}"
        )
        _assert_registered_exactly_once(store, admin, 30)
    finally:
        controller.stop()
        store.close()


def test_two_controllers_on_one_postgresql_share_the_work_without_double_sending(
    tmp_path: Path,
    pg_url: str,
    mosquitto: MosquittoBroker,
    stand_in: StandIn,
    admin: StandInAdmin,
) -> None:
    configs = [
        write_site(
            tmp_path / "site",
            db_url=pg_url,
            broker_port=mosquitto.port,
            registry=stand_in.endpoint,
            client_id=f"controller-{n}",
            name=f"controller-{n}.toml",
        )
        for n in (1, 2)
    ]
    controllers = [ControllerProcess(c, name=c.stem) for c in configs]
    store = open_store(pg_url)
    terminal = FakeTerminal(mosquitto.port)
    admin.faults(latency_s=0.3)  # batches overlap in time: both relays must claim
    events = 400
    try:
        for controller in controllers:
            controller.start()
        sender = threading.Thread(
            target=terminal.send_all, args=([checkin(limosa(n)) for n in range(events)],)
        )
        sender.start()
        sender.join(30)
        assert wait_until(lambda: sum(_states(store)[s] for s in DONE) == events, timeout=30), (
            f"{_states(store)}"
        )
        _assert_registered_exactly_once(store, admin, events)
        with store.transaction() as conn:
            owners = set(conn.execute(select(schema.batches.c.owner)).scalars())
        assert {o.rsplit("-", 1)[0] for o in owners} == {"controller-1", "controller-2"}
    finally:
        terminal.close()
        for controller in controllers:
            controller.stop()
        store.close()
