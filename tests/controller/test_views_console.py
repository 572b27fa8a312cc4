"""The views the console's pages call: today's counts, the live feed, on site, a day's
presences, refusals, terminal health, a presence's evidence. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from controller import audit, checkins, schema, views
from controller.audit import Actor
from controller.config import ControllerConfig
from controller.errors import ControllerError, StoreError
from controller.roster import Upload, apply_import, plan_import
from controller.store import Store, open_store
from presence.clock import ManualClock
from presence.events import CheckIn, encode
from tests.controller.support import COMPANY, OTHER_COMPANY, checkin, inss, limosa

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Brussels
TODAY = date(2026, 3, 2)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def store(site_config: ControllerConfig, clock: ManualClock) -> Iterator[Store]:
    opened = open_store(site_config.database.url, clock)
    apply_import(
        opened,
        plan_import(
            opened,
            Upload(
                "crew.csv",
                (
                    "person;naam;employer\n"
                    f"{inss(1)};Jan Peeters;{COMPANY}\n"
                    f"{inss(2)};An Claes;{OTHER_COMPANY}\n"
                    f"{limosa(3)};Piotr Nowak;\n"
                ).encode(),
            ),
        ),
    )
    yield opened
    opened.close()


def _record(store: Store, *events: CheckIn) -> None:
    with store.transaction() as conn:
        for event in events:
            checkins.record(store, conn, event, encode(event), NOW, 300)


def _at(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def _set_state(store: Store, person: str, **values: object) -> None:
    p = schema.presences.c
    with store.transaction() as conn:
        conn.execute(schema.presences.update().where(p.person_id == person).values(**values))


def test_today_counts_people_decisions_and_states(store):
    _record(
        store,
        checkin(inss(1), at=_at(60), terminal="gate-1"),
        checkin(inss(2), at=_at(50)),
        checkin(inss(2), at=_at(10), direction="out"),
        checkin(limosa(3), at=_at(5)),
        checkin(inss(4), at=_at(3), decision="refused"),
        checkin(inss(5), at=_at(2)),  # not on the roster: needs an employer
    )
    _set_state(store, inss(1).digits, state=schema.REGISTERED, receipt_id="100000000042")
    counts = views.today_counts(store)
    assert counts == {
        "date": "2026-03-02",
        "on_site": 3,
        "admitted": 4,
        "refused": 1,
        "registered": 1,
        "pending": 2,
        "needs_employer": 1,
        "anomalies": 1,
    }


def test_the_feed_is_newest_first_masked_and_continues_from_an_id(store):
    first, second = checkin(inss(1), at=_at(2)), checkin(limosa(3), at=_at(1), terminal="x")
    _record(store, first)
    start = views.latest_event_id(store)
    _record(store, second)
    rows = views.feed(store)
    assert [r["person"] for r in rows] == [limosa(3).masked(), inss(1).masked()]
    assert rows[1]["name"] == "Jan Peeters" and rows[1]["at"] == "2026-03-02 09:58:00 CET"
    newer = views.feed(store, since_id=start)
    assert [r["name"] for r in newer] == ["Piotr Nowak"]
    assert views.feed(store, since_id=newer[0]["id"]) == []
    assert inss(1).digits not in json.dumps(rows)


def test_on_site_shows_name_company_since_and_gate(store):
    _record(store, checkin(inss(1), at=_at(30), terminal="gate-2"), checkin(limosa(3), at=_at(20)))
    rows = {r["name"]: r for r in views.onsite(store)}
    assert rows["Jan Peeters"]["gate"] == "gate-2"
    assert rows["Jan Peeters"]["employer"] == "0403.170.701"
    assert rows["Jan Peeters"]["since"] == "2026-03-02 09:30:00 CET"
    assert rows["Piotr Nowak"]["person"] == limosa(3).masked()


def test_on_site_follows_each_persons_last_passage_even_at_the_same_second(store):
    _record(
        store,
        checkin(inss(1), at=_at(50), seq=1),
        checkin(inss(1), at=_at(40), seq=2, direction="out"),
        checkin(inss(1), at=_at(10), seq=3, terminal="gate-2"),  # back in: since 09:50
        checkin(inss(2), at=_at(30), seq=4),
        checkin(inss(2), at=_at(30), seq=5, direction="out"),  # out at the very same second
        checkin(limosa(3), at=_at(20), seq=6),
        checkin(limosa(3), at=_at(5), seq=7, decision="refused"),  # a refusal moves nobody
    )
    rows = views.onsite(store)
    assert [r["name"] for r in rows] == ["Piotr Nowak", "Jan Peeters"]  # longest inside first
    assert rows[1]["since"] == "2026-03-02 09:50:00 CET" and rows[1]["gate"] == "gate-2"
    counts = views.today_counts(store)
    assert (counts["on_site"], counts["admitted"], counts["refused"]) == (2, 3, 1)


def test_a_days_presences_carry_gate_channel_first_checkin_and_receipt(store):
    _record(
        store,
        checkin(inss(1), at=_at(40), terminal="console-marie"),
        checkin(inss(1), at=_at(50), terminal="gate-2"),
        checkin(limosa(3), at=_at(20), terminal="handheld-tom"),
    )
    _set_state(
        store,
        inss(1).digits,
        state=schema.FAILED_REMARKS,
        receipt_id="100000000042",
        registry_status="FAILED",
        remarks=json.dumps(["RELATED DIMONA NOT OK"]),
    )
    rows = {r["name"]: r for r in views.day_presences(store, TODAY)}
    jan = rows["Jan Peeters"]
    assert (jan["gate"], jan["channel"], jan["first_checkin"]) == ("gate-2", "gate", "09:10:00 CET")
    assert (jan["receipt"], jan["validation"]) == ("100000000042", "FAILED")
    assert jan["remarks"] == "RELATED DIMONA NOT OK" and jan["person"] == inss(1).masked()
    assert rows["Piotr Nowak"]["channel"] == "handheld"


def test_a_days_presences_filter_by_company_state_digits_and_name(store):
    _record(store, checkin(inss(1), at=_at(3)), checkin(inss(2), at=_at(2)),
            checkin(limosa(3), at=_at(1)))  # fmt: skip
    names = lambda **kw: sorted(r["name"] for r in views.day_presences(store, TODAY, **kw))  # noqa: E731
    assert names(company="0202.239.951") == ["An Claes"]
    assert names(state="pending") == ["An Claes", "Jan Peeters", "Piotr Nowak"]
    assert names(state="registered") == []
    assert names(search=inss(1).digits[-3:]) == ["Jan Peeters"]
    assert names(search="NOWAK") == ["Piotr Nowak"]
    assert views.companies_of_day(store, TODAY) == ["0202.239.951", "0403.170.701"]
    assert views.day_presences(store, TODAY - timedelta(days=1)) == []


def test_refusals_of_today_with_gate_reason_and_explanation(store):
    _record(
        store,
        checkin(inss(1), at=_at(5), decision="refused", terminal="gate-2"),
        checkin(inss(2), at=NOW - timedelta(days=1), decision="refused"),
        checkin(limosa(3), at=_at(4)),
    )
    with store.transaction() as conn:
        conn.execute(schema.events.update().values(reason="card_expired")
                     .where(schema.events.c.decision == "refused"))  # fmt: skip
    (row,) = views.refusals(store)
    assert (row["gate"], row["reason"], row["name"]) == ("gate-2", "card_expired", "Jan Peeters")
    assert "expired" in row["explanation"] and row["person"] == inss(1).masked()
    assert len(views.refusals(store, TODAY - timedelta(days=1))) == 1


def _terminal(store: Store, terminal: str, **values: object) -> None:
    with store.transaction() as conn:
        conn.execute(
            schema.terminals.insert().values(
                terminal_id=terminal,
                direction="in",
                cert_serial="01",
                **{"revoked": False, **values},
            )
        )


def test_a_terminal_is_silent_after_three_heartbeats_by_our_clock(store, clock):
    _terminal(store, "gate-1", last_state="online", last_status_at=NOW + timedelta(seconds=40),
              clock_offset_s=40.0, outbox_depth=3, software_version="1.2.0")  # fmt: skip
    _terminal(store, "gate-2")
    _terminal(store, "gate-3", revoked=True, last_state="offline", last_status_at=_at(60))
    rows = {r["terminal"]: r for r in views.terminal_health(store)}
    assert rows["gate-1"]["heartbeat_age_s"] == 0 and not rows["gate-1"]["silent"]
    assert rows["gate-2"]["link"] == "never_seen" and not rows["gate-2"]["silent"]
    assert not rows["gate-3"]["silent"] and rows["gate-3"]["revoked"]
    clock.advance(views.SILENT_AFTER_S + 1)
    gate = {r["terminal"]: r for r in views.terminal_health(store)}["gate-1"]
    assert gate["silent"] and gate["heartbeat_age_s"] == 91
    assert (gate["outbox_depth"], gate["clock_offset_s"], gate["version"]) == (3, 40.0, "1.2.0")


def test_a_terminal_whose_heartbeat_names_the_tamper_switch_is_tampered(store):
    _terminal(store, "gate-1", last_state="online", last_status_at=NOW,
              health=json.dumps({"tamper": "open", "reader": "ok"}))  # fmt: skip
    _terminal(store, "gate-2", last_state="online", last_status_at=NOW,
              health=json.dumps({"flow": "idle"}))  # fmt: skip
    rows = {r["terminal"]: r for r in views.terminal_health(store)}
    assert rows["gate-1"]["tampered"] and rows["gate-1"]["health"]["reader"] == "ok"
    assert not rows["gate-2"]["tampered"]


def test_an_acknowledged_missed_presence_leaves_the_anomalies(store):
    _record(store, checkin(limosa(3), at=_at(5)), checkin(inss(1), at=_at(4)))
    _set_state(store, limosa(3).digits, state=schema.MISSED)
    _set_state(store, inss(1).digits, state=schema.MISSED, acknowledged_at=NOW,
               acknowledged_by="marie", ack_comment="registered online")  # fmt: skip
    assert [r["person"] for r in views.anomalies(store)] == [limosa(3).masked()]


def test_a_presence_shows_its_evidence(store):
    event = checkin(inss(1), at=_at(5), terminal="gate-2")
    _record(store, event, checkin(inss(1), at=_at(1), direction="out"))
    with store.transaction() as conn:
        presence_id = conn.execute(select(schema.presences.c.id)).scalar_one()
    _set_state(store, inss(1).digits, state=schema.REJECTED, last_error="00123: unknown",
               remarks=json.dumps(["00123"]))  # fmt: skip
    found = views.presence_detail(store, presence_id)
    assert found["state"] == "rejected" and found["remarks"] == ["00123"]
    assert found["checkins"][0]["event_id"] == str(event.event_id)
    assert found["name"] == "Jan Peeters" and inss(1).digits not in json.dumps(found)
    with pytest.raises(StoreError) as caught:
        views.presence_detail(store, presence_id + 100)
    assert caught.value.code == "not_found"


def test_revealing_one_number_is_audited(store):
    _record(store, checkin(inss(1), at=_at(5)))
    with store.transaction() as conn:
        presence_id = conn.execute(select(schema.presences.c.id)).scalar_one()
    actor = Actor("marie", "192.0.2.10")
    assert views.reveal_number(store, presence_id=presence_id, actor=actor) == str(inss(1))
    (entry,) = audit.entries(store, action="reveal")
    assert (entry["who"], entry["target"]) == ("marie", inss(1).masked())
    with pytest.raises(ControllerError) as caught:
        views.reveal_number(store, presence_id=presence_id, roster_id=1)
    assert caught.value.code == "bad_request"
