"""Read-only views for the site manager: presences, who is on site, anomalies, terminals.

Each returns plain rows (dicts); national numbers and Limosa ids are masked unless
``reveal`` is asked for.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from controller import schema, siteconfig
from controller.store import Store
from presence.clock import BRUSSELS, brussels_date
from presence.ids import CompanyId

Row = dict[str, Any]

PRESENCE_COLUMNS = (
    "date",
    "person",
    "employer",
    "state",
    "receipt",
    "source",
    "attempts",
    "detail",
)
ONSITE_COLUMNS = ("person", "employer", "since", "terminal", "credential")
TERMINAL_COLUMNS = (
    "terminal",
    "direction",
    "revoked",
    "state",
    "last_seen",
    "outbox_depth",
    "outbox_alarm",
    "clock_synced",
    "version",
)


def show_person(kind: str, digits: str, reveal: bool) -> str:
    person = siteconfig.make_person(kind, digits)
    return str(person) if reveal else person.masked()


def show_company(digits: str | None) -> str:
    return str(CompanyId(digits)) if digits else ""


def _local(moment: datetime | None) -> str:
    return moment.astimezone(BRUSSELS).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _detail(row: Any) -> str:
    parts = []
    if row.remarks:
        remarks = json.loads(row.remarks)
        if remarks:
            parts.append(", ".join(str(r) for r in remarks))
    if row.last_error and row.state not in (schema.REGISTERED, schema.VALIDATED):
        parts.append(str(row.last_error))
    if row.previous_receipts:
        parts.append("replaces receipt " + ", ".join(json.loads(row.previous_receipts)))
    return " | ".join(dict.fromkeys(parts))


def presences(
    store: Store,
    *,
    day: date | None = None,
    state: str | None = None,
    states: tuple[str, ...] = (),
    where: ColumnElement[bool] | None = None,
    reveal: bool = False,
) -> list[Row]:
    p = schema.presences.c
    query = select(schema.presences).order_by(p.date, p.id)
    if day is not None:
        query = query.where(p.date == day)
    if state is not None:
        query = query.where(p.state == state)
    if states:
        query = query.where(p.state.in_(states))
    if where is not None:
        query = query.where(where)
    with store.transaction() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "id": row.id,
            "date": row.date.isoformat(),
            "person": row.person_masked or show_person(row.person_kind, row.person_id, reveal),
            "employer": show_company(row.company_id),
            "state": row.state,
            "receipt": row.receipt_id or "",
            "source": row.source,
            "attempts": row.attempts,
            "detail": _detail(row),
        }
        for row in rows
    ]


# The anomalies listing names each presence by its id: what same-person takes.
ANOMALY_COLUMNS = ("id", *PRESENCE_COLUMNS)

# A presence still "sent" this long after it was claimed has an answer nobody could settle
# (NSSO or its search keeps failing): the site manager must know before the day is over.
STUCK_AFTER = timedelta(minutes=15)


def anomalies(store: Store, reveal: bool = False) -> list[Row]:
    p = schema.presences.c
    stuck = and_(p.state == schema.SENT, p.updated_at < store.clock.now() - STUCK_AFTER)
    condition = or_(p.state.in_(schema.ANOMALY_STATES), stuck)
    return presences(store, where=condition, reveal=reveal)


def onsite(store: Store, reveal: bool = False) -> list[Row]:
    """People whose last admitted passage today went in: the evacuation list."""
    now = store.clock.now()
    start = datetime.combine(brussels_date(now), time(0), BRUSSELS)
    e, p = schema.events.c, schema.presences.c
    with store.transaction() as conn:
        rows = conn.execute(
            select(
                e.person_kind,
                e.person_id,
                e.direction,
                e.dated_at,
                e.terminal_id,
                e.credential_kind,
                p.company_id,
            )
            .select_from(schema.events.outerjoin(schema.presences, e.presence_id == p.id))
            .where(e.decision == "admitted", e.dated_at >= start, e.dated_at < now + timedelta(1))
            .order_by(e.dated_at, e.id)
        ).all()
    last: dict[tuple[str, str], Any] = {}
    employer: dict[tuple[str, str], str | None] = {}
    for row in rows:
        key = (row.person_kind, row.person_id)
        last[key] = row
        employer[key] = row.company_id or employer.get(key)
    return [
        {
            "person": show_person(kind, digits, reveal),
            "employer": show_company(employer[(kind, digits)]),
            "since": _local(row.dated_at),
            "terminal": row.terminal_id,
            "credential": row.credential_kind,
        }
        for (kind, digits), row in last.items()
        if row.direction == "in"
    ]


def terminals(store: Store) -> list[Row]:
    t = schema.terminals.c
    with store.transaction() as conn:
        rows = conn.execute(select(schema.terminals).order_by(t.terminal_id)).all()
    return [
        {
            "terminal": row.terminal_id,
            "direction": row.direction,
            "revoked": row.revoked,
            "state": row.last_state or "never seen",
            "last_seen": _local(row.last_seen_at),
            "outbox_depth": row.outbox_depth if row.outbox_depth is not None else "",
            "outbox_alarm": bool(row.outbox_alarm),
            "clock_synced": "" if row.clock_synced is None else row.clock_synced,
            "version": row.software_version or "",
        }
        for row in rows
    ]


QUARANTINE_COLUMNS = ("received", "terminal", "reason", "event_id", "detail", "topic")


def quarantined(store: Store) -> list[Row]:
    """What the controller refused, newest first (never the payload: it names people)."""
    q = schema.quarantine.c
    with store.transaction() as conn:
        rows = conn.execute(select(schema.quarantine).order_by(q.id.desc())).all()
    return [
        {
            "received": _local(row.received_at),
            "terminal": row.terminal_id or "",
            "reason": row.reason,
            "event_id": row.event_id or "",
            "detail": row.detail[:120],
            "topic": row.topic,
        }
        for row in rows
    ]
