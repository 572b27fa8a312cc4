"""The other doors into the ingest path: a registration by hand in the console, a team
leader's phone (issue 15).

Each comes in as a check-in from a *virtual terminal*: ``console-<user>`` for the console,
``handheld-<account>`` for a phone. Virtual terminals are not in ``terminals.toml`` and
have no MQTT identity: they are accepted here only, never over the broker (a
``console-x`` topic is refused there as ``unknown_terminal``). A check-in from a door goes
through exactly what a gate's does: the controller's checks (``ingest.checkin_refusal``),
then ``checkins.record_many`` in one transaction, answered with the same ``Ack``; so it is
deduplicated, relayed and receipted like any other, and its terminal id says who caused it.

The gate's admission rules (``presence.admission``, one copy for every door) are applied by
the controller for a door, against its roster (a door has no allowlist of its own): blocked
on the roster -> refused ``blocked``; on the roster but not for that day -> refused
``not_valid_today``; not on it -> refused ``unknown_person`` (the controller's roster is never
stale); otherwise admitted. A refusal is stored as evidence, as a gate's is.

A registration by hand for **tomorrow** cannot be a check-in (nobody passed a gate, and a
check-in is dated by when it happened): after the same rules it becomes a planned presence
for tomorrow, as ``preregister`` makes them (source ``by_hand``), sent ahead like those.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from controller import audit, checkins, ingest, schema
from controller.audit import Actor
from controller.checkins import Arrival, new_client_ref, person_key
from controller.config import ControllerConfig
from controller.errors import ControllerError
from controller.store import Store
from presence import admission
from presence.clock import brussels_date
from presence.events import (
    CheckIn,
    Credential,
    Direction,
    encode,
    is_valid_terminal_id,
    new_event_id,
)
from presence.ids import (
    CompanyId,
    Inss,
    InvalidIdentifier,
    LimosaId,
    PersonId,
    parse_company_id,
    parse_inss,
    parse_limosa_id,
    parse_workplace_id,
)
from presence.messages import Ack

log = logging.getLogger(__name__)

CONSOLE_PREFIX = "console-"
HANDHELD_PREFIX = "handheld-"
VIRTUAL_PREFIXES = (CONSOLE_PREFIX, HANDHELD_PREFIX)
SEQ_KEY = "seq:"  # meta key prefix of a virtual terminal's sequence counter
MAX_TERMINAL_ID = 60  # "seq:" + id fits the meta key (64)
BY_HAND_SOURCE = "by_hand"
_NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")


class DoorError(ControllerError):
    """Bad input at a door. ``field`` names the form field the message belongs next to
    (``person``, ``company``, ``day``, ``terminal``, ``event``)."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(code, message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Submitted:
    """What a door's check-in or registration became."""

    day: date
    decision: str  # admitted | refused
    reason: str  # the event's reason code (ok, blocked, unknown_person)
    presence_id: int | None
    presence_state: str | None
    ack: Ack | None  # what a terminal would have been told (None: planned for tomorrow)
    event_id: uuid.UUID | None
    created: bool  # a new presence was made (False: joined an existing one, or refused)


# --- virtual terminals ------------------------------------------------------------------------


def _virtual(prefix: str, name: str) -> str:
    cleaned = _NOT_ALLOWED.sub("-", name.strip().lower()).strip("-")
    if not cleaned:
        raise DoorError("bad_terminal", "a user or account name is needed", "terminal")
    return (prefix + cleaned)[:MAX_TERMINAL_ID]


def console_terminal(user: str) -> str:
    """The virtual terminal of a console user's registrations by hand."""
    return _virtual(CONSOLE_PREFIX, user)


def handheld_terminal(account: str) -> str:
    """The virtual terminal of a team leader's phone."""
    return _virtual(HANDHELD_PREFIX, account)


def is_virtual(terminal_id: str) -> bool:
    return terminal_id.startswith(VIRTUAL_PREFIXES) and is_valid_terminal_id(terminal_id)


def _virtual_check(terminal_id: str) -> str | None:
    """``ingest.checkin_refusal``'s terminal check for a door: virtual terminals only."""
    if not is_virtual(terminal_id) or len(terminal_id) > MAX_TERMINAL_ID:
        return "not_a_virtual_terminal"
    return None


def _next_seq(store: Store, terminal_id: str) -> int:
    with store.transaction() as conn:
        key = SEQ_KEY + terminal_id
        seq = int(store.get_meta(conn, key) or 0) + 1
        store.set_meta(conn, key, str(seq))
    return seq


# --- the rules ------------------------------------------------------------------------------


