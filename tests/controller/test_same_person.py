"""One person, one presence, with an eID (national number) and an L1 code (Limosa id)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import checkins, manage, schema
from controller.checkins import Arrival
from controller.cli import main
from controller.config import ControllerConfig
from controller.errors import ControllerError
from controller.relay import Registry, Relay, make_registry
from controller.store import Store, open_store
from presence.clock import ManualClock
from presence.events import CheckIn, encode
from presence.ids import Inss, LimosaId
from registry.wire import ItemError, PresenceItem, RegistrationResult, SearchCriteria
from tests.controller.support import COMPANY, checkin, inss, limosa, write_site

MORNING = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)


def _roster(
    store: Store,
    person: Inss | LimosaId,
    *,
    name: str | None = None,
    limosa_id: LimosaId | None = None,
    valid_to: date | None = None,
) -> None:
    kind = "inss" if isinstance(person, Inss) else "limosa"
    with store.transaction() as conn:
        conn.execute(
            schema.roster.insert().values(
                person_kind=kind,
                person_id=person.digits,
                company_id=COMPANY if kind == "inss" else "",
                source="crew.csv",
                imported_at=MORNING,
                name=name,
                limosa_id=limosa_id.digits if limosa_id else None,
                valid_to=valid_to,
            )
        )


def _arrive(store: Store, *people: Inss | LimosaId, at: datetime = MORNING) -> list[CheckIn]:
    """One check-in per person, each in its own group (a second of the day later)."""
    events = []
    for n, person in enumerate(people):
        moment = at + timedelta(seconds=n)
        event = checkin(person, at=moment)
        with store.transaction() as conn:
            checkins.record(store, conn, event, encode(event), moment, 300)
        events.append(event)
    return events


def _presences(store: Store) -> list:
    with store.transaction() as conn:
        return list(conn.execute(select(schema.presences).order_by(schema.presences.c.id)))


def _event_presences(store: Store) -> list[int | None]:
    with store.transaction() as conn:
        return list(
            conn.execute(select(schema.events.c.presence_id).order_by(schema.events.c.id)).scalars()
        )


# --- linked numbers join one presence -------------------------------------------------------


def test_an_l1_check_in_joins_the_eid_presence_the_roster_links_it_to(store: Store) -> None:
    _roster(store, inss(1), limosa_id=limosa(1))
    _arrive(store, inss(1), limosa(1))
    (presence,) = _presences(store)
    assert (presence.person_kind, presence.state) == ("inss", "pending")
    assert _event_presences(store) == [presence.id, presence.id]


def test_an_eid_check_in_joins_the_l1_presence_the_roster_links_it_to(store: Store) -> None:
    _roster(store, inss(1), limosa_id=limosa(1))
    _arrive(store, limosa(1), inss(1))
    (presence,) = _presences(store)
    assert presence.person_kind == "limosa"
    assert _event_presences(store) == [presence.id, presence.id]


def test_both_numbers_in_one_commit_group_make_one_presence(store: Store) -> None:
    _roster(store, inss(1), limosa_id=limosa(1))
    events = [checkin(limosa(1), at=MORNING), checkin(inss(1), at=MORNING)]
    with store.transaction() as conn:
        outcomes = checkins.record_many(
            store, conn, [Arrival(e, encode(e), MORNING) for e in events], 300
        )
    assert [o.presence_state for o in outcomes] == ["pending", "pending"]
    assert len(_presences(store)) == 1


def test_a_roster_link_no_longer_valid_that_day_does_not_join(store: Store) -> None:
    _roster(store, inss(1), limosa_id=limosa(1), valid_to=date(2026, 3, 1))
    _arrive(store, inss(1), limosa(1))
    assert len(_presences(store)) == 2


def test_the_next_day_the_linked_person_gets_one_new_presence(store: Store) -> None:
    _roster(store, inss(1), limosa_id=limosa(1))
    _arrive(store, inss(1), limosa(1))
    _arrive(store, limosa(1), inss(1), at=MORNING + timedelta(days=1))
    assert [(p.date.day, p.person_kind) for p in _presences(store)] == [
        (2, "inss"),
        (3, "limosa"),
    ]


def test_preregistering_from_the_roster_registers_a_linked_person_once(store: Store) -> None:
    store.clock = ManualClock(MORNING)
    _roster(store, inss(1), limosa_id=limosa(1))
    _roster(store, limosa(1), name="Jan Peeters")
    day = date(2026, 3, 3)
    done = manage.preregister(store, "1Y102M7NZF7PZ", day, manage.crew_from_roster(store, day))
    assert (done.created, done.existing) == (1, 1)
    assert len(_presences(store)) == 1


# --- NSSO's answer links the numbers --------------------------------------------------------


class AnswersWithTheWorkersInss:
    """The real client to the stand-in; NSSO's answer for a Limosa registration names the
    worker's latest INSS (``PresenceRegistrationType/INSS``), which the stand-in leaves out."""

    def __init__(self, inner: Registry, inss_of: dict[str, str]) -> None:
        self.inner, self.inss_of = inner, inss_of

    def _named(self, result: RegistrationResult) -> RegistrationResult:
        if result.limosa_id in self.inss_of:
            return dataclasses.replace(result, inss=self.inss_of[result.limosa_id])
        return result

    def register(self, items: Sequence[PresenceItem]) -> list[RegistrationResult | ItemError]:
        return [
            a if isinstance(a, ItemError) else self._named(a) for a in self.inner.register(items)
        ]

    def search(self, criteria: SearchCriteria) -> list[RegistrationResult]:
        return [self._named(r) for r in self.inner.search(criteria)]

    def get(self, receipt_id: str) -> RegistrationResult:
        return self._named(self.inner.get(receipt_id))

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def linking_relay(relay_config: ControllerConfig) -> Iterator[tuple[Store, Relay]]:
    store = open_store(relay_config.database.url)
    inss_of = {limosa(1).digits: inss(1).digits}

    def factory() -> Registry:
        return AnswersWithTheWorkersInss(make_registry(relay_config), inss_of)

    relay = Relay(relay_config, store, factory)
    yield store, relay
    relay.close()
    store.close()


