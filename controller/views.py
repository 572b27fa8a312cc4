"""Read-only views for the site manager: presences, who is on site, anomalies, terminals.

Each returns plain rows (dicts); national numbers and Limosa ids are masked unless
``reveal`` is asked for. The CLI commands and the console's pages call the same functions
(docs/console-api.md lists them); names come from the roster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from controller import audit, nsso_texts, schema, siteconfig
from controller.audit import Actor
from controller.errors import ControllerError, StoreError
from controller.store import Store
from presence.clock import BRUSSELS, brussels_date
from presence.ids import CompanyId
from presence.messages import HEARTBEAT_S, SILENT_AFTER_HEARTBEATS

Row = dict[str, Any]

PRESENCE_COLUMNS = (
    "date",
    "person",
    "name",
    "employer",
    "first_checkin",
    "gate",
    "state",
    "receipt",
    "source",
    "attempts",
    "detail",
)
ONSITE_COLUMNS = ("person", "name", "employer", "since", "terminal", "credential")
TERMINAL_COLUMNS = (
    "terminal",
    "direction",
    "revoked",
    "state",
    "last_seen",
    "outbox_depth",
    "outbox_alarm",
    "clock_synced",
    "fault",
    "reader",
    "camera",
    "tamper",
    "version",
)
# What the heartbeat's health items say about the hardware (terminal/app.py writes them);
# blank for a terminal never seen, or one whose heartbeat does not carry the item.
HARDWARE_ITEMS = ("fault", "reader", "camera", "tamper")


def show_person(kind: str, digits: str, reveal: bool) -> str:
    person = siteconfig.make_person(kind, digits)
    return str(person) if reveal else person.masked()


def show_company(digits: str | None) -> str:
    return str(CompanyId(digits)) if digits else ""


def _local(moment: datetime | None) -> str:
    """Brussels time, labelled with its zone (CET or CEST): ``2026-12-03 13:20:04 CET``."""
    return moment.astimezone(BRUSSELS).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else ""


def _detail(row: Any) -> str:
    """NSSO's remarks and the last error, each once and in words (controller.nsso_texts),
    and the receipts this presence replaces."""
    remarks = [str(r) for r in json.loads(row.remarks)] if row.remarks else []
    error = row.last_error if row.state not in (schema.REGISTERED, schema.VALIDATED) else None
    parts = nsso_texts.explain(remarks, error)
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
    with store.reading() as conn:
        rows = conn.execute(query).all()
        names = names_of(conn, {(row.person_kind, row.person_id) for row in rows})
        first = _first_entries(conn, [row.id for row in rows])
    return [
        {
            "id": row.id,
            "date": row.date.isoformat(),
            "person": row.person_masked or show_person(row.person_kind, row.person_id, reveal),
            "name": names.get((row.person_kind, row.person_id), ""),
            "employer": show_company(row.company_id),
            "first_checkin": _clock_time(first.get(row.id, ("", None))[1]),
            "gate": first.get(row.id, ("", None))[0],
            "state": row.state,
            "receipt": row.receipt_id or "",
            "source": row.source,
            "attempts": row.attempts,
            "detail": _detail(row),
        }
        for row in rows
    ]


def _first_entries(conn: Any, presence_ids: list[int]) -> dict[int, tuple[str, datetime]]:
    """Each presence's first admitted entry: its gate and moment."""
    e = schema.events.c
    first: dict[int, tuple[str, datetime]] = {}
    for start in range(0, len(presence_ids), _IN_CHUNK):
        entries = conn.execute(
            select(e.presence_id, e.terminal_id, e.dated_at)
            .where(e.presence_id.in_(presence_ids[start : start + _IN_CHUNK]))
            .where(e.decision == "admitted", e.direction == "in")
            .order_by(e.dated_at.desc(), e.id.desc())
        )
        first.update({pid: (gate, at) for pid, gate, at in entries})  # the earliest wins
    return first


def _clock_time(moment: datetime | None) -> str:
    """``HH:MM:SS CET`` (or CEST) in Brussels time, "" for None."""
    return moment.astimezone(BRUSSELS).strftime("%H:%M:%S %Z") if moment else ""


