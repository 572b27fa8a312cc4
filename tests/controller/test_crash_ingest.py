"""SIGKILL during ingest, then restart: every acknowledged event is stored, none twice."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from controller import schema
from controller.store import open_store
from sim.mosquitto import MosquittoBroker
from tests.controller.support import (
    ControllerProcess,
    FakeTerminal,
    checkin,
    limosa,
    wait_until,
    write_site,
)

pytestmark = pytest.mark.integration
EVENTS = 400


def test_sigkill_during_ingest_loses_nothing_and_doubles_nothing(
    tmp_path: Path, db_url: str, mosquitto: MosquittoBroker
) -> None:
    config = write_site(tmp_path / "site", db_url=db_url, broker_port=mosquitto.port)
    controller = ControllerProcess(config).start()
    terminal = FakeTerminal(mosquitto.port)
    events = [checkin(limosa(n), seq=n) for n in range(EVENTS)]
    published = threading.Thread(target=terminal.send_all, args=(events,))
    try:
        published.start()
        acked_before_kill = terminal.acks_for(40, timeout=15)
        controller.kill()
        published.join(30)
        assert len(acked_before_kill) >= 40
        assert all(a.status == "stored" for a in acked_before_kill.values())
        store = open_store(db_url)
        try:
            stored_at_kill = _event_ids(store)
            assert set(map(str, acked_before_kill)) <= stored_at_kill  # acked => committed
            assert len(stored_at_kill) < EVENTS, "the kill came too late to test anything"
            controller.start()
            assert wait_until(lambda: len(_event_ids(store)) == EVENTS, timeout=30), (
                f"{len(_event_ids(store))} of {EVENTS} stored after restart"
            )
            with store.transaction() as conn:
                presences = conn.execute(
                    select(func.count()).select_from(schema.presences)
                ).scalar_one()
            assert presences == EVENTS
        finally:
            store.close()
    finally:
        terminal.close()
        controller.stop()


def _event_ids(store) -> set[str]:
    with store.transaction() as conn:
        return set(conn.execute(select(schema.events.c.event_id)).scalars())
