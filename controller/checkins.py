"""From a check-in to a presence: store the event, date it, derive the presence.

One presence per person, workplace and Brussels calendar day (DOMAIN.md section 1). The
caller runs ``record`` inside the transaction it commits before acknowledging the message.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, or_, select

from controller import heartbeats, sameperson, schema
from controller.store import Store
from presence.clock import brussels_date
from presence.events import MAX_EVENT_BYTES, CheckIn
from presence.ids import Inss, PersonId

log = logging.getLogger(__name__)

OutcomeStatus = Literal["stored", "duplicate", "refused"]


@dataclass(frozen=True, slots=True)
class Outcome:
    status: OutcomeStatus
    presence_state: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Dating:
    """The moment a check-in counts for, and the correction applied (None = none).

    ``undatable``: the check-in's clock is not synchronised and no live heartbeat of its boot
    is known, so no day can be given to it safely; ``at`` is then only its arrival."""

    at: datetime
    correction_s: float | None
    undatable: bool = False


@dataclass(frozen=True, slots=True)
class ClockRef:
    """One boot of a terminal pinned to our clock: its monotonic reading in a heartbeat that
    reached us live, and when that heartbeat arrived."""

    mono_s: float
    seen_at: datetime

    def moment(self, mono_s: float) -> datetime:
        """Our time at the terminal's monotonic reading ``mono_s`` of the same boot."""
        return self.seen_at + timedelta(seconds=mono_s - self.mono_s)


@dataclass(frozen=True, slots=True)
class TerminalClock:
    """What the controller knows of a terminal's clocks, from its live heartbeats.

    ``offset_s``: its wall clock minus ours at the latest one (for events of terminals too
    old to say their boot); ``boots``: a ``ClockRef`` per boot id."""

    offset_s: float | None = None
    boots: Mapping[str, ClockRef] = field(default_factory=dict)


def person_key(person: PersonId) -> tuple[str, str]:
    return ("inss" if isinstance(person, Inss) else "limosa", person.digits)


def new_client_ref() -> str:
    """The ClientPresenceRegistrationReference (<= 24 characters, DOMAIN.md section 4)."""
    return secrets.token_hex(12)


def new_client_refs(count: int) -> list[str]:
    """``count`` references as ``new_client_ref`` makes them, from one read of the system's
    random source instead of one each."""
    pool = secrets.token_hex(12 * count)
    return [pool[i : i + 24] for i in range(0, 24 * count, 24)]


def date_checkin(
    checkin: CheckIn,
    received_at: datetime,
    skew_max_s: float,
    terminal_offset_s: float | TerminalClock | None = None,
) -> Dating:
    """The moment a check-in counts for (docs/controller.md, "Dating"). Our estimate of the
    real scan moment comes from the terminal's monotonic clock pinned by a live heartbeat of
    *the same boot*; for events of terminals too old to say their boot, from the wall-clock
    offset of its latest live heartbeat (``terminal_offset_s``, a number or the
    ``TerminalClock``). An estimate in our future is no estimate.

    * A clock that says it is synchronised is trusted unless it is more than ``skew_max_s``
      ahead of ours or disagrees with the estimate by more than ``skew_max_s`` either way:
      then the estimate dates it, or without one the arrival. Behind with nothing to say
      otherwise is a late delivery from the outbox: its scan time stands.
    * An unsynchronised clock is dated by the estimate (never later than its arrival), so a
      check-in buffered across midnight keeps its day. Without an estimate an old-style
      event is dated by its arrival, as before; an event that names its boot is
      ``undatable`` (its arrival could be another day than its scan).

    The correction applied (dated minus scanned) is recorded."""
    if isinstance(terminal_offset_s, TerminalClock):
        clock = terminal_offset_s
    else:
        clock = _NO_CLOCK if terminal_offset_s is None else TerminalClock(terminal_offset_s)
    scanned = checkin.scanned_at
    estimate = _estimate(checkin, clock)
    if estimate is not None and estimate > received_at + timedelta(seconds=skew_max_s):
        estimate = None
    if checkin.clock_synced and _agrees(scanned, estimate, received_at, skew_max_s):
        return Dating(scanned, None)
    if estimate is not None:
        at = min(estimate, received_at)
        return Dating(at, (at - scanned).total_seconds())
    undatable = not checkin.clock_synced and checkin.boot_id is not None
    return Dating(received_at, (received_at - scanned).total_seconds(), undatable)


_NO_CLOCK = TerminalClock()


def _estimate(checkin: CheckIn, clock: TerminalClock) -> datetime | None:
    if checkin.boot_id is not None and checkin.mono_s is not None:
        ref = clock.boots.get(checkin.boot_id)  # never another boot's: its clock restarted
        return ref.moment(checkin.mono_s) if ref is not None else None
    if clock.offset_s is not None:
        return checkin.scanned_at - timedelta(seconds=clock.offset_s)
    return None