# The anomalies listing names each presence by its id: what same-person takes.
ANOMALY_COLUMNS = ("id", *PRESENCE_COLUMNS)

# A presence still "sent" this long after it was claimed has an answer nobody could settle
# (NSSO or its search keeps failing): the site manager must know before the day is over.
STUCK_AFTER = timedelta(minutes=15)


def anomalies(store: Store, reveal: bool = False) -> list[Row]:
    return presences(store, where=_anomaly_condition(store), reveal=reveal)


def _anomaly_conditions(store: Store) -> tuple[ColumnElement[bool], ...]:
    """Anomaly states and presences stuck in ``sent``; a ``missed`` presence the site
    manager acknowledged (controller.anomaly_actions) is dealt with. Each condition names
    its states, so each can use the index on the state."""
    p = schema.presences.c
    stuck = and_(p.state == schema.SENT, p.updated_at < store.clock.now() - STUCK_AFTER)
    open_missed = and_(p.state == schema.MISSED, p.acknowledged_at.is_(None))
    others = tuple(s for s in schema.ANOMALY_STATES if s != schema.MISSED)
    return (p.state.in_(others), open_missed, stuck)


def _anomaly_condition(store: Store) -> ColumnElement[bool]:
    return or_(*_anomaly_conditions(store))


def _anomaly_count(conn: Any, store: Store) -> int:
    """How many presences the Anomalies page lists: one indexed count per condition (the
    conditions exclude each other), not one scan of every presence for their ``OR``."""
    presences = select(func.count()).select_from(schema.presences)
    return sum(
        int(conn.execute(presences.where(condition)).scalar_one())
        for condition in _anomaly_conditions(store)
    )


def _last_passages_in(start: datetime, end: datetime) -> ColumnElement[bool]:
    """An admitted entry from ``start`` to ``end`` that is its person's last admitted
    passage in that time: the database finds it by the person's index, so a page reads only
    the people it shows."""
    e = schema.events.c
    later = schema.events.alias("later").c
    return and_(
        e.decision == "admitted",
        e.direction == "in",
        e.dated_at >= start,
        e.dated_at < end,
        ~exists().where(
            later.person_kind == e.person_kind,
            later.person_id == e.person_id,
            later.decision == "admitted",
            later.dated_at >= e.dated_at,
            later.dated_at < end,
            or_(later.dated_at > e.dated_at, later.id > e.id),
        ),
    )


def onsite(store: Store, reveal: bool = False) -> list[Row]:
    """People whose last admitted passage today went in: the evacuation list, longest
    inside first."""
    now = store.clock.now()
    start = datetime.combine(brussels_date(now), time(0), BRUSSELS)
    e, p = schema.events.c, schema.presences.c
    with store.reading() as conn:
        inside = conn.execute(
            select(e.person_kind, e.person_id, e.dated_at, e.terminal_id, e.credential_kind,
                   p.company_id)
            .select_from(schema.events.outerjoin(schema.presences, e.presence_id == p.id))
            .where(_last_passages_in(start, now + timedelta(1)))
            .order_by(e.dated_at, e.id)
        ).all()  # fmt: skip
        names = names_of(conn, {(row.person_kind, row.person_id) for row in inside})
    return [
        {
            "person": show_person(row.person_kind, row.person_id, reveal),
            "name": names.get((row.person_kind, row.person_id), ""),
            "gate": row.terminal_id,
            "employer": show_company(row.company_id),
            "since": _local(row.dated_at),
            "terminal": row.terminal_id,
            "credential": row.credential_kind,
        }
        for row in inside
    ]


def terminals(store: Store) -> list[Row]:
    """Each known terminal with its latest heartbeat: link state, when seen (Brussels time),
    outbox, clock, the ``HARDWARE_ITEMS`` and version. A terminal never seen has ``None``
    (JSON ``null``, an empty cell) for every number and flag it never reported."""
    t = schema.terminals.c
    with store.reading() as conn:
        rows = conn.execute(select(schema.terminals).order_by(t.terminal_id)).all()
    result = []
    for row in rows:
        health = _health_items(row.health)
        seen = row.last_state is not None
        result.append(
            {
                "terminal": row.terminal_id,
                "direction": row.direction,
                "revoked": row.revoked,
                "state": row.last_state or "never seen",
                "last_seen": _local(row.last_seen_at) or None,
                "outbox_depth": row.outbox_depth if seen else None,
                "outbox_alarm": bool(row.outbox_alarm) if seen else None,
                "clock_synced": row.clock_synced,
                **{item: health.get(item) for item in HARDWARE_ITEMS},
                "version": row.software_version,
            }
        )
    return result


