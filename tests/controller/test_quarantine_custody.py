"""The quarantine under chaos: retained, oversized and repeated messages, and refusals that
come from the controller's own state (no final ack: the terminal keeps its copy)."""

from __future__ import annotations

import hashlib
import os
import queue
import subprocess
import sys
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select, text

from controller import config as config_module
from controller import schema
from controller.config import ControllerConfig
from controller.quarantine import replay
from controller.service import Controller
from controller.store import Store, open_store
from presence import topics
from presence.events import encode
from sim.mosquitto import MosquittoBroker
from tests.controller.support import (
    WORKPLACE,
    FakeTerminal,
    checkin,
    count_rows,
    limosa,
    wait_until,
    write_site,
)

pytestmark = pytest.mark.integration

CHECKIN_TOPIC = topics.checkin_topic(WORKPLACE, "gate-1")


def _quarantine(store: Store) -> list:
    with store.transaction() as conn:
        return list(conn.execute(select(schema.quarantine).order_by(schema.quarantine.c.id)))


def _junk(size: int) -> bytes:
    return (b'{"event_id":"' + str(uuid.uuid4()).encode() + b'","junk":"').ljust(size, b"x")


def _retained_on(port: int, topic: str, wait_s: float = 1.0) -> bytes | None:
    """What a fresh subscriber finds retained on ``topic`` (None: nothing)."""
    found: queue.Queue[bytes] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:6]}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.on_message = lambda _c, _u, m: found.put(bytes(m.payload)) if m.retain else None
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(topic, qos=1)
    try:
        return found.get(timeout=wait_s)
    except queue.Empty:
        return None
    finally:
        client.disconnect()
        client.loop_stop()


def _run_controller(config: ControllerConfig, until) -> None:
    store = open_store(config.database.url)
    controller = Controller(config, store, with_relay=False)
    controller.start()
    try:
        assert controller.ingest.subscribed.wait(10)
        assert wait_until(lambda: until(store), timeout=10)
        time.sleep(0.5)  # anything more it would store arrives now
    finally:
        controller.stop()
        store.close()


# --- retained and oversized messages (known gap 4) ------------------------------------------


def test_a_retained_check_in_is_kept_once_and_cleared_from_the_broker(
    broker_config: ControllerConfig, store: Store, mosquitto: MosquittoBroker
) -> None:
    payload = _junk(20 * 1024)
    t = FakeTerminal(mosquitto.port)
    t.client.publish(CHECKIN_TOPIC, payload, qos=1, retain=True).wait_for_publish(5)
    t.close()
    for _reconnect in range(3):
        _run_controller(broker_config, lambda s: count_rows(s, schema.quarantine) >= 1)
    rows = _quarantine(store)
    assert [r.reason for r in rows] == ["retained"]
    assert rows[0].payload_length == len(payload) and len(rows[0].payload) <= 8 * 1024
    assert rows[0].payload_sha256 == hashlib.sha256(payload).hexdigest()
    assert _retained_on(mosquitto.port, CHECKIN_TOPIC) is None
    assert count_rows(store, schema.events) == 0


def test_a_retained_valid_check_in_is_not_stored(
    broker_config: ControllerConfig, store: Store, mosquitto: MosquittoBroker
) -> None:
    t = FakeTerminal(mosquitto.port)
    t.client.publish(CHECKIN_TOPIC, encode(checkin(limosa(1))), qos=1, retain=True)
    t.client.publish(CHECKIN_TOPIC, b"", qos=1, retain=False).wait_for_publish(5)
    t.close()
    _run_controller(broker_config, lambda s: count_rows(s, schema.quarantine) >= 1)
    assert [r.reason for r in _quarantine(store)] == ["retained"]
    assert count_rows(store, schema.events) == 0


def test_an_oversized_message_never_reaches_the_controller(running, terminal) -> None:
    _controller, store = running
    terminal.send_raw(_junk(100 * 1024))  # above the controller's maximum packet size
    good = checkin(limosa(2))
    terminal.send(good)
    assert terminal.ack().event_id == good.event_id
    assert all(len(r.payload) <= 8 * 1024 for r in _quarantine(store))
    assert count_rows(store, schema.quarantine) == 0


def test_a_large_bad_payload_is_kept_cut_with_its_length_and_hash(running, terminal) -> None:
    _controller, store = running
    payload = _junk(20 * 1024)
    terminal.send_raw(payload)
    assert wait_until(lambda: count_rows(store, schema.quarantine) == 1, timeout=10)
    (row,) = _quarantine(store)
    assert row.reason == "bad_payload" and row.payload == payload[: 8 * 1024]
    assert (row.payload_length, row.payload_sha256) == (
        len(payload),
        hashlib.sha256(payload).hexdigest(),
    )


