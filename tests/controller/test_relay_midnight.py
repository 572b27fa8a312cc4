"""A relay pass that crosses midnight: each batch is judged by the day at its claim."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import checkins, schema
from controller import config as config_module
from controller.relay import Registry, Relay, make_registry
from controller.store import open_store
from presence.clock import ManualClock, brussels_date
from presence.events import encode
from registry.wire import ItemError, PresenceItem, RegistrationResult, SearchCriteria
from sim.nsso.server import StandIn, serve
from tests.controller.support import checkin, limosa, write_site, write_works

pytestmark = pytest.mark.integration

EVENING = datetime(2026, 3, 2, 22, 59, 50, tzinfo=UTC)  # 23:59:50 in Brussels


class MidnightAfterFirstCall:
    """The real client to the stand-in; the shared clock passes midnight during the first
    ``registerPresences`` call (a slow NSSO at the end of the day)."""

    def __init__(self, inner: Registry, clock: ManualClock) -> None:
        self.inner, self.clock = inner, clock
        self.sent_days: list[set[object]] = []

    def register(self, items: Sequence[PresenceItem]) -> list[RegistrationResult | ItemError]:
        self.sent_days.append({item.registration_date for item in items})
        answers = self.inner.register(items)
        if len(self.sent_days) == 1:
            self.clock.advance(30)
        return answers

    def search(self, criteria: SearchCriteria) -> list[RegistrationResult]:
        return self.inner.search(criteria)

    def get(self, receipt_id: str) -> RegistrationResult:
        return self.inner.get(receipt_id)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(EVENING)


@pytest.fixture
def night_stand_in(tmp_path: Path, clock: ManualClock) -> Iterator[StandIn]:
    works = write_works(tmp_path / "works.toml", tuple(limosa(n).digits for n in range(500)))
    with serve(tmp_path / "nsso.db", works, clock=clock, validation_delay_s=3600) as server:
        yield server


def test_a_pass_across_midnight_marks_the_rest_missed_instead_of_sending_yesterday(
    tmp_path: Path, db_url: str, clock: ManualClock, night_stand_in: StandIn
) -> None:
    config = config_module.load(
        write_site(tmp_path / "site", db_url=db_url, registry=night_stand_in.endpoint)
    )
    store = open_store(config.database.url, clock)
    with store.transaction() as conn:
        for n in range(250):  # two batches: 200, then 50
            event = checkin(limosa(n), at=EVENING)
            checkins.record(store, conn, event, encode(event), EVENING, 300)
    wrapped: list[MidnightAfterFirstCall] = []

    def factory() -> Registry:
        wrapped.append(MidnightAfterFirstCall(make_registry(config), clock))
        return wrapped[0]

    relay = Relay(config, store, factory, clock)
    try:
        report = relay.run_once()
    finally:
        relay.close()
    with store.transaction() as conn:
        states = [r.state for r in conn.execute(select(schema.presences.c.state))]
    store.close()
    yesterday = brussels_date(EVENING)
    assert wrapped[0].sent_days == [{yesterday}]  # nothing of yesterday sent after midnight
    assert (report.registered, report.rejected, report.missed) == (200, 0, 50)
    assert sorted(set(states)) == ["missed", "registered"] and states.count("missed") == 50