QUARANTINE_COLUMNS = ("received", "terminal", "reason", "event_id", "detail", "topic")


def quarantined(store: Store) -> list[Row]:
    """What the controller refused, newest first (never the payload: it names people)."""
    q = schema.quarantine.c
    with store.reading() as conn:
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


# --- for the console's pages (and the matching commands) -------------------------------------

PersonKey = tuple[str, str]  # person kind, person id
_IN_CHUNK = 900  # ids per IN (...) list


def local_time(moment: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS CET`` (or CEST): Brussels time with its zone ("" for None)."""
    return _local(moment)


def channel_of(terminal_id: str | None) -> str:
    """How a check-in came in: ``by_hand`` (the console, virtual terminal ``console-<user>``),
    ``handheld`` (a team leader's phone, ``handheld-<account>``) or ``gate``."""
    if not terminal_id:
        return ""
    if terminal_id.startswith(CONSOLE_PREFIX):
        return "by_hand"
    if terminal_id.startswith(HANDHELD_PREFIX):
        return "handheld"
    return "gate"


CONSOLE_PREFIX = "console-"
HANDHELD_PREFIX = "handheld-"


def names_of(conn: Any, keys: list[PersonKey] | set[PersonKey]) -> dict[PersonKey, str]:
    """The roster's name of each person (a national number linked to a Limosa id names
    the Limosa id too)."""
    wanted = set(keys)
    if not wanted:
        return {}
    r = schema.roster.c
    query = select(r.person_kind, r.person_id, r.limosa_id, r.name).where(r.name.is_not(None))
    if len(wanted) <= _IN_CHUNK:  # a whole day: one plain read of the roster is cheaper
        ids = sorted({digits for _kind, digits in wanted})
        query = query.where(or_(r.person_id.in_(ids), r.limosa_id.in_(ids)))
    found: dict[PersonKey, str] = {}
    for kind, digits, limosa_id, name in conn.execute(query).all():
        for key in ((kind, digits), ("limosa", limosa_id)):
            if key in wanted:
                found.setdefault(key, name)
    return found


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), BRUSSELS)
    return start, datetime.combine(day + timedelta(days=1), time(0), BRUSSELS)


REGISTERED_STATES = (schema.REGISTERED, schema.VALIDATED, schema.FAILED_REMARKS)
WAITING_STATES = (schema.PENDING, schema.SENT)


def today_counts(store: Store) -> Row:
    """The Today page's figures: ``on_site`` (last passage today went in), ``admitted``
    (people admitted at an entry today), ``refused`` (refusals published today),
    ``registered`` (today's presences with a receipt), ``pending`` (waiting for or on their
    way to NSSO), ``needs_employer`` and ``anomalies`` (what the Anomalies page lists)."""
    now = store.clock.now()
    today = brussels_date(now)
    start, end = _day_bounds(today)
    e, p = schema.events.c, schema.presences.c
    today_events = and_(e.dated_at >= start, e.dated_at < end)
    entered = (
        select(e.person_kind, e.person_id)
        .where(today_events, e.decision == "admitted", e.direction == "in")
        .distinct()
        .subquery()
    )
    with store.reading() as conn:
        on_site = conn.execute(
            select(func.count()).where(_last_passages_in(start, end))
        ).scalar_one()
        admitted = conn.execute(select(func.count()).select_from(entered)).scalar_one()
        refused = conn.execute(
            select(func.count()).where(today_events, e.decision != "admitted")
        ).scalar_one()
        states: dict[str, int] = dict(
            conn.execute(
                select(p.state, func.count()).where(p.date == today).group_by(p.state)
            ).all()
        )
        open_anomalies = _anomaly_count(conn, store)
    return {
        "date": today.isoformat(),
        "on_site": int(on_site),
        "admitted": int(admitted),
        "refused": int(refused),
        "registered": sum(states.get(s, 0) for s in REGISTERED_STATES),
        "pending": sum(states.get(s, 0) for s in WAITING_STATES),
        "needs_employer": states.get(schema.NEEDS_EMPLOYER, 0),
        "anomalies": int(open_anomalies),
    }


