"""Acting on anomalies: assign an employer, requeue after a correction, acknowledge a missed
day, see what is stuck in sent. On SQLite and PostgreSQL; cancellations at the stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from controller import anomaly_actions as actions
from controller import audit, checkins, schema, views
from controller.audit import Actor
from controller.config import ControllerConfig
from controller.errors import ControllerError
from controller.relay import Relay, make_registry
from controller.roster import Upload, apply_import, plan_import
from controller.store import Store, open_store
from presence.clock import ManualClock
from presence.events import encode
from tests.controller.support import COMPANY, OTHER_COMPANY, checkin, inss, limosa

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
MARIE = Actor("marie", "192.0.2.10")


def _crew(store: Store, text: str) -> None:
    apply_import(store, plan_import(store, Upload("crew.csv", text.encode())))


def _checkin(store: Store, person, at: datetime = NOW) -> int:
    event = checkin(person, at=at)
    with store.transaction() as conn:
        checkins.record(store, conn, event, encode(event), at, 300)
        return int(
            conn.execute(
                select(schema.presences.c.id).where(schema.presences.c.person_id == person.digits)
            ).scalar_one()
        )


def _row(store: Store, presence_id: int):
    with store.transaction() as conn:
        return conn.execute(
            select(schema.presences).where(schema.presences.c.id == presence_id)
        ).one()


def _set(store: Store, presence_id: int, **values: object) -> None:
    with store.transaction() as conn:
        conn.execute(
            schema.presences.update().where(schema.presences.c.id == presence_id).values(**values)
        )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def store(site_config: ControllerConfig, clock: ManualClock) -> Iterator[Store]:
    opened = open_store(site_config.database.url, clock)
    _crew(opened, f"person;employer\n{inss(1)};{COMPANY}\n{limosa(2)};\n")
    yield opened
    opened.close()


def test_a_presence_without_employer_gets_one_from_the_roster(store):
    presence_id = _checkin(store, inss(5))
    done = actions.assign_employer(store, presence_id, "0403.170.701", MARIE)
    assert (done.state, _row(store, presence_id).company_id) == ("pending", COMPANY)
    assert actions.roster_employers(store) == ["0403.170.701"]
    (entry,) = audit.entries(store, action="anomaly")
    assert entry["action"] == "anomaly.assign_employer" and inss(5).masked() in entry["target"]


@pytest.mark.parametrize(
    ("company", "code"),
    [(OTHER_COMPANY, "not_on_roster"), ("0403170702", "bad_company")],
)
def test_an_employer_not_on_the_roster_is_refused(store, company, code):
    presence_id = _checkin(store, inss(5))
    with pytest.raises(ControllerError) as caught:
        actions.assign_employer(store, presence_id, company)
    assert caught.value.code == code
    assert _row(store, presence_id).state == schema.NEEDS_EMPLOYER


def test_assigning_to_a_presence_in_another_state_or_of_a_past_day_is_refused(store, clock):
    pending = _checkin(store, inss(1))
    with pytest.raises(ControllerError) as caught:
        actions.assign_employer(store, pending, COMPANY)
    assert caught.value.code == "wrong_state"
    old = _checkin(store, inss(6), at=NOW - timedelta(days=3))
    with pytest.raises(ControllerError) as caught:
        actions.assign_employer(store, old, COMPANY)
    assert caught.value.code == "day_passed"
    with pytest.raises(ControllerError) as caught:
        actions.assign_employer(store, 999_999, COMPANY)
    assert caught.value.code == "not_found"


def test_a_rejected_presence_is_sent_again_with_the_corrected_employer(store):
    presence_id = _checkin(store, inss(1))
    before = _row(store, presence_id)
    _set(store, presence_id, state=schema.REJECTED, last_error="00042: company unknown",
         remarks=json.dumps(["00042"]))  # fmt: skip
    _crew(store, f"person;employer\n{inss(1)};{OTHER_COMPANY}\n")  # the correction
    done = actions.requeue_presence(store, presence_id, actor=MARIE)
    row = _row(store, presence_id)
    assert (done.state, row.state, row.company_id) == ("pending", "pending", OTHER_COMPANY)
    assert row.client_ref != before.client_ref and row.remarks is None
    assert audit.entries(store)[0]["detail"] == "was rejected"


def test_a_presence_with_remarks_needs_the_registry_to_cancel_first(store):
    presence_id = _checkin(store, limosa(2))
    _set(store, presence_id, state=schema.FAILED_REMARKS, receipt_id="100000000042")
    with pytest.raises(ControllerError) as caught:
        actions.requeue_presence(store, presence_id)
    assert caught.value.code == "registry_needed"
    assert _row(store, presence_id).state == schema.FAILED_REMARKS


def test_requeue_refuses_other_states(store):
    presence_id = _checkin(store, limosa(2))
    with pytest.raises(ControllerError) as caught:
        actions.requeue_presence(store, presence_id)
    assert caught.value.code == "wrong_state"


def test_a_corrected_registration_is_cancelled_at_nsso_and_registered_anew(relay_config, admin):
    store = open_store(relay_config.database.url)
    registry = make_registry(relay_config)
    relay = Relay(relay_config, store)
    try:
        _crew(store, f"person;employer\n{limosa(2)};\n")
        presence_id = _checkin(store, limosa(2), at=datetime.now(UTC))
        assert relay.run_once().registered == 1
        first = _row(store, presence_id).receipt_id
        _set(store, presence_id, state=schema.FAILED_REMARKS, registry_status="FAILED")
        done = actions.requeue_presence(store, presence_id, registry=registry, actor=MARIE)
        assert f"receipt {first} cancelled (PLANNING)" in done.message
        assert relay.run_once().registered == 1
        row = _row(store, presence_id)
        assert row.receipt_id not in (None, first)
        assert json.loads(row.previous_receipts) == [first]
        statuses = {r["receipt_id"]: r["status"] for r in admin.registrations()}
        assert statuses[first] == "SUCCESSFULLY CANCELLED"
    finally:
        relay.close()
        registry.close()
        store.close()


def test_a_missed_presence_acknowledged_with_a_comment_leaves_the_anomalies(store):
    presence_id = _checkin(store, limosa(2))
    _set(store, presence_id, state=schema.MISSED)
    with pytest.raises(ControllerError) as caught:
        actions.acknowledge_missed(store, presence_id, "   ", MARIE)
    assert caught.value.code == "comment_required"
    actions.acknowledge_missed(store, presence_id, "registered in the online service", MARIE)
    row = _row(store, presence_id)
    assert (row.acknowledged_by, row.ack_comment) == ("marie", "registered in the online service")
    assert views.anomalies(store) == []
    with pytest.raises(ControllerError) as caught:
        actions.acknowledge_missed(store, presence_id, "again", MARIE)
    assert caught.value.code == "already_acknowledged"


def test_only_a_missed_presence_is_acknowledged(store):
    presence_id = _checkin(store, limosa(2))
    with pytest.raises(ControllerError) as caught:
        actions.acknowledge_missed(store, presence_id, "why", MARIE)
    assert caught.value.code == "wrong_state"


def test_presences_stuck_in_sent_are_listed_with_their_batch(store, clock):
    presence_id = _checkin(store, limosa(2))
    with store.transaction() as conn:
        batch = conn.execute(
            schema.batches.insert()
            .values(owner="r", state="in_doubt", item_count=1, created_at=NOW,
                    lease_until=NOW, error="read_timeout: no answer")
            .returning(schema.batches.c.id)
        ).scalar_one()  # fmt: skip
    _set(store, presence_id, state=schema.SENT, batch_id=batch, updated_at=NOW)
    assert actions.stuck_in_sent(store) == []
    clock.advance(16 * 60)
    (row,) = actions.stuck_in_sent(store)
    assert (row["id"], row["batch_state"]) == (presence_id, "in_doubt")
    assert row["detail"] == "read_timeout: no answer"
    assert row["person"] == limosa(2).masked()


def test_cancelling_a_presence_by_id_is_audited(relay_config, admin):
    store = open_store(relay_config.database.url)
    registry = make_registry(relay_config)
    relay = Relay(relay_config, store)
    try:
        _crew(store, f"person;employer\n{limosa(2)};\n")
        presence_id = _checkin(store, limosa(2), at=datetime.now(UTC))
        relay.run_once()
        receipt = _row(store, presence_id).receipt_id
        done = actions.cancel_presence(store, registry, presence_id, "DISEASE", MARIE)
        assert done.state == "cancelled" and receipt in done.message
        (entry,) = audit.entries(store, action="presence.cancel")
        assert entry["detail"] == f"receipt {receipt}: DISEASE"
        with pytest.raises(ControllerError) as caught:
            actions.cancel_presence(store, registry, presence_id, "DISEASE", MARIE)
        assert caught.value.code == "already_cancelled"
    finally:
        relay.close()
        registry.close()
        store.close()
