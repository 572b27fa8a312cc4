"""Ingest on a real mosquitto and both databases: stored, then acknowledged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import config as config_module
from controller import schema
from controller.service import Controller
from controller.store import open_store
from presence import topics
from sim.mosquitto import MosquittoBroker
from tests.controller.support import (
    WORKPLACE,
    FakeTerminal,
    checkin,
    count_rows,
    inss,
    limosa,
    write_site,
)

pytestmark = pytest.mark.integration


def test_a_limosa_checkin_is_stored_then_acked_with_a_pending_presence(running, terminal):
    _controller, store = running
    event = checkin(limosa(1))
    terminal.send(event)
    ack = terminal.ack()
    assert (ack.event_id, ack.status, ack.presence_state) == (event.event_id, "stored", "pending")
    assert count_rows(store, schema.events) == 1
    assert count_rows(store, schema.presences) == 1


def test_a_burst_is_acked_once_per_event_in_batches_per_terminal(running, mosquitto, terminal):
    _controller, store = running
    other = FakeTerminal(mosquitto.port, "gate-2")
    try:
        mine = [checkin(limosa(100 + n), seq=n) for n in range(60)]
        theirs = [checkin(limosa(200 + n), terminal="gate-2", seq=n) for n in range(20)]
        other.send_burst(theirs)
        terminal.send_burst(mine)
        acks = terminal.acks_for(60)
        their_acks = other.acks_for(20)
    finally:
        other.close()
    assert set(acks) == {e.event_id for e in mine}
    assert {a.status for a in acks.values()} == {"stored"}
    assert set(their_acks) == {e.event_id for e in theirs}
    assert sum(terminal.ack_messages) == 60 and sum(other.ack_messages) == 20
    assert len(terminal.ack_messages) < 60  # a commit group answers in one message
    assert count_rows(store, schema.events) == 80


def test_a_person_not_on_the_roster_needs_an_employer(running, terminal):
    terminal.send(checkin(inss(1)))
    assert terminal.ack().presence_state == "needs_employer"


def test_the_same_event_twice_is_a_duplicate_and_stored_once(running, terminal):
    _controller, store = running
    event = checkin(limosa(2))
    terminal.send(event)
    terminal.send(event)
    statuses = [terminal.ack().status, terminal.ack().status]
    assert statuses == ["stored", "duplicate"]
    assert count_rows(store, schema.events) == 1


def test_a_second_checkin_the_same_day_makes_no_second_presence(running, terminal):
    _controller, store = running
    now = datetime.now(UTC)
    terminal.send(checkin(limosa(3), at=now - timedelta(seconds=30)))
    terminal.send(checkin(limosa(3), at=now))
    assert [terminal.ack().status for _ in range(2)] == ["stored", "stored"]
    assert count_rows(store, schema.events) == 2
    assert count_rows(store, schema.presences) == 1


def test_a_message_the_database_cannot_store_is_quarantined_and_the_rest_flows(
    tmp_path: Path, pg_url: str, mosquitto: MosquittoBroker, logged_errors
) -> None:
    """PostgreSQL refuses NUL in text: a retained status carrying one would fail forever.
    It is quarantined as ``unstorable`` and the check-in behind it is stored and acked."""
    config = config_module.load(
        write_site(tmp_path / "site", db_url=pg_url, broker_port=mosquitto.port)
    )
    status = json.dumps({"v": 1, "state": "online", "software_version": "1.0\u0000"}).encode()
    t = FakeTerminal(mosquitto.port)
    t.client.publish(topics.status_topic(WORKPLACE, "gate-1"), status, qos=1, retain=True)
    store = open_store(config.database.url)
    controller = Controller(config, store, with_relay=False)
    controller.start()
    try:
        assert controller.ingest.subscribed.wait(10)
        event = checkin(limosa(41))
        t.send(event)
        ack = t.ack()
        assert (ack.event_id, ack.status) == (event.event_id, "stored")
        with store.transaction() as conn:
            reasons = conn.execute(select(schema.quarantine.c.reason)).scalars().all()
        assert reasons == ["unstorable"]
    finally:
        controller.stop()
        store.close()
        t.close()