FEED_COLUMNS = ("at", "gate", "channel", "direction", "decision", "reason", "person", "name")
FEED_MAX = 200


def feed(store: Store, since_id: int | None = None, limit: int = 50) -> list[Row]:
    """The latest decisions at the gates, newest first, ids masked (never revealed here).
    ``since_id``: only decisions stored after the row ``id`` a page saw last (live
    updates); each row's ``id`` is the next ``since_id``."""
    e = schema.events.c
    query = (
        select(
            e.id,
            e.dated_at,
            e.terminal_id,
            e.direction,
            e.decision,
            e.reason,
            e.person_kind,
            e.person_id,
            e.credential_kind,
        )
        .order_by(e.id.desc())
        .limit(max(1, min(limit, FEED_MAX)))
    )
    if since_id is not None:
        query = query.where(e.id > since_id)
    with store.reading() as conn:
        rows = conn.execute(query).all()
        names = names_of(conn, {(r.person_kind, r.person_id) for r in rows})
    return [
        {
            "id": row.id,
            "at": _local(row.dated_at),
            "gate": row.terminal_id,
            "channel": channel_of(row.terminal_id),
            "direction": row.direction,
            "decision": row.decision,
            "reason": row.reason,
            "credential": row.credential_kind,
            "person": show_person(row.person_kind, row.person_id, False),
            "name": names.get((row.person_kind, row.person_id), ""),
        }
        for row in rows
    ]


def latest_event_id(store: Store) -> int:
    """The newest stored check-in's row id (0 when none): where a live feed starts."""
    with store.reading() as conn:
        return int(conn.execute(select(func.max(schema.events.c.id))).scalar_one() or 0)


DAY_COLUMNS = (
    "person",
    "name",
    "employer",
    "gate",
    "channel",
    "first_checkin",
    "state",
    "receipt",
    "validation",
    "remarks",
)


def day_presences(
    store: Store,
    day: date,
    *,
    company: str | None = None,
    state: str | None = None,
    search: str | None = None,
    reveal: bool = False,
) -> list[Row]:
    """The presences of ``day`` with who (name, number masked unless ``reveal``), employer,
    gate and channel and time of the first admitted entry, state, receipt, NSSO's validation
    status and remarks. Filters: ``company`` (enterprise number, any form), ``state``,
    ``search`` (last digits of a number, or part of a name)."""
    p, e = schema.presences.c, schema.events.c
    query = (
        select(p.id, p.person_kind, p.person_id, p.company_id, p.state, p.receipt_id,
               p.registry_status, p.remarks, p.last_error, p.previous_receipts, p.source)
        .where(p.date == day)
        .order_by(p.id)
    )  # fmt: skip
    if state:
        query = query.where(p.state == state)
    if company:
        digits = "".join(c for c in company if c.isdigit())
        query = query.where(p.company_id == digits.zfill(10))
    needle = (search or "").strip()
    digits_only = needle.replace(".", "").replace("-", "").replace(" ", "")
    by_digits = bool(needle) and digits_only.isdigit()
    if by_digits:
        query = query.where(p.person_id.endswith(digits_only, autoescape=True))
    start, end = _day_bounds(day)
    with store.reading() as conn:
        rows = [tuple(row) for row in conn.execute(query).all()]
        names = names_of(conn, {(row[1], row[2]) for row in rows})
        first: dict[int, tuple[str, datetime]] = {}
        if rows:
            entries = conn.execute(
                select(e.presence_id, e.terminal_id, e.dated_at)
                .where(e.dated_at >= start, e.dated_at < end, e.presence_id.is_not(None))
                .where(e.decision == "admitted", e.direction == "in")
                .order_by(e.dated_at.desc(), e.id.desc())
            ).all()
            first = {pid: (gate, at) for pid, gate, at in entries}  # the earliest wins
    if needle and not by_digits:
        lowered = needle.lower()
        rows = [r for r in rows if lowered in names.get((r[1], r[2]), "").lower()]
    shown_day = day.isoformat()
    companies: dict[str | None, str] = {}
    result = []
    for pid, kind, person, company_id, row_state, receipt, status, remarks_text, error, \
            previous, source in rows:  # fmt: skip
        gate, at = first.get(pid, ("", None))
        remarks = _remarks(remarks_text)
        if company_id not in companies:
            companies[company_id] = show_company(company_id)
        detail = ""
        if remarks or error or previous:
            detail = _detail(_DetailRow(row_state, remarks_text, error, previous))
        result.append(
            {
                "id": pid,
                "date": shown_day,
                "person": show_person(kind, person, reveal),
                "name": names.get((kind, person), ""),
                "employer": companies[company_id],
                "gate": gate,
                "channel": channel_of(gate),
                "first_checkin": _clock_time(at),
                "state": row_state,
                "receipt": receipt or "",
                "validation": status or "",
                "remarks": ", ".join(remarks),
                "source": source,
                "detail": detail,
            }
        )
    return result