class RosterPeople:
    """The controller's roster on one day as ``presence.admission.People``: never stale, and
    it tells "not valid that day" (an L1 period or a contract over) from "not on the roster"."""

    fresh = True

    def __init__(self, conn: Connection, day: date) -> None:
        self.conn = conn
        self.day = day
        self._entries: dict[tuple[str, str], list[Any]] = {}

    def entries(self, person: PersonId) -> list[Any]:
        key = person_key(person)
        if key not in self._entries:
            r = schema.roster.c
            self._entries[key] = list(
                self.conn.execute(
                    select(r.company_id, r.blocked, r.valid_from, r.valid_to).where(
                        r.person_kind == key[0], r.person_id == key[1]
                    )
                ).all()
            )
        return self._entries[key]

    def employers(self, person: PersonId) -> tuple[str, ...]:
        """The person's employers on the roster valid that day."""
        return tuple(
            entry.company_id
            for entry in self.entries(person)
            if (entry.valid_from is None or entry.valid_from <= self.day)
            and (entry.valid_to is None or entry.valid_to >= self.day)
        )

    def blocked(self, person: PersonId) -> bool:
        return any(entry.blocked for entry in self.entries(person))

    def standing(self, person: PersonId) -> str:
        if self.employers(person):
            return admission.LISTED
        return admission.NOT_VALID_TODAY if self.entries(person) else admission.UNKNOWN_PERSON


class RecentAtDoor:
    """The cool-down's memory of a virtual terminal: its admitted check-ins in the store
    (``presence.admission.Recent``, times in seconds since the epoch). Kept in the database,
    so a restart of the console forgets nothing."""

    def __init__(self, conn: Connection, terminal_id: str) -> None:
        self.conn = conn
        self.terminal_id = terminal_id

    def within(self, person: PersonId, direction: Direction, now: float, window_s: float) -> bool:
        kind, digits = person_key(person)
        moment = datetime.fromtimestamp(now, UTC)
        window = timedelta(seconds=window_s)
        e = schema.events.c
        found = self.conn.execute(
            select(e.id)
            .where(e.person_kind == kind, e.person_id == digits)
            .where(e.dated_at > moment - window, e.dated_at < moment + window)
            .where(e.terminal_id == self.terminal_id, e.direction == direction)
            .where(e.decision == "admitted")
            .limit(1)
        ).first()
        return found is not None


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: str
    reason: str
    employers: tuple[str, ...]  # the person's roster employers valid that day
    publish: bool = True  # False: a repeat within the cool-down (no event)


def decide(
    conn: Connection,
    person: PersonId,
    day: date,
    *,
    recent: RecentAtDoor | None = None,
    at: datetime | None = None,
    cooldown_s: float = 0.0,
) -> Verdict:
    """The gate's rules (``presence.admission``) against the controller's roster: blocked,
    then on the roster that day; a door with a memory (``recent``: a team leader's phone)
    also has the gate's cool-down around ``at``. The card rule has nothing to judge at a
    door (no card)."""
    people = RosterPeople(conn, day)
    situation = admission.Situation(
        today=day,
        now=(at or datetime.now(UTC)).timestamp(),
        direction="in",
        people=people,
        unknown_person="refuse",  # never applied: the roster is never stale
        cooldown_s=cooldown_s,
        recent=recent,
    )
    credential = Credential(_CREDENTIALS[type(person)][0], person)  # type: ignore[arg-type]
    verdict = admission.decide(credential, situation)
    employers = people.employers(person) if verdict.admitted else ()
    return Verdict(verdict.decision, verdict.reason, employers, verdict.publish)


# --- building and submitting a check-in -------------------------------------------------------

_CREDENTIALS: dict[type, tuple[str, ...]] = {
    Inss: ("keypad_inss",),
    LimosaId: ("keypad_limosa", "l1_qr"),
}


def parse_person(text: str) -> PersonId:
    """A national number (checksum checked) or a Limosa id, as typed or scanned."""
    digits = "".join(c for c in (text or "") if c.isdigit())
    try:
        if len(digits) == 11:
            return parse_inss(text)
        return parse_limosa_id(text)
    except InvalidIdentifier as exc:
        raise DoorError("bad_person", str(exc), "person") from None


