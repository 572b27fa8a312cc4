"""What a site manager does about an anomaly (the Anomalies page and ``sitegate-controller
anomaly ...``): give a ``needs_employer`` presence its employer, send a ``rejected`` or
``failed_remarks`` presence again once its cause is fixed, acknowledge a ``missed`` one
with a comment, see what is stuck in ``sent``, cancel a registration.

Each action checks the presence's state inside the transaction that changes it, records an
audit entry there when given an actor, and answers an ``ActionResult`` or raises
``ControllerError`` with a stable code: ``not_found``, ``wrong_state``, ``day_passed``,
``bad_company``, ``not_on_roster``, ``comment_required``, ``registry_needed``, and those of
``manage.cancel``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, select

from controller import audit, manage, schema, views
from controller.audit import Actor
from controller.checkins import employer_on
from controller.errors import ControllerError
from controller.manage import Canceller
from controller.store import Store
from presence.clock import brussels_date
from presence.ids import CompanyId, InvalidIdentifier, parse_company_id

log = logging.getLogger(__name__)

REQUEUE_FROM = (schema.REJECTED, schema.FAILED_REMARKS, schema.CANCELLED)
COMMENT_MAX = 1000
CORRECTION_REASON = "PLANNING"  # the cancel reason README gives for a correction


@dataclass(frozen=True, slots=True)
class ActionResult:
    presence_id: int
    state: str  # the presence's state after the action
    message: str  # what happened, in words (no full number)


def _presence(conn: Connection, presence_id: int) -> Any:
    row = conn.execute(select(schema.presences).where(schema.presences.c.id == presence_id)).first()
    if row is None:
        raise ControllerError("not_found", f"no presence {presence_id}")
    return row


def _expect(row: Any, states: tuple[str, ...]) -> None:
    if row.state not in states:
        raise ControllerError(
            "wrong_state",
            f"presence {row.id} is {row.state}, not {' or '.join(states)}",
        )


def _sendable(store: Store, row: Any) -> None:
    """NSSO takes today or tomorrow only (DOMAIN.md section 4)."""
    today = brussels_date(store.clock.now())
    if row.date not in (today, today + timedelta(days=1)):
        raise ControllerError(
            "day_passed",
            f"presence {row.id} is of {row.date}: NSSO registers today or tomorrow only; "
            "register it in NSSO's online service and acknowledge it",
        )


def roster_employers(store: Store) -> list[str]:
    """The employers on the roster (the choices for ``assign_employer``)."""
    r = schema.roster.c
    with store.transaction() as conn:
        found = conn.execute(select(r.company_id).where(r.company_id != "").distinct())
        return sorted(str(CompanyId(c)) for c in found.scalars())


def assign_employer(
    store: Store, presence_id: int, company: str, actor: Actor | None = None
) -> ActionResult:
    """A ``needs_employer`` presence (a national number not on the roster) gets one of the
    roster's employers: it becomes ``pending`` and the relay sends it."""
    try:
        digits = parse_company_id(company).digits
    except InvalidIdentifier as exc:
        raise ControllerError("bad_company", str(exc)) from None
    now = store.clock.now()
    p, r = schema.presences.c, schema.roster.c
    with store.transaction() as conn:
        row = _presence(conn, presence_id)
        _expect(row, (schema.NEEDS_EMPLOYER,))
        _sendable(store, row)
        known = conn.execute(select(r.id).where(r.company_id == digits).limit(1)).first()
        if known is None:
            raise ControllerError(
                "not_on_roster", f"{CompanyId(digits)} is no employer on the roster"
            )
        conn.execute(
            schema.presences.update()
            .where(p.id == presence_id, p.state == schema.NEEDS_EMPLOYER)
            .values(company_id=digits, state=schema.PENDING, updated_at=now)
        )
        audit.record_by(
            conn,
            actor,
            now,
            "anomaly.assign_employer",
            _target(row),
            f"employer {CompanyId(digits)}",
        )
    log.info("presence %s got employer %s", presence_id, CompanyId(digits))
    return ActionResult(presence_id, schema.PENDING, f"employer {CompanyId(digits)}: pending")