def _agrees(scanned: datetime, estimate: datetime | None, received: datetime, skew: float) -> bool:
    if (scanned - received).total_seconds() > skew:
        return False
    return estimate is None or abs((scanned - estimate).total_seconds()) <= skew


def _clock_offsets(conn: Connection, terminal_ids: set[str]) -> dict[str, TerminalClock]:
    """What the live heartbeats of these terminals said about their clocks (and, for boots
    none of them pinned, the clock pins they carried)."""
    if not terminal_ids:
        return {}
    t, c = schema.terminals.c, schema.terminal_clocks.c
    offsets = {
        row.terminal_id: row.clock_offset_s
        for row in conn.execute(
            select(t.terminal_id, t.clock_offset_s).where(
                t.terminal_id.in_(terminal_ids), t.clock_offset_s.is_not(None)
            )
        )
    }
    boots: dict[str, dict[str, ClockRef]] = {}
    # A boot's NTP pin (controller.heartbeats) where no live heartbeat pinned it.
    for terminal, pins in heartbeats.pins_of(conn, terminal_ids).items():
        for boot, pin in pins.items():
            boots.setdefault(terminal, {})[boot] = ClockRef(pin.mono_s, pin.at)
    for row in conn.execute(
        select(c.terminal_id, c.boot_id, c.mono_s, c.seen_at).where(c.terminal_id.in_(terminal_ids))
    ):
        boots.setdefault(row.terminal_id, {})[row.boot_id] = ClockRef(row.mono_s, row.seen_at)
    return {
        terminal: TerminalClock(
            float(offsets[terminal]) if terminal in offsets else None, boots.get(terminal, {})
        )
        for terminal in offsets.keys() | boots.keys()
    }


def undatable(conn: Connection, arrivals: list[Arrival], skew_max_s: float) -> dict[int, Dating]:
    """The arrivals (by index) that ``date_checkin`` cannot date, with its answer."""
    candidates = [
        (i, a) for i, a in enumerate(arrivals)
        if not a.checkin.clock_synced and a.checkin.boot_id is not None
    ]  # fmt: skip
    if not candidates:
        return {}
    clocks = _clock_offsets(conn, {a.checkin.terminal_id for _i, a in candidates})
    found = {}
    for index, arrival in candidates:
        dating = date_checkin(
            arrival.checkin, arrival.received_at, skew_max_s,
            clocks.get(arrival.checkin.terminal_id),
        )  # fmt: skip
        if dating.undatable:
            found[index] = dating
    return found


