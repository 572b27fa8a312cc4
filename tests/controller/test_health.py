"""Health in the database: the relay's NSSO, the ingest's broker, read by another process
for the console's banner. On SQLite and PostgreSQL."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller import config as config_module
from controller import health, schema
from controller.config import ControllerConfig
from controller.health import HealthRecorder
from controller.ingest import Ingest
from controller.relay import Relay
from controller.store import Store, open_store
from controller.terminals import TerminalRegistry
from presence.clock import ManualClock
from tests.controller.support import checkin, limosa, wait_until, write_site

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def store(site_config: ControllerConfig, clock: ManualClock) -> Iterator[Store]:
    opened = open_store(site_config.database.url, clock)
    yield opened
    opened.close()


def test_nsso_failing_keeps_the_time_of_the_first_failure_until_it_answers(store, clock):
    recorder = HealthRecorder(store, clock)
    recorder.nsso(False, error="http_503: unavailable")
    clock.advance(health.REFRESH_S + 1)
    recorder.nsso(False, error="http_503: still")
    found = health.read(store)
    assert found.nsso_failing_since == NOW and found.nsso_error == "http_503: still"
    clock.advance(6 * 60)
    assert [b.code for b in health.read(store).banners()] == ["controller_not_running",
                                                              "nsso_unreachable"]  # fmt: skip
    recorder.nsso(True, answered=True)
    found = health.read(store)
    assert found.nsso_failing_since is None and found.nsso_ok_at == clock.now()


def test_a_short_outage_raises_no_banner(store, clock):
    recorder = HealthRecorder(store, clock)
    recorder.broker(True)
    clock.advance(10)
    recorder.broker(False)
    clock.advance(4 * 60)
    recorder.broker(False)
    assert health.read(store).banners() == []
    clock.advance(61)
    recorder.broker(False)
    (banner,) = health.read(store).banners()
    assert (banner.code, banner.since) == ("broker_unreachable", "2026-03-02 07:30:10 CET")


def test_a_controller_that_stopped_writing_is_not_running(store, clock):
    HealthRecorder(store, clock).broker(True)
    assert health.read(store).controller_running
    clock.advance(health.CONTROLLER_STALE_S + 1)
    found = health.read(store)
    assert not found.controller_running
    assert [b.code for b in found.banners()] == ["controller_not_running"]


def test_silent_and_tampered_terminals_are_in_the_banner(store, clock):
    HealthRecorder(store, clock).broker(True)
    with store.transaction() as conn:
        conn.execute(
            schema.terminals.insert(),
            [
                {"terminal_id": "gate-1", "direction": "in", "cert_serial": "1", "revoked": False,
                 "last_state": "online", "last_status_at": NOW - timedelta(minutes=5),
                 "health": None},
                {"terminal_id": "gate-2", "direction": "in", "cert_serial": "2", "revoked": False,
                 "last_state": "online", "last_status_at": NOW, "health": '{"tamper": "open"}'},
            ],
        )  # fmt: skip
    banners = {(b.code, b.subject) for b in health.read(store).banners()}
    assert banners == {("terminal_silent", "gate-1"), ("terminal_tampered", "gate-2")}


def test_the_relay_records_nsso_failing_and_answering(relay_config, tmp_path: Path, db_url):
    down = config_module.load(write_site(tmp_path / "down", db_url=db_url))  # port 9: nobody
    store = open_store(db_url)
    try:
        with store.transaction() as conn:
            from controller import checkins
            from presence.events import encode

            event = checkin(limosa(1))
            checkins.record(store, conn, event, encode(event), event.scanned_at, 300)
        failing = Relay(down, store)
        try:
            assert failing.run_once().unavailable
        finally:
            failing.close()
        assert health.read(store).nsso_failing_since is not None
        working = Relay(relay_config, store)
        try:
            assert working.run_once().registered == 1
        finally:
            working.close()
        found = health.read(store)
        assert found.nsso_failing_since is None and found.nsso_ok_at is not None
    finally:
        store.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ingest(tmp_path: Path, db_url: str, port: int) -> tuple[Ingest, Store]:
    config = config_module.load(write_site(tmp_path / "site-b", db_url=db_url, broker_port=port))
    store = open_store(db_url)
    ingest = Ingest(config, store, TerminalRegistry(config.terminals_path, store))
    ingest.start()
    return ingest, store


def test_the_ingest_records_the_broker_up_and_itself_alive(tmp_path: Path, db_url, mosquitto):
    ingest, store = _ingest(tmp_path, db_url, mosquitto.port)
    try:
        assert wait_until(lambda: health.read(store).broker_up_at is not None)
        assert health.read(store).controller_running
    finally:
        ingest.stop()
        store.close()


def test_the_ingest_records_since_when_the_broker_is_down(tmp_path: Path, db_url):
    ingest, store = _ingest(tmp_path, db_url, _closed_port())
    try:
        assert wait_until(lambda: health.read(store).broker_down_since is not None)
        assert health.read(store).controller_running
    finally:
        ingest.stop()
        store.close()


def test_the_heartbeats_health_items_are_kept_for_the_terminals_page(running, mosquitto):
    from controller import views
    from presence import topics
    from presence.messages import TerminalStatus, encode_status
    from tests.controller.support import WORKPLACE, FakeTerminal

    _controller, store = running
    beat = TerminalStatus("online", datetime.now(UTC), "1.4.0", 3, False, None, True,
                          {"tamper": "open", "reader": "ok", "refused_shed": "2"})  # fmt: skip
    gate = FakeTerminal(mosquitto.port)
    try:
        gate.client.publish(topics.status_topic(WORKPLACE, "gate-1"), encode_status(beat),
                            qos=1).wait_for_publish(5)  # fmt: skip

        def gate_1() -> dict:
            return {t["terminal"]: t for t in views.terminal_health(store)}["gate-1"]

        assert wait_until(lambda: gate_1()["link"] == "online")
        found = gate_1()
        assert found["tampered"] and found["health"]["refused_shed"] == "2"
        assert (found["version"], found["outbox_depth"]) == ("1.4.0", 3)
    finally:
        gate.close()
