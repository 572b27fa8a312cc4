"""Chain of custody under chaos (issue 13): a check-in keeps the Brussels day it really
happened on through controller outages, reboots of a terminal without a real-time clock and
clocks that lie, or becomes an anomaly with its evidence. Real mosquitto, SQLite, a
controller on a manual clock (its receive times), terminals played by test clients.

Tests wait for ``in_backlog`` through ``getattr`` so that they also run, and fail for the
right reason, on a controller without it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from queue import Empty

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import select

from controller import ingest, schema
from controller.config import ControllerConfig
from controller.service import Controller
from controller.store import Store, open_store
from presence import topics
from presence.clock import ManualClock
from presence.events import CheckIn
from presence.messages import ClockPin, TerminalStatus, encode_status
from sim.mosquitto import MosquittoBroker
from tests.controller.support import WORKPLACE, FakeTerminal, checkin, count_rows, inss, limosa

pytestmark = pytest.mark.integration

EVENING = datetime(2026, 3, 2, 22, 58, tzinfo=UTC)  # 23:58 in Brussels
BEHIND = timedelta(hours=1)  # how far the terminal's unsynchronised wall clock is behind
BOOT_A = "0b0a0a0a-0000-4000-8000-00000000000a"
BOOT_B = "0b0b0b0b-0000-4000-8000-00000000000b"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sitegate.db'}"


@contextmanager
def controller_at(
    config: ControllerConfig, store: Store, clock: ManualClock
) -> Iterator[Controller]:
    """A controller whose receive times are ``clock``'s, past its reconnect backlog."""
    controller = Controller(config, store, clock=clock, with_relay=False)
    controller.start()
    try:
        assert controller.ingest.subscribed.wait(10)
        deadline = time.monotonic() + 10
        while getattr(controller.ingest, "in_backlog", False) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield controller
    finally:
        controller.stop()


def heartbeat(
    terminal: FakeTerminal, status: TerminalStatus, *, qos: int = 1, expiry: int | None = None
) -> None:
    """As a terminal publishes it: retained; older terminals at QoS 1 without expiry."""
    props = None
    if expiry is not None:
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = expiry
    topic = topics.status_topic(WORKPLACE, terminal.terminal)
    terminal.client.publish(topic, encode_status(status), qos=qos, retain=True,
                            properties=props).wait_for_publish(5)  # fmt: skip


def wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def offset_of(store: Store) -> float | None:
    t = schema.terminals.c
    with store.transaction() as conn:
        return conn.execute(
            select(t.clock_offset_s).where(t.terminal_id == "gate-1")
        ).scalar_one_or_none()


def pinned(store: Store, boot: str) -> bool:
    c = schema.terminal_clocks.c
    with store.transaction() as conn:
        return conn.execute(select(c.mono_s).where(c.boot_id == boot)).first() is not None


def presence_days(store: Store) -> list[date]:
    p = schema.presences.c
    with store.transaction() as conn:
        return [row.date for row in conn.execute(select(p.date).order_by(p.date))]


def unsynced(event: CheckIn, boot: str, mono: float) -> CheckIn:
    return replace(event, clock_synced=False, boot_id=boot, mono_s=mono)


def test_a_heartbeat_queued_while_the_controller_was_down_does_not_move_a_check_in_to_the_next_day(
    broker_config: ControllerConfig, mosquitto: MosquittoBroker
) -> None:
    """The shown failure, with a terminal of the previous release (no boot id): controller
    down 10 s, a check-in at 23:59:54 Brussels, presence dated the next day."""
    store = open_store(broker_config.database.url)
    terminal = FakeTerminal(mosquitto.port)
    try:
        with controller_at(broker_config, store, ManualClock(EVENING)):
            heartbeat(terminal, TerminalStatus("online", EVENING - BEHIND))
            assert wait_for(lambda: offset_of(store) is not None)
        scan = EVENING + timedelta(minutes=1, seconds=54)  # 23:59:54 in Brussels
        heartbeat(terminal, TerminalStatus("online", scan - timedelta(seconds=4) - BEHIND))
        event = checkin(limosa(1), at=scan - BEHIND, clock_synced=False)
        terminal.send(event)
        with controller_at(broker_config, store, ManualClock(scan + timedelta(seconds=10))):
            assert terminal.ack().status == "stored"
        assert presence_days(store) == [date(2026, 3, 2)]
        assert offset_of(store) == pytest.approx(-BEHIND.total_seconds())
    finally:
        terminal.close()
        store.close()


