"""A check-in on MQTT to a receipt from the stand-in, through one in-process controller."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import config as config_module
from controller import schema
from controller.service import Controller
from controller.store import Store, open_store
from presence.clock import ManualClock, brussels_date
from sim.mosquitto import MosquittoBroker
from sim.nsso.server import StandIn
from tests.controller.support import (
    FakeTerminal,
    StandInAdmin,
    checkin,
    limosa,
    wait_until,
    write_site,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def site(
    tmp_path: Path, db_url: str, mosquitto: MosquittoBroker, stand_in: StandIn
) -> Iterator[tuple[Controller, Store, ManualClock, FakeTerminal]]:
    cfg = config_module.load(
        write_site(
            tmp_path / "site", db_url=db_url, broker_port=mosquitto.port, registry=stand_in.endpoint
        )
    )
    clock = ManualClock(datetime.now(UTC))
    store = open_store(cfg.database.url, clock)
    controller = Controller(cfg, store, clock)
    controller.start()
    assert controller.ingest.subscribed.wait(10)
    terminal = FakeTerminal(mosquitto.port)
    yield controller, store, clock, terminal
    terminal.close()
    controller.stop()
    store.close()


def _presences(store: Store):
    with store.transaction() as conn:
        return conn.execute(select(schema.presences).order_by(schema.presences.c.id)).all()


def test_checkin_to_receipt_and_the_next_day_a_new_registration(site, admin: StandInAdmin):
    _controller, store, clock, terminal = site
    terminal.send(checkin(limosa(1), at=clock.now()))
    assert terminal.ack().presence_state == "pending"
    terminal.send(checkin(limosa(1), at=clock.now() + timedelta(minutes=1)))
    assert terminal.ack().status == "stored"
    assert wait_until(lambda: [p.state for p in _presences(store)] == ["registered"], 10)
    clock.advance(24 * 3600)
    terminal.send(checkin(limosa(1), at=clock.now()))
    assert terminal.ack().presence_state == "pending"
    assert wait_until(lambda: all(p.receipt_id for p in _presences(store)), 10)
    rows = _presences(store)
    registrations = admin.registrations()
    assert len(rows) == len(registrations) == 2
    assert [r.date for r in rows] == [
        brussels_date(clock.now()) - timedelta(days=1),
        brussels_date(clock.now()),
    ]
    assert sorted(r["receipt_id"] for r in registrations) == sorted(r.receipt_id for r in rows)