def requeue_presence(
    store: Store,
    presence_id: int,
    *,
    registry: Canceller | None = None,
    reason: str = CORRECTION_REASON,
    actor: Actor | None = None,
) -> ActionResult:
    """Send one ``rejected``, ``failed_remarks`` or ``cancelled`` presence again after its
    cause was fixed. NSSO has no update: a ``failed_remarks`` one is registered, so it is
    cancelled first (``registry`` needed, ``reason`` one of NSSO's). The employer is taken
    again from the roster (the usual correction), the old receipt kept as evidence."""
    with store.transaction() as conn:
        row = _presence(conn, presence_id)
    _expect(row, REQUEUE_FROM)
    _sendable(store, row)
    cancelled = ""
    if row.state == schema.FAILED_REMARKS:
        if registry is None:
            raise ControllerError("registry_needed", "a registered presence is cancelled first")
        result = manage.cancel(store, registry, row.receipt_id, reason)
        cancelled = f"; receipt {result.receipt_id} cancelled ({reason})"
    p = schema.presences.c
    now = store.clock.now()
    with store.transaction() as conn:
        row = _presence(conn, presence_id)
        _expect(row, (schema.REJECTED, schema.CANCELLED))
        values = manage.requeued(store, row, row.state)
        company = row.company_id
        if row.person_kind == "inss":
            company = employer_on(conn, row.person_kind, row.person_id, row.date) or company
        conn.execute(
            schema.presences.update()
            .where(p.id == presence_id, p.state == row.state)
            .values(company_id=company, **values)
        )
        audit.record_by(
            conn, actor, now, "anomaly.requeue", _target(row), f"was {row.state}{cancelled}"
        )
    log.info("presence %s queued again (was %s)%s", presence_id, row.state, cancelled)
    return ActionResult(presence_id, schema.PENDING, f"queued again (was {row.state}){cancelled}")


def acknowledge_missed(
    store: Store, presence_id: int, comment: str, actor: Actor | None = None
) -> ActionResult:
    """A ``missed`` presence the site manager dealt with (registered it in NSSO's online
    service, or the person did not work): it leaves the anomalies, the comment stays."""
    text = " ".join((comment or "").split())
    if not text:
        raise ControllerError("comment_required", "say what was done about it")
    if len(text) > COMMENT_MAX:
        raise ControllerError("comment_too_long", f"at most {COMMENT_MAX} characters")
    now = store.clock.now()
    p = schema.presences.c
    who = actor.who if actor is not None else "unknown"
    with store.transaction() as conn:
        row = _presence(conn, presence_id)
        _expect(row, (schema.MISSED,))
        if row.acknowledged_at is not None:
            raise ControllerError(
                "already_acknowledged",
                f"presence {presence_id} was acknowledged by {row.acknowledged_by}",
            )
        conn.execute(
            schema.presences.update()
            .where(p.id == presence_id, p.acknowledged_at.is_(None))
            .values(acknowledged_at=now, acknowledged_by=who[:100], ack_comment=text)
        )
        audit.record_by(conn, actor, now, "anomaly.acknowledge", _target(row), text[:200])
    return ActionResult(presence_id, schema.MISSED, "acknowledged")


def cancel_presence(
    store: Store,
    registry: Canceller,
    presence_id: int,
    reason: str,
    actor: Actor | None = None,
) -> ActionResult:
    """Cancel a presence's registration at NSSO (``manage.cancel``), audited."""
    with store.transaction() as conn:
        row = _presence(conn, presence_id)
    if not row.receipt_id:
        raise ControllerError("wrong_state", f"presence {presence_id} has no receipt to cancel")
    result = manage.cancel(store, registry, row.receipt_id, reason)
    with store.transaction() as conn:
        audit.record_by(
            conn,
            actor,
            store.clock.now(),
            "presence.cancel",
            _target(row),
            f"receipt {row.receipt_id}: {reason}",
        )
    return ActionResult(
        presence_id,
        schema.CANCELLED,
        f"receipt {result.receipt_id}: {result.status or 'cancelled'}",
    )


STUCK_COLUMNS = (
    "id",
    "date",
    "person",
    "name",
    "employer",
    "sent_since",
    "attempts",
    "batch",
    "batch_state",
    "detail",
)


def stuck_in_sent(store: Store, reveal: bool = False) -> list[dict[str, Any]]:
    """Presences still ``sent`` ``views.STUCK_AFTER`` after they were claimed: their
    answer is lost and NSSO (or its search) keeps failing; the relay checks each batch
    before any resend, so these need watching, not resending by hand."""
    p, b = schema.presences.c, schema.batches.c
    limit = store.clock.now() - views.STUCK_AFTER
    with store.transaction() as conn:
        rows = conn.execute(
            select(
                p.id,
                p.date,
                p.person_kind,
                p.person_id,
                p.company_id,
                p.updated_at,
                p.attempts,
                p.last_error,
                b.id.label("batch"),
                b.state.label("batch_state"),
                b.error.label("batch_error"),
            )
            .select_from(schema.presences.outerjoin(schema.batches, p.batch_id == b.id))
            .where(p.state == schema.SENT, p.updated_at < limit)
            .order_by(p.updated_at, p.id)
        ).all()
        names = views.names_of(conn, {(r.person_kind, r.person_id) for r in rows})
    return [
        {
            "id": row.id,
            "date": row.date.isoformat(),
            "person": views.show_person(row.person_kind, row.person_id, reveal),
            "name": names.get((row.person_kind, row.person_id), ""),
            "employer": views.show_company(row.company_id),
            "sent_since": views.local_time(row.updated_at),
            "attempts": row.attempts,
            "batch": row.batch,
            "batch_state": row.batch_state or "",
            "detail": row.batch_error or row.last_error or "",
        }
        for row in rows
    ]


def _target(row: Any) -> str:
    person = views.show_person(row.person_kind, row.person_id, False)
    return f"presence {row.id} ({person}, {row.date})"