@dataclass(frozen=True, slots=True)
class _DetailRow:
    state: str
    remarks: str | None
    last_error: str | None
    previous_receipts: str | None


def _remarks(text: str | None) -> list[str]:
    if not text or text == "[]":
        return []
    return [str(r) for r in json.loads(text)]


def companies_of_day(store: Store, day: date) -> list[str]:
    """The employers of ``day``'s presences (the company filter's choices)."""
    p = schema.presences.c
    with store.reading() as conn:
        found = conn.execute(
            select(p.company_id).where(p.date == day, p.company_id.is_not(None)).distinct()
        ).scalars()
        return sorted(show_company(c) for c in found if c)


REFUSAL_COLUMNS = ("at", "gate", "channel", "reason", "explanation", "person", "name")
# What each published refusal means, in words a site manager can act on.
REFUSAL_REASONS = {
    "unknown_person": "not on this site's roster: import the roster, or check the employer",
    "not_valid_today": "on the roster, but not for that day: check its dates (an L1 period)",
    "allowlist_stale": "the gate's list was too old to decide: check the terminal's link",
    "blocked": "blocked on the roster",
    "card_expired": "the eID card has expired: the worker needs a valid card",
    "outbox_full": "the gate's outbox was full: check the terminal's link",
}
# Refusals a terminal decides but never publishes one by one (terminal/flows: they name
# nobody, or are a repeat): it counts them per minute (controller.refusals).
NOT_PUBLISHED = {
    "read_error": "a card that could not be read: present it again, or use the keypad",
    "not_an_eid": "a card that is no Belgian eID card",
    "bad_card_data": "a card that could not be read, or is no eID card",
    "not_an_l1_code": "a QR code that is no Limosa L1 code",
    "bad_l1_code": "an L1 code whose content is broken",
    "bad_keypad_entry": "a typed number that is neither a national number nor a Limosa id",
    "already_inside": "the same person again within the cool-down (anti-passback)",
    "outbox_full": "a refusal while the outbox was full (nothing could be stored)",
}


def refusals(store: Store, day: date | None = None, reveal: bool = False) -> list[Row]:
    """The refusals published on ``day`` (default today), newest first, with time, gate,
    reason and its explanation. A terminal whose outbox is filling stops recording
    refusals (its heartbeat counts them as shed): ``terminal_health`` shows that."""
    day = day or brussels_date(store.clock.now())
    start, end = _day_bounds(day)
    e = schema.events.c
    with store.reading() as conn:
        rows = conn.execute(
            select(
                e.id,
                e.dated_at,
                e.terminal_id,
                e.reason,
                e.person_kind,
                e.person_id,
                e.credential_kind,
                e.direction,
            )
            .where(e.dated_at >= start, e.dated_at < end, e.decision == "refused")
            .order_by(e.dated_at.desc(), e.id.desc())
        ).all()
        names = names_of(conn, {(r.person_kind, r.person_id) for r in rows})
    return [
        {
            "id": row.id,
            "at": _local(row.dated_at),
            "gate": row.terminal_id,
            "channel": channel_of(row.terminal_id),
            "reason": row.reason,
            "explanation": REFUSAL_REASONS.get(row.reason, ""),
            "person": show_person(row.person_kind, row.person_id, reveal),
            "name": names.get((row.person_kind, row.person_id), ""),
            "credential": row.credential_kind,
            "direction": row.direction,
        }
        for row in rows
    ]