def test_after_nsso_names_the_workers_inss_an_eid_check_in_joins_the_l1_presence(
    linking_relay: tuple[Store, Relay],
) -> None:
    store, relay = linking_relay
    now = datetime.now(UTC)
    _arrive(store, limosa(1), at=now)
    assert relay.run_once().registered == 1
    _arrive(store, inss(1), at=now + timedelta(minutes=5))
    (presence,) = _presences(store)
    assert (presence.person_kind, presence.state) == ("limosa", "registered")
    with store.transaction() as conn:
        link = conn.execute(select(schema.person_links)).one()
    assert (link.inss, link.limosa_id, link.same, link.source) == (
        inss(1).digits,
        limosa(1).digits,
        True,
        "nsso",
    )


def test_nsso_naming_the_workers_inss_folds_an_unsent_eid_presence_of_that_day(
    linking_relay: tuple[Store, Relay],
) -> None:
    store, relay = linking_relay
    now = datetime.now(UTC)
    _arrive(store, limosa(1), inss(1), at=now)  # the eID one waits for its employer
    assert [p.state for p in _presences(store)] == ["pending", "needs_employer"]
    relay.run_once()
    (presence,) = _presences(store)
    assert presence.person_kind == "limosa" and len(set(_event_presences(store))) == 1


# --- no link, but the same name: held for the site manager ----------------------------------


def _named_pair(store: Store) -> None:
    _roster(store, limosa(2), name="Jan Peeters")
    _roster(store, inss(2), name="PEETERS, Jan")


def test_an_eid_check_in_with_the_name_of_a_present_l1_worker_is_held(store: Store) -> None:
    _named_pair(store)
    _arrive(store, limosa(2), inss(2))
    first, second = _presences(store)
    assert (first.state, second.state) == ("pending", "possible_same_person")
    assert second.same_as_id == first.id
    assert f"same-person {second.id}" in second.last_error
    assert limosa(2).digits not in second.last_error


def test_a_held_presence_is_never_sent(relay_config: ControllerConfig) -> None:
    store = open_store(relay_config.database.url)
    relay = Relay(relay_config, store)
    try:
        _named_pair(store)
        _arrive(store, limosa(2), inss(2), at=datetime.now(UTC))
        report = relay.run_once()
    finally:
        relay.close()
        states = [p.state for p in _presences(store)]
        store.close()
    assert report.sent == 1 and states == ["registered", "possible_same_person"]


