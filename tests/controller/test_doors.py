"""Registrations by hand and a team leader's phone enter the gate's path: same checks,
same storage, same ack; never over MQTT. On SQLite and PostgreSQL."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from controller import audit, checkins, schema, views
from controller.audit import Actor
from controller.config import ControllerConfig
from controller.doors import (
    DoorError,
    build_checkin,
    console_terminal,
    handheld_terminal,
    register_by_hand,
    submit_checkin,
)
from controller.relay import Relay
from controller.roster import Upload, apply_import, block, plan_import
from controller.store import Store, open_store
from presence.clock import ManualClock
from presence.events import encode, new_event_id
from tests.controller.support import COMPANY, OTHER_COMPANY, checkin, inss, limosa

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
TODAY, TOMORROW = date(2026, 3, 2), date(2026, 3, 3)
MARIE = Actor("marie", "192.0.2.10")


def _crew(store: Store) -> None:
    text = (
        "person;naam;employer\n"
        f"{inss(1)};Jan Peeters;{COMPANY}\n"
        f"{inss(2)};An Claes;{COMPANY}\n"
        f"{inss(2)};An Claes;{OTHER_COMPANY}\n"
        f"{limosa(3)};Piotr Nowak;\n"
    )
    apply_import(store, plan_import(store, Upload("crew.csv", text.encode())))


@pytest.fixture
def store(site_config: ControllerConfig) -> Iterator[Store]:
    opened = open_store(site_config.database.url, ManualClock(NOW))
    _crew(opened)
    yield opened
    opened.close()


def _presences(store: Store):
    with store.transaction() as conn:
        return conn.execute(select(schema.presences).order_by(schema.presences.c.id)).all()


def _events(store: Store):
    with store.transaction() as conn:
        return conn.execute(select(schema.events).order_by(schema.events.c.id)).all()


def test_a_registration_by_hand_is_a_checkin_from_the_users_virtual_terminal(store, site_config):
    done = register_by_hand(store, site_config, user="Marie", person=str(inss(1)),
                            company="0403.170.701", actor=MARIE)  # fmt: skip
    assert (done.decision, done.reason, done.presence_state, done.created) == (
        "admitted", "ok", "pending", True,
    )  # fmt: skip
    assert done.ack is not None and done.ack.status == "stored"
    (event,) = _events(store)
    assert (event.terminal_id, event.credential_kind, event.seq) == ("console-marie",
                                                                     "keypad_inss", 1)  # fmt: skip
    (presence,) = _presences(store)
    assert (presence.date, presence.company_id, presence.source) == (TODAY, COMPANY, "checkin")
    (entry,) = audit.entries(store)
    assert (entry["action"], entry["who"], entry["target"]) == (
        "register.by_hand", "marie", inss(1).masked(),
    )  # fmt: skip


def test_the_same_form_posted_twice_is_a_duplicate(store, site_config):
    event_id = new_event_id()
    first = register_by_hand(store, site_config, user="marie", person=str(inss(1)),
                             company=COMPANY, event_id=event_id)  # fmt: skip
    again = register_by_hand(store, site_config, user="marie", person=str(inss(1)),
                             company=COMPANY, event_id=event_id)  # fmt: skip
    assert first.ack.status == "stored" and again.ack.status == "duplicate"
    assert again.ack.presence_state == "pending" and len(_events(store)) == 1


def test_a_hand_registration_joins_the_presence_a_gate_made(store, site_config):
    gate = checkin(inss(1), at=NOW)
    with store.transaction() as conn:
        checkins.record(store, conn, gate, encode(gate), NOW, 300)
    done = register_by_hand(store, site_config, user="marie", person=inss(1).digits,
                            company=COMPANY)  # fmt: skip
    assert not done.created and len(_presences(store)) == 1 and len(_events(store)) == 2


def test_the_employer_named_wins_for_a_person_with_two(store, site_config):
    register_by_hand(store, site_config, user="marie", person=str(inss(2)),
                     company=OTHER_COMPANY)  # fmt: skip
    assert _presences(store)[0].company_id == OTHER_COMPANY


def test_someone_not_on_the_roster_is_refused_and_the_refusal_kept(store, site_config):
    done = register_by_hand(store, site_config, user="marie", person=str(inss(9)),
                            company=COMPANY)  # fmt: skip
    assert (done.decision, done.reason, done.presence_id) == ("refused", "unknown_person", None)
    assert _presences(store) == []
    (refusal,) = views.refusals(store)
    assert (refusal["gate"], refusal["channel"]) == ("console-marie", "by_hand")


def test_a_blocked_person_is_refused_at_the_console_too(store, site_config):
    block(store, inss(1))
    done = register_by_hand(store, site_config, user="marie", person=str(inss(1)),
                            company=COMPANY)  # fmt: skip
    assert (done.decision, done.reason) == ("refused", "blocked") and _presences(store) == []


@pytest.mark.parametrize(
    ("person", "company", "day", "code", "field"),
    [
        (f"{inss(1).digits[:-1]}0", COMPANY, None, "bad_person", "person"),
        ("12ab", COMPANY, None, "bad_person", "person"),
        (str(inss(1)), "", None, "company_required", "company"),
        (str(inss(1)), "0403170702", None, "bad_company", "company"),
        (str(inss(1)), OTHER_COMPANY, None, "employer_not_on_roster", "company"),
        (str(inss(1)), COMPANY, TODAY + timedelta(days=2), "bad_date", "day"),
        (str(inss(1)), COMPANY, TODAY - timedelta(days=1), "bad_date", "day"),
        (str(inss(9)), COMPANY, TOMORROW, "unknown_person", "person"),
    ],
)
def test_bad_input_names_its_field_and_stores_nothing(store, site_config, person, company,
                                                      day, code, field):  # fmt: skip
    with pytest.raises(DoorError) as caught:
        register_by_hand(store, site_config, user="marie", person=person, company=company,
                         day=day)  # fmt: skip
    assert (caught.value.code, caught.value.field) == (code, field)
    assert inss(1).digits not in str(caught.value)
    assert _events(store) == [] and _presences(store) == []


def test_tomorrow_becomes_a_planned_presence_dated_tomorrow(store, site_config):
    done = register_by_hand(store, site_config, user="marie", person=str(limosa(3)),
                            day=TOMORROW, actor=MARIE)  # fmt: skip
    assert (done.day, done.presence_state, done.ack, done.created) == (TOMORROW, "pending",
                                                                       None, True)  # fmt: skip
    (presence,) = _presences(store)
    assert (presence.date, presence.source, presence.company_id) == (TOMORROW, "by_hand", None)
    again = register_by_hand(store, site_config, user="marie", person=str(limosa(3)),
                             day=TOMORROW)  # fmt: skip
    assert not again.created and len(_presences(store)) == 1 and _events(store) == []


def test_a_team_leaders_phone_submits_a_scanned_l1_code(store, site_config):
    terminal = handheld_terminal("Tom.Leader")
    first = build_checkin(store, site_config, terminal_id=terminal, person=limosa(3),
                          credential_kind="l1_qr")  # fmt: skip
    second = build_checkin(store, site_config, terminal_id=terminal, person=limosa(3),
                           credential_kind="l1_qr", direction="out")  # fmt: skip
    assert (terminal, first.seq, second.seq) == ("handheld-tom-leader", 1, 2)
    done = submit_checkin(store, site_config, first, actor=Actor("tom"))
    assert done.ack.status == "stored" and done.presence_state == "pending"
    assert views.day_presences(store, TODAY)[0]["channel"] == "handheld"
    assert audit.entries(store)[0]["action"] == "register.handheld"


def test_a_door_takes_virtual_terminals_only(store, site_config):
    from_gate = checkin(inss(1), at=NOW, terminal="gate-1")
    with pytest.raises(DoorError) as caught:
        submit_checkin(store, site_config, from_gate)
    assert caught.value.code == "not_a_virtual_terminal" and _events(store) == []


def test_a_door_cannot_admit_whom_the_roster_refuses(store, site_config):
    claimed = checkin(inss(9), at=NOW, terminal=console_terminal("marie"))
    with pytest.raises(DoorError) as caught:
        submit_checkin(store, site_config, claimed)
    assert caught.value.code == "decision_mismatch" and _events(store) == []


def test_a_hand_registration_is_relayed_and_receipted_like_any_other(relay_config, admin):
    store = open_store(relay_config.database.url)
    try:
        _crew(store)
        done = register_by_hand(store, relay_config, user="marie", person=str(inss(1)),
                                company=COMPANY)  # fmt: skip
        relay = Relay(relay_config, store)
        try:
            assert relay.run_once().registered == 1
        finally:
            relay.close()
        found = views.presence_detail(store, done.presence_id)
        assert found["state"] == "registered" and found["receipt"]
        assert found["checkins"][0]["channel"] == "by_hand"
        assert [r["inss"] for r in admin.registrations()] == [inss(1).digits]
    finally:
        store.close()


def test_a_virtual_terminal_on_the_broker_is_refused_as_today(running, mosquitto):
    from tests.controller.support import FakeTerminal, wait_until

    _controller, store = running
    phone = FakeTerminal(mosquitto.port, terminal="console-marie")
    try:
        event = checkin(limosa(3), terminal="console-marie")
        phone.send(event)
        assert wait_until(lambda: len(views.quarantined(store)) == 1)
        assert views.quarantined(store)[0]["reason"] == "unknown_terminal"
        assert _events(store) == []
        # a refusal of the controller's own making gets no final ack (issue 13)
        with pytest.raises(queue.Empty):
            phone.ack(timeout=1.0)
    finally:
        phone.close()