GATE_REFUSAL_COLUMNS = ("at", "gate", "count", "reason", "explanation", "person", "name", "clock")


def gate_refusals(store: Store, day: date | None = None, reveal: bool = False) -> list[Row]:
    """Every refusal of ``day`` (default today) at the gates, newest first: each refusal a
    gate published, naming the person (count 1), and the refusals a gate only counted per
    minute because they name nobody or repeat one (an expired or unreadable card, a QR code
    that is no L1 code, a second pass), with the minute, gate, reason and count."""
    from controller import refusals as counted_refusals  # it imports checkins, not views

    day = day or brussels_date(store.clock.now())
    rows = [{**row, "count": 1, "clock": ""} for row in refusals(store, day, reveal)]
    for c in counted_refusals.counted(store, day):
        rows.append(
            {
                "at": f"{c.local:%Y-%m-%d %H:%M %Z}" + ("" if c.span == 1 else " +1h"),
                "gate": c.terminal,
                "channel": channel_of(c.terminal),
                "count": c.count,
                "reason": c.reason,
                "explanation": NOT_PUBLISHED.get(c.reason) or REFUSAL_REASONS.get(c.reason, ""),
                "person": "",
                "name": "",
                "clock": c.dated_by,  # what dated the minute (docs/controller.md)
            }
        )
    rows.sort(key=lambda row: str(row["at"]), reverse=True)
    return rows


TERMINAL_HEALTH_COLUMNS = (
    "terminal",
    "link",
    "heartbeat_age_s",
    "silent",
    "outbox_depth",
    "outbox_alarm",
    "clock_offset_s",
    "version",
    "revoked",
    "tampered",
)
SILENT_AFTER_S = HEARTBEAT_S * SILENT_AFTER_HEARTBEATS
# Heartbeat health items that say the enclosure is open. The heartbeat carries ``flow`` (the
# check-in flow's state), ``fault`` (its fault causes), ``reader``, ``camera``, ``tamper``,
# ``broker``, ``controller`` and ``refused_shed`` (terminal/app.py, terminal/link.py).
TAMPER_VALUES = ("open", "opened", "tampered")


def is_tampered(health: dict[str, str]) -> bool:
    if health.get("tamper", "").lower() in TAMPER_VALUES:
        return True
    return "tampered" in health.get("fault", "").lower().replace(",", " ").split()


def terminal_health(store: Store) -> list[Row]:
    """Each known terminal: ``link`` (online, offline, never_seen), ``heartbeat_age_s``
    (seconds since its latest status by our clock, its clock offset taken out), ``silent``
    (not revoked and no heartbeat for ``SILENT_AFTER_S``), outbox depth and alarm, clock
    offset, software version, revoked, ``tampered`` and the heartbeat's ``health`` items."""
    now = store.clock.now()
    t = schema.terminals.c
    with store.reading() as conn:
        rows = conn.execute(select(schema.terminals).order_by(t.terminal_id)).all()
    result = []
    for row in rows:
        age: float | None = None
        if row.last_status_at is not None:
            ours = row.last_status_at - timedelta(seconds=row.clock_offset_s or 0.0)
            age = max(0.0, (now - ours).total_seconds())
        health = _health_items(row.health)
        result.append(
            {
                "terminal": row.terminal_id,
                "direction": row.direction,
                "link": row.last_state or "never_seen",
                "heartbeat_age_s": round(age) if age is not None else None,
                "silent": bool(not row.revoked and age is not None and age > SILENT_AFTER_S),
                "outbox_depth": row.outbox_depth,
                "outbox_alarm": bool(row.outbox_alarm),
                "clock_offset_s": round(row.clock_offset_s, 1)
                if row.clock_offset_s is not None
                else None,
                "clock_synced": row.clock_synced,
                "version": row.software_version or "",
                "revoked": bool(row.revoked),
                "tampered": not row.revoked and is_tampered(health),
                "health": health,
            }
        )
    return result


def _health_items(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        items = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in items.items()} if isinstance(items, dict) else {}