def test_a_check_in_buffered_across_midnight_keeps_its_day_by_its_boots_monotonic_clock(
    broker_config: ControllerConfig, mosquitto: MosquittoBroker
) -> None:
    store = open_store(broker_config.database.url)
    terminal = FakeTerminal(mosquitto.port)
    lost = EVENING - timedelta(days=700)  # the terminal's wall clock: meaningless
    try:
        with controller_at(broker_config, store, ManualClock(EVENING)):
            heartbeat(terminal, TerminalStatus("online", lost, boot_id=BOOT_A, mono_s=5000.0,
                                               expiry_s=75), qos=0, expiry=75)  # fmt: skip
            assert wait_for(lambda: pinned(store, BOOT_A))
        # The controller is down; a heartbeat queued anyway, then a check-in at 23:59:54.
        heartbeat(terminal, TerminalStatus("online", lost, boot_id=BOOT_A, mono_s=5110.0,
                                           expiry_s=75), expiry=75)  # fmt: skip
        event = unsynced(checkin(limosa(1), at=lost), BOOT_A, 5114.0)
        terminal.send(event)
        back = EVENING + timedelta(minutes=2, seconds=4)  # 00:00:04
        with controller_at(broker_config, store, ManualClock(back)):
            assert terminal.ack().status == "stored"
        assert presence_days(store) == [date(2026, 3, 2)]
    finally:
        terminal.close()
        store.close()


def test_after_a_reboot_each_boots_buffered_check_ins_keep_their_day(
    broker_config: ControllerConfig, mosquitto: MosquittoBroker
) -> None:
    """Boot A checks someone in at 23:50 and cannot send it; the Pi reboots without a
    real-time clock (its wall clock a day behind) and checks someone in at 00:16. The new
    boot's event arrives before its first heartbeat: it waits for it, and is not corrected
    by what boot A's heartbeats said."""
    store = open_store(broker_config.database.url)
    terminal = FakeTerminal(mosquitto.port)
    clock = ManualClock(EVENING - timedelta(minutes=58))  # 23:00 in Brussels
    wrong = EVENING - timedelta(days=1)
    try:
        with controller_at(broker_config, store, clock):
            heartbeat(terminal, TerminalStatus("online", wrong, boot_id=BOOT_A, mono_s=5000.0,
                                               expiry_s=75), qos=0, expiry=75)  # fmt: skip
            assert wait_for(lambda: pinned(store, BOOT_A))
            clock.advance(76 * 60)  # 00:16, after the reboot
            before = unsynced(checkin(limosa(1), at=wrong, seq=1), BOOT_A, 5000.0 + 50 * 60)
            after = unsynced(checkin(limosa(2), at=wrong, seq=2), BOOT_B, 80.0)
            terminal.send(after)
            with pytest.raises(Empty):
                terminal.ack(timeout=1.5)  # held: no day can be given to it yet
            heartbeat(terminal, TerminalStatus("online", wrong, boot_id=BOOT_B, mono_s=81.0,
                                               expiry_s=75), qos=0, expiry=75)  # fmt: skip
            assert wait_for(lambda: pinned(store, BOOT_B))
            terminal.send(before)
            terminal.send(after)  # the terminal sends what was not acknowledged again
            acks = terminal.acks_for(2)
        assert {a.status for a in acks.values()} == {"stored"}
        assert presence_days(store) == [date(2026, 3, 2), date(2026, 3, 3)]
    finally:
        terminal.close()
        store.close()