def build_checkin(
    store: Store,
    config: ControllerConfig,
    *,
    terminal_id: str,
    person: PersonId,
    credential_kind: str | None = None,
    direction: Direction = "in",
    event_id: uuid.UUID | None = None,
    scanned_at: datetime | None = None,
) -> CheckIn:
    """The check-in a door submits: decided now by the controller's rules, scanned now (the
    controller's clock is synchronised) or at ``scanned_at`` (when a phone scanned it,
    offline, on a clock the phone keeps in step with ours; never later than now), numbered
    by the virtual terminal's own counter.
    ``credential_kind``: ``keypad_inss`` (default for a national number), ``keypad_limosa``
    (default for a Limosa id) or ``l1_qr`` (a phone scanned the L1 code); ``event_id``: a
    UUIDv7 the caller made (so that a page re-posting the same form is a duplicate), else
    one is made here. Codes: ``bad_terminal``, ``bad_credential``, ``bad_event_id``,
    ``bad_time``."""
    if _virtual_check(terminal_id) is not None:
        raise DoorError("bad_terminal", f"{terminal_id!r} is no virtual terminal", "terminal")
    allowed = _CREDENTIALS[type(person)]
    kind = credential_kind or allowed[0]
    if kind not in allowed:
        raise DoorError(
            "bad_credential", f"{kind} does not carry a {type(person).__name__}", "person"
        )
    if event_id is not None and event_id.version != 7:
        raise DoorError("bad_event_id", "event_id must be a UUIDv7", "event")
    now = store.clock.now()
    if scanned_at is not None:
        if scanned_at.tzinfo is None:
            raise DoorError("bad_time", "scanned_at must be timezone-aware", "event")
        now = min(now, scanned_at)
    with store.transaction() as conn:
        verdict = decide(conn, person, brussels_date(now))
    return CheckIn(
        event_id=event_id or new_event_id(),
        terminal_id=terminal_id,
        workplace_id=parse_workplace_id(config.site.workplace_id),
        seq=_next_seq(store, terminal_id),
        scanned_at=now,
        clock_synced=True,
        credential=Credential(kind, person),  # type: ignore[arg-type]
        direction=direction,
        decision=verdict.decision,  # type: ignore[arg-type]
        reason=verdict.reason,
    )


def submit_checkin(
    store: Store,
    config: ControllerConfig,
    checkin: CheckIn,
    *,
    company: str | None = None,
    actor: Actor | None = None,
) -> Submitted:
    """Run a door's check-in through the gate's path: the ingest's checks, the rules (a
    check-in whose decision disagrees with them is refused: a door cannot admit whom the
    roster refuses), then ``checkins.record_many``, in one transaction with the audit entry.
    ``company``: the employer a registration by hand names, for a national number on the
    roster with several employers. Codes: ``not_a_virtual_terminal``, ``terminal_mismatch``,
    ``wrong_workplace``, ``decision_mismatch``, ``stale`` (not scanned today)."""
    refusal = ingest.checkin_refusal(
        checkin, checkin.terminal_id, config.site.workplace_id, _virtual_check
    )
    if refusal is not None:
        raise DoorError(refusal[0], refusal[1], "terminal")
    now = store.clock.now()
    day = brussels_date(now)
    if brussels_date(checkin.scanned_at) != day:
        raise DoorError("stale", "a door's check-in counts for the day it is made", "event")
    person = checkin.credential.person
    payload = encode(checkin)
    with store.transaction() as conn:
        verdict = decide(conn, person, day)
        if checkin.direction == "in" and (verdict.decision, verdict.reason) != (
            checkin.decision,
            checkin.reason,
        ):
            raise DoorError(
                "decision_mismatch",
                f"the roster says {verdict.decision} ({verdict.reason}) for this person today",
                "person",
            )
        (outcome,) = checkins.record_many(
            store, conn, [Arrival(checkin, payload, now)], config.timing.clock_skew_max_s
        )
        presence_id, state, created = _presence_of(conn, checkin, day)
        if created and company and verdict.decision == "admitted":
            state = _use_employer(store, conn, presence_id, company, verdict, now)
        action = (
            "register.handheld"
            if checkin.terminal_id.startswith(HANDHELD_PREFIX)
            else ("register.by_hand")
        )
        audit.record_by(
            conn,
            actor,
            now,
            action,
            person.masked(),
            f"{day}: {checkin.decision} ({checkin.reason}), event {checkin.event_id}, "
            f"{outcome.status}, presence {presence_id} {state or '-'}",
        )
    ack = ingest.ack_of(checkin, checkins.Outcome(outcome.status, state))
    log.info(
        "%s from %s: %s %s (%s), presence %s",
        outcome.status,
        checkin.terminal_id,
        person.masked(),
        checkin.decision,
        checkin.reason,
        state,
    )
    return Submitted(
        day, checkin.decision, checkin.reason, presence_id, state, ack, checkin.event_id, created
    )


def _presence_of(
    conn: Connection, checkin: CheckIn, day: date
) -> tuple[int | None, str | None, bool]:
    """The presence the event joined (id, state) and whether this event made it."""
    kind, digits = person_key(checkin.credential.person)
    p = schema.presences.c
    row = conn.execute(
        select(p.id, p.state, p.first_event_id).where(
            p.person_kind == kind,
            p.person_id == digits,
            p.workplace_id == str(checkin.workplace_id),
            p.date == day,
        )
    ).first()
    if row is None:
        return None, None, False
    return int(row.id), str(row.state), row.first_event_id == str(checkin.event_id)