def test_the_same_bad_message_sent_again_is_kept_once(running, terminal) -> None:
    _controller, store = running
    payload = b'{"event_id":"' + str(uuid.uuid4()).encode() + b'","v":1}'
    terminal.send_raw(payload)
    terminal.send_raw(payload)
    other = checkin(limosa(3))
    terminal.send(other)  # once it is acked, both copies went through the controller
    while terminal.ack().event_id != other.event_id:
        pass
    assert count_rows(store, schema.quarantine) == 1


# --- refusals of the controller's own making (known gap 5) ----------------------------------


def test_run_refuses_to_start_without_a_terminals_file(tmp_path: Path, db_url: str) -> None:
    config = write_site(tmp_path / "site", db_url=db_url)
    (config.parent / "terminals.toml").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "controller.cli", "--config", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "terminals.toml" in done.stderr and "[terminals_missing]" in done.stderr


def _no_ack_within(terminal: FakeTerminal, seconds: float) -> bool:
    try:
        terminal.acks.get(timeout=seconds)
    except queue.Empty:
        return True
    return False


def test_an_unknown_terminal_gets_no_final_ack_and_its_resend_is_stored_once_listed(
    running, mosquitto: MosquittoBroker, broker_config: ControllerConfig
) -> None:
    controller, store = running
    stranger = FakeTerminal(mosquitto.port, terminal="gate-9")
    try:
        event = checkin(limosa(7), terminal="gate-9")
        for _resend in range(3):
            stranger.send(event)
        assert wait_until(lambda: count_rows(store, schema.quarantine) == 1, timeout=10)
        assert _no_ack_within(stranger, 1.5), "a refusal of ours must not make it delete"
        assert count_rows(store, schema.quarantine) == 1
        path = broker_config.terminals_path
        path.write_text(path.read_text() + '[[terminal]]\nid = "gate-9"\ndirection = "in"\n'
                        'cert_serial = "5f3a09"\nrevoked = false\n')  # fmt: skip
        future = time.time() + 5
        os.utime(path, (future, future))
        assert wait_until(lambda: controller.terminals.check("gate-9") is None, timeout=5)
        stranger.send(event)  # the terminal's resend timer brings it back
        ack = stranger.ack()
    finally:
        stranger.close()
    assert (ack.event_id, ack.status) == (event.event_id, "stored")
    assert count_rows(store, schema.events) == 1
    assert count_rows(store, schema.quarantine) == 0


def _poison_trigger(store: Store, create: bool) -> None:
    """The database refuses check-ins with reason 'poison' while answering everything else."""
    with store.transaction() as conn:
        if store.is_postgresql:
            if create:
                conn.execute(text(
                    "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'poison'; END $$ LANGUAGE plpgsql"))  # fmt: skip
                conn.execute(text(
                    "CREATE TRIGGER poison BEFORE INSERT ON checkin_events FOR EACH ROW "
                    "WHEN (NEW.reason = 'poison') EXECUTE FUNCTION poison()"))  # fmt: skip
            else:
                conn.execute(text("DROP TRIGGER poison ON checkin_events"))
        elif create:
            conn.execute(text(
                "CREATE TRIGGER poison BEFORE INSERT ON checkin_events "
                "WHEN NEW.reason = 'poison' BEGIN SELECT RAISE(ABORT, 'poison'); END"))  # fmt: skip
        else:
            conn.execute(text("DROP TRIGGER poison"))


def test_a_check_in_the_database_refuses_gets_no_final_ack_and_is_stored_on_a_later_resend(
    running, terminal: FakeTerminal
) -> None:
    from dataclasses import replace

    _controller, store = running
    _poison_trigger(store, create=True)
    event = replace(checkin(limosa(8)), reason="poison")
    good = checkin(limosa(9))
    terminal.send(event)
    terminal.send(event)
    terminal.send(good)
    assert terminal.ack().event_id == good.event_id  # the rest flows
    assert _no_ack_within(terminal, 1.5)
    assert [r.reason for r in _quarantine(store)] == ["unstorable"]
    _poison_trigger(store, create=False)
    terminal.send(event)
    ack = terminal.ack()
    assert (ack.event_id, ack.status) == (event.event_id, "stored")
    assert count_rows(store, schema.quarantine) == 0


def test_replay_stores_a_check_in_held_for_an_unknown_terminal(
    site_config: ControllerConfig, store: Store
) -> None:
    from datetime import UTC, datetime

    from controller import checkins

    event = checkin(limosa(10), terminal="gate-9")
    with store.transaction() as conn:
        checkins.quarantine(conn, topic=topics.checkin_topic(WORKPLACE, "gate-9"),
                            terminal_id="gate-9", event_id=str(event.event_id),
                            reason="unknown_terminal", detail="", payload=encode(event),
                            received_at=datetime.now(UTC))  # fmt: skip
    path = site_config.terminals_path
    path.write_text(path.read_text() + '[[terminal]]\nid = "gate-9"\ndirection = "in"\n'
                    'cert_serial = "5f3a09"\nrevoked = false\n')  # fmt: skip
    done = replay(store, config_module.load(site_config.path))
    assert (done.stored, done.still_refused) == (1, 0)
    assert count_rows(store, schema.events) == 1