def test_a_boot_that_never_got_a_heartbeat_through_is_dated_by_its_ntp_pin(
    broker_config: ControllerConfig, mosquitto: MosquittoBroker
) -> None:
    """Boot A starts cut from the broker with its clock in yesterday, checks someone in at
    23:59:50 (Brussels), NTP sets its clock right at 00:00:20, and the Pi reboots before
    the broker is reachable. Boot B's first heartbeat carries boot A's NTP pin: boot A's
    check-in, which no heartbeat of its boot will ever date, keeps its day."""
    store = open_store(broker_config.database.url)
    terminal = FakeTerminal(mosquitto.port)
    synced_at = EVENING + timedelta(minutes=2, seconds=20)  # 00:00:20 in Brussels
    back = synced_at + timedelta(minutes=3)
    yesterday = EVENING - timedelta(days=1)
    event = unsynced(checkin(limosa(1), at=yesterday), BOOT_A, 100.0)  # 30 s before the pin
    status = TerminalStatus(
        "online",
        back,
        clock_synced=True,
        boot_id=BOOT_B,
        mono_s=15.0,
        expiry_s=75,
        clock_pins=(ClockPin(BOOT_A, 130.0, synced_at),),
    )
    try:
        with controller_at(broker_config, store, ManualClock(back)):
            heartbeat(terminal, status, qos=0, expiry=75)  # fmt: skip
            assert wait_for(lambda: pinned(store, BOOT_B))
            terminal.send(event)
            assert terminal.ack().status == "stored"
        assert presence_days(store) == [date(2026, 3, 2)]
        e = schema.events.c
        with store.transaction() as conn:
            dated = conn.execute(select(e.dated_at)).scalar_one()
        assert dated == synced_at - timedelta(seconds=30)
    finally:
        terminal.close()
        store.close()


def test_a_check_in_that_stays_undatable_is_quarantined_with_its_evidence(
    broker_config: ControllerConfig, mosquitto: MosquittoBroker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(ingest, "UNDATABLE_HOLD_S", 0.5)
    store = open_store(broker_config.database.url)
    terminal = FakeTerminal(mosquitto.port)
    person = inss(3)
    event = unsynced(checkin(person, at=EVENING - timedelta(days=3)), BOOT_B, 60.0)
    try:
        with controller_at(broker_config, store, ManualClock(EVENING)):
            terminal.send(event)
            with pytest.raises(Empty):
                terminal.ack(timeout=1.0)
            terminal.send(event)
            ack = terminal.ack()
        assert (ack.status, ack.reason) == ("refused", "undatable")
        q = schema.quarantine.c
        with store.transaction() as conn:
            row = conn.execute(select(q.reason, q.detail, q.payload, q.event_id)).one()
        assert row.reason == "undatable" and row.event_id == str(event.event_id)
        assert person.masked() in row.detail and person.digits not in row.detail
        assert BOOT_B in row.detail and row.payload  # the event itself is kept
        assert count_rows(store, schema.events) == 0 and presence_days(store) == []
    finally:
        terminal.close()
        store.close()


def test_the_broker_tells_how_long_a_heartbeat_waited_and_drops_an_expired_one(
    mosquitto: MosquittoBroker,
) -> None:
    """What the controller's freshness rule relies on (mosquitto, MQTT v5): a message kept
    for an absent persistent session arrives with what is left of its expiry, or not at all."""
    got: list[mqtt.MQTTMessage] = []
    subscribed = threading.Event()
    away = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="away", protocol=mqtt.MQTTv5)
    away.on_message = lambda _c, _u, message: got.append(message)
    away.on_subscribe = lambda *_: subscribed.set()
    away.connect("127.0.0.1", mosquitto.port, clean_start=False, properties=_session())
    away.loop_start()
    away.subscribe(topics.subscription(WORKPLACE, "status"), qos=1)
    assert subscribed.wait(5)
    away.disconnect()
    away.loop_stop()
    terminal = FakeTerminal(mosquitto.port)
    try:
        for name, expiry in (("gate-1", 75), ("gate-2", 1)):
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = expiry
            topic = topics.status_topic(WORKPLACE, name)
            terminal.client.publish(topic, b"{}", qos=1, properties=props).wait_for_publish(5)
        time.sleep(2.5)
        away.connect("127.0.0.1", mosquitto.port, clean_start=False, properties=_session())
        away.loop_start()
        assert wait_for(lambda: len(got) >= 1)
        time.sleep(0.5)
    finally:
        away.disconnect()
        away.loop_stop()
        terminal.close()
    assert [m.topic.split("/")[3] for m in got] == ["gate-1"]
    assert got[0].properties is not None
    assert got[0].properties.MessageExpiryInterval <= 73


def _session() -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 300
    return props
