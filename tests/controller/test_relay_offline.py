"""Relay behaviour that needs no answering registry: back-off, and the day that passed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import checkins, config, schema
from controller.relay import Backoff, Relay
from controller.store import Store, open_store
from presence.clock import ManualClock
from presence.events import encode
from sim.processes import free_port
from tests.controller.support import checkin, limosa, write_site

EVENING = datetime(2026, 3, 2, 22, 50, tzinfo=UTC)  # 23:50 in Brussels


def test_backoff_grows_exponentially_with_jitter_and_resets_after_success() -> None:
    backoff = Backoff(1.0, 8.0, random.Random(4))
    delays = [backoff.failed() for _ in range(6)]
    for n, delay in enumerate(delays):
        cap = min(8.0, 2.0**n)
        assert cap / 2 <= delay <= cap
    assert delays[-1] >= 4.0
    backoff.succeeded()
    assert backoff.failed() <= 1.0


@pytest.fixture
def offline(tmp_path: Path, db_url: str):
    """A relay whose registry endpoint is a closed loopback port (NSSO down)."""
    endpoint = f"http://127.0.0.1:{free_port()}/PresenceRegistration/v1"
    cfg = config.load(write_site(tmp_path / "site", db_url=db_url, registry=endpoint))
    clock = ManualClock(EVENING)
    store = open_store(cfg.database.url, clock)
    relay = Relay(cfg, store, clock=clock, rng=random.Random(1))
    yield store, relay, clock
    relay.close()
    store.close()


def _states(store: Store) -> list[str]:
    with store.transaction() as conn:
        return list(conn.execute(select(schema.presences.c.state)).scalars())


def test_a_pending_presence_crossing_midnight_becomes_missed_with_its_evidence(
    offline, logged_errors
) -> None:
    store, relay, clock = offline
    event = checkin(limosa(1), at=EVENING)
    with store.transaction() as conn:
        checkins.record(store, conn, event, encode(event), EVENING, 300)
    report = relay.run_once()
    assert report.unavailable and _states(store) == ["pending"]
    clock.advance(15 * 60)  # 00:05 the next day in Brussels
    report = relay.run_once()
    assert report.missed == 1
    assert _states(store) == ["missed"]
    with store.transaction() as conn:
        presence = conn.execute(select(schema.presences)).one()
        evidence = conn.execute(select(schema.events.c.payload)).scalar_one()
    assert presence.first_event_id == str(event.event_id) and evidence == encode(event)
    assert presence.receipt_id is None  # never sent with another date


def test_nsso_down_keeps_presences_pending_and_backs_off(offline) -> None:
    store, relay, clock = offline
    event = checkin(limosa(2), at=EVENING)
    with store.transaction() as conn:
        checkins.record(store, conn, event, encode(event), EVENING, 300)
    assert relay.run_once().unavailable
    assert relay.backoff.failures == 1
    report = relay.run_once()  # inside the back-off window: no call at all
    assert not report.unavailable and report.sent == 0
    clock.advance(timedelta(seconds=5).total_seconds())
    assert relay.run_once().unavailable and relay.backoff.failures == 2
    assert _states(store) == ["pending"]