def employer_on(conn: Connection, kind: str, person_id: str, day: date) -> str | None:
    """The employer's enterprise number from the roster, valid on ``day``."""
    r = schema.roster.c
    return conn.execute(
        select(r.company_id)
        .where(r.person_kind == kind, r.person_id == person_id)
        .where(or_(r.valid_from.is_(None), r.valid_from <= day))
        .where(or_(r.valid_to.is_(None), r.valid_to >= day))
        .order_by(r.imported_at.desc(), r.id.desc())
        .limit(1)
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class Arrival:
    """A decoded, accepted check-in and how it arrived."""

    checkin: CheckIn
    payload: bytes
    received_at: datetime


PresenceKey = tuple[str, str, str, date]  # person kind, person id, workplace, day

# The columns record_many writes, in the order of its rows (``Store.insert_rows``).
_EVENT_COLUMNS = (
    "event_id", "terminal_id", "workplace_id", "seq", "scanned_at", "received_at", "dated_at",
    "clock_synced", "clock_correction_s", "person_kind", "person_id", "credential_kind",
    "direction", "decision", "reason", "presence_id", "payload",
)  # fmt: skip
_PRESENCE_COLUMNS = (
    "client_ref", "person_kind", "person_id", "workplace_id", "date", "company_id", "state",
    "source", "first_event_id", "created_at", "updated_at", "attempts",
)  # fmt: skip

_existing_events = (
    select(schema.events.c.event_id, schema.presences.c.state)
    .select_from(
        schema.events.outerjoin(
            schema.presences, schema.events.c.presence_id == schema.presences.c.id
        )
    )
    .where(schema.events.c.event_id.in_(bindparam("ids", expanding=True)))
)
_presences_of = select(
    schema.presences.c.id,
    schema.presences.c.state,
    schema.presences.c.person_kind,
    schema.presences.c.person_id,
    schema.presences.c.workplace_id,
    schema.presences.c.date,
).where(  # every column of uq_presence, so that its index answers
    schema.presences.c.person_kind.in_(bindparam("kinds", expanding=True)),
    schema.presences.c.person_id.in_(bindparam("people", expanding=True)),
    schema.presences.c.workplace_id.in_(bindparam("workplaces", expanding=True)),
    schema.presences.c.date.in_(bindparam("days", expanding=True)),
)
_roster_of = (
    select(
        schema.roster.c.person_id,
        schema.roster.c.company_id,
        schema.roster.c.valid_from,
        schema.roster.c.valid_to,
    )
    .where(
        schema.roster.c.person_kind == "inss",
        schema.roster.c.person_id.in_(bindparam("people", expanding=True)),
    )
    .order_by(schema.roster.c.imported_at, schema.roster.c.id)
)


def record(
    store: Store,
    conn: Connection,
    checkin: CheckIn,
    payload: bytes,
    received_at: datetime,
    skew_max_s: float,
) -> Outcome:
    """Store one check-in and derive its presence; idempotent on the event id."""
    return record_many(store, conn, [Arrival(checkin, payload, received_at)], skew_max_s)[0]


def record_many(
    store: Store, conn: Connection, arrivals: list[Arrival], skew_max_s: float
) -> list[Outcome]:
    """Store a group of check-ins and derive their presences with a handful of statements
    (whatever the group's size); outcomes in the order of ``arrivals``."""
    if not arrivals:
        return []
    ids = [str(a.checkin.event_id) for a in arrivals]
    known = {row.event_id: row.state for row in conn.execute(_existing_events, {"ids": ids})}
    offsets = _clock_offsets(conn, {a.checkin.terminal_id for a in arrivals})
    fresh: list[tuple[int, Arrival, Dating, PresenceKey]] = []
    seen: set[str] = set()
    for index, (arrival, event_id) in enumerate(zip(arrivals, ids, strict=True)):
        if event_id in known or event_id in seen:
            continue
        seen.add(event_id)
        dating = date_checkin(
            arrival.checkin,
            arrival.received_at,
            skew_max_s,
            offsets.get(arrival.checkin.terminal_id),
        )
        kind, person_id = person_key(arrival.checkin.credential.person)
        key = (kind, person_id, str(arrival.checkin.workplace_id), brussels_date(dating.at))
        fresh.append((index, arrival, dating, key))
    presences = _presences(conn, [f[3] for f in fresh])
    joins, wanted = _plan(conn, fresh, presences)
    if wanted:
        _create_presences(store, conn, wanted)
        presences = _presences(conn, [*(f[3] for f in fresh), *joins.values()])
        _hold_possible_duplicates(conn, wanted, presences)
    stamp = store.db_datetime
    rows = []
    for _index, arrival, dating, key in fresh:
        checkin = arrival.checkin
        found = presences.get(joins.get(key, key))
        rows.append(
            (
                str(checkin.event_id),
                checkin.terminal_id,
                key[2],
                checkin.seq,
                stamp(checkin.scanned_at),
                stamp(arrival.received_at),
                stamp(dating.at),
                checkin.clock_synced,
                dating.correction_s,
                key[0],
                key[1],
                checkin.credential.kind,
                checkin.direction,
                checkin.decision,
                checkin.reason,
                found[0] if found else None,
                arrival.payload,
            )
        )
    store.insert_rows(conn, schema.events, _EVENT_COLUMNS, rows)
    outcomes: list[Outcome] = []
    fresh_by_index = {f[0]: f for f in fresh}
    for index, event_id in enumerate(ids):
        item = fresh_by_index.get(index)
        if item is None:
            state = known.get(event_id)
            if event_id not in known:  # repeated inside this group
                state = next(
                    (o.presence_state for i, o in enumerate(outcomes) if ids[i] == event_id), None
                )
            outcomes.append(Outcome("duplicate", state))
        else:
            found = presences.get(joins.get(item[3], item[3]))
            outcomes.append(Outcome("stored", found[1] if found else None))
    return outcomes


def _plan(
    conn: Connection,
    fresh: list[tuple[int, Arrival, Dating, PresenceKey]],
    presences: dict[PresenceKey, tuple[int, str]],
) -> tuple[dict[PresenceKey, PresenceKey], dict[PresenceKey, Arrival]]:
    """Which check-ins without a presence of their own join the presence of their person's
    other number (a link: ``controller.sameperson``), and which presences to create (key ->
    first arrival). ``presences`` gains the presences of the linked numbers."""
    missing = [key for key in dict.fromkeys(f[3] for f in fresh) if key not in presences]
    links = sameperson.aliases(conn, missing) if missing else {}
    if links:
        presences.update(_presences(conn, [a for found in links.values() for a in found]))
    joins: dict[PresenceKey, PresenceKey] = {}
    wanted: dict[PresenceKey, Arrival] = {}
    for _index, arrival, _dating, key in fresh:
        if key in presences or key in joins or key in wanted:
            continue
        target = next((a for a in links.get(key, ()) if a in presences or a in wanted), None)
        if target is not None:
            joins[key] = target
        elif _makes_presence(arrival.checkin):
            wanted[key] = arrival
    return joins, wanted


def _hold_possible_duplicates(
    conn: Connection,
    created: dict[PresenceKey, Arrival],
    presences: dict[PresenceKey, tuple[int, str]],
) -> None:
    """New presences that may be a person already present under their other number are
    held for the site manager instead of being sent (``controller.sameperson``)."""
    ids = {key: presences[key][0] for key in created if key in presences}
    for key, (candidate_id, candidate) in sameperson.candidates(conn, ids).items():
        sameperson.hold(conn, ids[key], candidate_id, candidate, created[key].received_at)
        presences[key] = (ids[key], schema.POSSIBLE_SAME)


def _makes_presence(checkin: CheckIn) -> bool:
    """An admitted entry makes a presence; exits and refusals are kept as evidence only."""
    return checkin.decision == "admitted" and checkin.direction == "in"


def _presences(conn: Connection, keys: list[PresenceKey]) -> dict[PresenceKey, tuple[int, str]]:
    if not keys:
        return {}
    wanted = set(keys)
    params = {
        "kinds": sorted({k[0] for k in keys}),
        "people": sorted({k[1] for k in keys}),
        "workplaces": sorted({k[2] for k in keys}),
        "days": sorted({k[3] for k in keys}),
    }
    found: dict[PresenceKey, tuple[int, str]] = {}
    for row in conn.execute(_presences_of, params):
        key = (row.person_kind, row.person_id, row.workplace_id, row.date)
        if key in wanted:
            found[key] = (int(row.id), str(row.state))
    return found


def _create_presences(store: Store, conn: Connection, wanted: dict[PresenceKey, Arrival]) -> None:
    people = sorted({k[1] for k in wanted if k[0] == "inss"})
    roster = conn.execute(_roster_of, {"people": people}).all() if people else []
    rows = []
    refs = new_client_refs(len(wanted))
    for ref, (key, arrival) in zip(refs, wanted.items(), strict=True):
        kind, person_id, workplace, day = key
        company = None
        if kind == "inss":
            for entry in roster:  # ordered by import: the last valid one wins
                if entry.person_id == person_id and _valid(entry, day):
                    company = entry.company_id
        state = schema.NEEDS_EMPLOYER if kind == "inss" and company is None else schema.PENDING
        if state == schema.NEEDS_EMPLOYER:
            log.warning(
                "event %s: person not on the roster, presence needs an employer",
                arrival.checkin.event_id,
            )
        received = store.db_datetime(arrival.received_at)
        rows.append(
            (
                ref,
                kind,
                person_id,
                workplace,
                store.db_date(day),
                company,
                state,
                "checkin",
                str(arrival.checkin.event_id),
                received,
                received,
                0,
            )
        )
    store.insert_rows(conn, schema.presences, _PRESENCE_COLUMNS, rows)


def _valid(entry: Any, day: date) -> bool:
    return (entry.valid_from is None or entry.valid_from <= day) and (
        entry.valid_to is None or entry.valid_to >= day
    )


# What the quarantine keeps of a payload: any valid check-in whole (so that ``quarantine
# --replay`` can store it), never more; the length and SHA-256 stand for the rest.
QUARANTINE_KEEP_BYTES = MAX_EVENT_BYTES


def quarantine(
    conn: Connection,
    *,
    topic: str,
    terminal_id: str | None,
    event_id: str | None,
    reason: str,
    detail: str,
    payload: bytes,
    received_at: datetime,
) -> bool:
    """Keep a refused message as evidence; False when the same message (topic, payload
    hash and event id) is already kept: a terminal that resends, or a broker that delivers
    again after a reconnect, must not grow the quarantine."""
    digest = hashlib.sha256(payload).hexdigest()
    q = schema.quarantine.c
    topic = topic[:256]
    already = conn.execute(
        select(q.id)
        .where(q.payload_sha256 == digest, q.topic == topic)
        .where(q.event_id.is_not_distinct_from(event_id))
        .limit(1)
    ).first()
    if already is not None:
        return False
    conn.execute(
        schema.quarantine.insert().values(
            received_at=received_at,
            topic=topic,
            terminal_id=terminal_id[:64] if terminal_id else None,
            event_id=event_id,
            reason=reason,
            detail=detail[:2000],
            payload=payload[:QUARANTINE_KEEP_BYTES],
            payload_length=len(payload),
            payload_sha256=digest,
        )
    )
    return True