def presence_detail(store: Store, presence_id: int, reveal: bool = False) -> Row:
    """One presence with its evidence: every check-in event that made or joined it,
    NSSO's answer (receipt, status, remarks or error codes, earlier receipts), its relay
    batch and any acknowledgement. Raises ``StoreError('not_found')``."""
    p, e, b = schema.presences.c, schema.events.c, schema.batches.c
    with store.reading() as conn:
        row = conn.execute(select(schema.presences).where(p.id == presence_id)).first()
        if row is None:
            raise StoreError("not_found", f"no presence {presence_id}")
        events = conn.execute(
            select(
                e.id,
                e.event_id,
                e.terminal_id,
                e.dated_at,
                e.scanned_at,
                e.received_at,
                e.clock_correction_s,
                e.direction,
                e.decision,
                e.reason,
                e.credential_kind,
            )
            .where(e.presence_id == presence_id)
            .order_by(e.dated_at, e.id)
        ).all()
        batch = None
        if row.batch_id is not None:
            batch = conn.execute(
                select(b.id, b.state, b.created_at, b.error).where(b.id == row.batch_id)
            ).first()
        names = names_of(conn, {(row.person_kind, row.person_id)})
    return {
        "id": row.id,
        "date": row.date.isoformat(),
        "person": show_person(row.person_kind, row.person_id, reveal),
        "name": names.get((row.person_kind, row.person_id), ""),
        "employer": show_company(row.company_id),
        "state": row.state,
        "same_as_id": row.same_as_id,
        "source": row.source,
        "receipt": row.receipt_id or "",
        "validation": row.registry_status or "",
        "remarks": [str(r) for r in json.loads(row.remarks or "[]")],
        "last_error": row.last_error or "",
        "advice": nsso_texts.explain_parts(
            [str(r) for r in json.loads(row.remarks or "[]")],
            row.last_error if row.state not in (schema.REGISTERED, schema.VALIDATED) else None,
        ),
        "previous_receipts": json.loads(row.previous_receipts or "[]"),
        "attempts": row.attempts,
        "created_at": _local(row.created_at),
        "updated_at": _local(row.updated_at),
        "registered_at": _local(row.registered_at),
        "batch": {
            "id": batch.id,
            "state": batch.state,
            "created_at": _local(batch.created_at),
            "error": batch.error or "",
        }
        if batch is not None
        else None,
        "acknowledged_at": _local(row.acknowledged_at),
        "acknowledged_by": row.acknowledged_by or "",
        "ack_comment": row.ack_comment or "",
        "checkins": [
            {
                "id": ev.id,
                "event_id": ev.event_id,
                "at": _local(ev.dated_at),
                "scanned_at": _local(ev.scanned_at),
                "received_at": _local(ev.received_at),
                "clock_correction_s": ev.clock_correction_s,
                "gate": ev.terminal_id,
                "channel": channel_of(ev.terminal_id),
                "direction": ev.direction,
                "decision": ev.decision,
                "reason": ev.reason,
                "credential": ev.credential_kind,
            }
            for ev in events
        ],
    }


def reveal_number(
    store: Store,
    *,
    presence_id: int | None = None,
    roster_id: int | None = None,
    event_row_id: int | None = None,
    actor: Actor | None = None,
) -> str:
    """One national number or Limosa id in full, for a manager who asked for it; with an
    ``actor`` the reveal is audited in the same transaction. Exactly one reference is given.
    Codes: ``bad_request``, ``not_found``."""
    refs = [
        (schema.presences, presence_id),
        (schema.roster, roster_id),
        (schema.events, event_row_id),
    ]
    given = [(table, ref) for table, ref in refs if ref is not None]
    if len(given) != 1:
        raise ControllerError("bad_request", "give exactly one of presence, roster or event")
    table, ref = given[0]
    with store.transaction() as conn:
        row = conn.execute(
            select(table.c.person_kind, table.c.person_id).where(table.c.id == ref)
        ).first()
        if row is None:
            raise ControllerError("not_found", f"no {table.name} row {ref}")
        person = siteconfig.make_person(row.person_kind, row.person_id)
        audit.record_by(
            conn, actor, store.clock.now(), "reveal", person.masked(), f"{table.name} {ref}"
        )
    return str(person)