def _use_employer(
    store: Store,
    conn: Connection,
    presence_id: int | None,
    company: str,
    verdict: Verdict,
    now: Any,
) -> str:
    """A presence this registration just made takes the employer the form named (one of
    the person's roster employers that day: checked before)."""
    digits = parse_company_id(company).digits
    p = schema.presences.c
    conn.execute(
        schema.presences.update()
        .where(p.id == presence_id, p.state.in_((schema.PENDING, schema.NEEDS_EMPLOYER)))
        .values(company_id=digits, state=schema.PENDING, updated_at=now)
    )
    return str(conn.execute(select(p.state).where(p.id == presence_id)).scalar_one())


# --- registration by hand (the console's form) -----------------------------------------------


def register_by_hand(
    store: Store,
    config: ControllerConfig,
    *,
    user: str,
    person: str,
    company: str | None = None,
    day: date | None = None,
    event_id: uuid.UUID | None = None,
    actor: Actor | None = None,
) -> Submitted:
    """A worker registered by a console user (the online service's channel: card broken or
    forgotten): a national number with the employer's enterprise number, or a Limosa id;
    for today (a check-in from ``console-<user>``) or tomorrow (a planned presence).
    Checksums are checked here, whatever the page checked. ``DoorError`` codes (with the
    form field): ``bad_person``, ``company_required``, ``bad_company``,
    ``employer_not_on_roster`` (company), ``bad_date`` (day), and for tomorrow ``blocked``
    and ``unknown_person`` / ``not_valid_today`` (today those are stored as refusals, like at a
    gate)."""
    who = parse_person(person)
    today = brussels_date(store.clock.now())
    day = day or today
    if day not in (today, today + timedelta(days=1)):
        raise DoorError("bad_date", "a registration is for today or tomorrow only", "day")
    employer = employer_named(who, company)
    with store.transaction() as conn:
        verdict = decide(conn, who, day)
    check_employer(verdict, employer)
    if day == today:
        checkin = build_checkin(
            store, config, terminal_id=console_terminal(user), person=who, event_id=event_id
        )
        return submit_checkin(store, config, checkin, company=employer, actor=actor)
    if verdict.decision != "admitted":
        raise DoorError(
            verdict.reason, f"{who.masked()}: {verdict.reason.replace('_', ' ')} on {day}", "person"
        )
    return _plan_tomorrow(store, config, who, employer or verdict.employers[-1], day, actor)


def employer_named(who: PersonId, company: str | None) -> str | None:
    """The employer a typed national number comes with (required, checksum checked); None
    for a Limosa id. Codes (field ``company``): ``company_required``, ``bad_company``."""
    if isinstance(who, LimosaId):
        return None  # a posted worker's registration names no employer (DOMAIN.md 4)
    if not (company or "").strip():
        raise DoorError(
            "company_required",
            "a national number needs the employer's enterprise number",
            "company",
        )
    try:
        return parse_company_id(company or "").digits
    except InvalidIdentifier as exc:
        raise DoorError("bad_company", str(exc), "company") from None


def check_employer(verdict: Verdict, employer: str | None) -> None:
    """An admitted person's employer named at a door must be one of theirs on the roster that
    day. Code (field ``company``): ``employer_not_on_roster``."""
    if verdict.decision == "admitted" and employer and employer not in verdict.employers:
        listed = ", ".join(_shown_company(c) for c in verdict.employers)
        raise DoorError(
            "employer_not_on_roster",
            f"this person is on the roster for {listed}, not for {_shown_company(employer)}",
            "company",
        )


def _shown_company(digits: str) -> str:
    return str(CompanyId(digits)) if digits else "no employer"


def _plan_tomorrow(
    store: Store,
    config: ControllerConfig,
    who: PersonId,
    company: str,
    day: date,
    actor: Actor | None,
) -> Submitted:
    kind, digits = person_key(who)
    now = store.clock.now()
    p = schema.presences.c
    with store.transaction() as conn:
        inserted = conn.execute(
            store.insert_ignore(schema.presences)
            .values(
                client_ref=new_client_ref(),
                person_kind=kind,
                person_id=digits,
                workplace_id=config.site.workplace_id,
                date=day,
                company_id=company or None,
                state=schema.PENDING,
                source=BY_HAND_SOURCE,
                created_at=now,
                updated_at=now,
                attempts=0,
            )
            .returning(p.id)
        ).scalar_one_or_none()
        row = conn.execute(
            select(p.id, p.state).where(
                p.person_kind == kind,
                p.person_id == digits,
                p.workplace_id == config.site.workplace_id,
                p.date == day,
            )
        ).one()
        audit.record_by(
            conn,
            actor,
            now,
            "register.by_hand",
            who.masked(),
            f"{day}: planned presence {row.id} {row.state}"
            + ("" if inserted is not None else " (already there)"),
        )
    return Submitted(
        day, "admitted", "ok", int(row.id), str(row.state), None, None, inserted is not None
    )