def test_a_held_presence_is_not_marked_missed_when_its_day_ends(
    site_config: ControllerConfig, store: Store
) -> None:
    _named_pair(store)
    _arrive(store, limosa(2), inss(2))
    next_day = ManualClock(MORNING + timedelta(days=1))
    relay = Relay(site_config, store, clock=next_day)
    try:
        assert relay.run_once().missed == 1
    finally:
        relay.close()
    assert [p.state for p in _presences(store)] == ["missed", "possible_same_person"]


@pytest.mark.parametrize(
    ("l1_name", "eid_name"),
    [
        ("Jan Peeters", "Piet Peeters"),  # another person
        ("Peeters", "Peeters"),  # one word says too little
        (None, "Jan Peeters"),  # no name to compare
    ],
)
def test_no_hold_without_the_same_full_name(store: Store, l1_name, eid_name) -> None:
    _roster(store, limosa(2), name=l1_name)
    _roster(store, inss(2), name=eid_name)
    _arrive(store, limosa(2), inss(2))
    assert [p.state for p in _presences(store)] == ["pending", "pending"]


def test_two_national_numbers_with_one_name_are_not_held(store: Store) -> None:
    _roster(store, inss(2), name="Jan Peeters")
    _roster(store, inss(3), name="Jan Peeters")
    _arrive(store, inss(2), inss(3))
    assert [p.state for p in _presences(store)] == ["pending", "pending"]


def test_the_name_rule_ignores_accents_case_and_word_order(store: Store) -> None:
    _roster(store, limosa(2), name="José Müller-García")
    _roster(store, inss(2), name="GARCIA MULLER jose")
    _arrive(store, inss(2), limosa(2))
    assert [p.state for p in _presences(store)] == ["pending", "possible_same_person"]


# --- the site manager decides ---------------------------------------------------------------


def test_same_merges_the_held_presence_and_later_check_ins_join_at_once(store: Store) -> None:
    _named_pair(store)
    _arrive(store, limosa(2), inss(2))
    kept, held = _presences(store)
    decision = manage.resolve_same_person(store, held.id, same=True)
    assert (decision.merged, decision.other_id) == (True, kept.id)
    assert [p.id for p in _presences(store)] == [kept.id]
    assert _event_presences(store) == [kept.id, kept.id]  # the eID check-in kept as evidence
    _arrive(store, inss(2), at=MORNING + timedelta(hours=4))
    assert [p.id for p in _presences(store)] == [kept.id]


def test_different_releases_the_held_presence_and_the_pair_is_not_held_again(
    store: Store,
) -> None:
    _named_pair(store)
    _arrive(store, limosa(2), inss(2))
    _kept, held = _presences(store)
    assert manage.resolve_same_person(store, held.id, same=False).state == "pending"
    _arrive(store, limosa(2), inss(2), at=MORNING + timedelta(days=1))
    assert [p.state for p in _presences(store)] == ["pending"] * 4


def test_only_a_held_presence_can_be_decided(store: Store) -> None:
    _arrive(store, limosa(2))
    (presence,) = _presences(store)
    with pytest.raises(ControllerError) as refused:
        manage.resolve_same_person(store, presence.id, same=True)
    assert refused.value.code == "not_held"


def test_the_anomalies_list_and_the_same_person_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    site = write_site(tmp_path / "site", db_url=db)
    store = open_store(db)
    try:
        _named_pair(store)
        _arrive(store, limosa(2), inss(2), at=datetime.now(UTC))
    finally:
        store.close()
    assert main(["--config", str(site), "anomalies", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["state"] == "possible_same_person" and row["person"] == inss(2).masked()
    assert main(["--config", str(site), "same-person", str(row["id"]), "--same"]) == 0
    assert "merged into presence" in capsys.readouterr().out
    assert main(["--config", str(site), "presences", "--format", "json"]) == 0
    assert [r["person"] for r in json.loads(capsys.readouterr().out)] == [limosa(2).masked()]
    assert main(["--config", str(site), "same-person", str(row["id"]), "--different"]) == 1
    assert "[not_found]" in capsys.readouterr().err
