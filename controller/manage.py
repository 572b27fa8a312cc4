"""Site-manager actions that change things: cancel a registration, pre-register a crew,
decide whether two presences are one person."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, or_, select

from controller import sameperson, schema
from controller.checkins import new_client_ref
from controller.errors import ControllerError
from controller.roster import RosterRow
from controller.siteconfig import make_person
from controller.store import Store
from presence.clock import brussels_date
from registry.errors import RegistryError
from registry.wire import CancelResult

log = logging.getLogger(__name__)

CANCEL_REASONS = ("HOLIDAY", "DISEASE", "PLANNING", "C32A")


class Canceller(Protocol):
    def cancel(self, items: list[tuple[str, str]]) -> list[CancelResult]: ...


def cancel(store: Store, registry: Canceller, receipt: str, reason: str) -> CancelResult:
    """Cancel one of our registrations at NSSO, then record it."""
    if reason not in CANCEL_REASONS:
        raise ControllerError("bad_reason", f"reason must be one of {', '.join(CANCEL_REASONS)}")
    p = schema.presences.c
    with store.transaction() as conn:
        row = conn.execute(select(p.id, p.state).where(p.receipt_id == receipt)).first()
    if row is None:
        raise ControllerError("not_found", f"no presence of this site has receipt {receipt}")
    if row.state == schema.CANCELLED:
        raise ControllerError("already_cancelled", f"receipt {receipt} is already cancelled")
    try:
        (result,) = registry.cancel([(receipt, reason)])
    except RegistryError as exc:
        raise ControllerError("registry", f"registry did not cancel: {exc.code}: {exc}") from exc
    if result.errors:
        codes = ", ".join(f"{e.code} ({e.description})" for e in result.errors)
        raise ControllerError("cancel_refused", f"registry refused the cancellation: {codes}")
    with store.transaction() as conn:
        conn.execute(
            schema.presences.update()
            .where(p.id == row.id)
            .values(
                state=schema.CANCELLED,
                registry_status=result.status,
                last_error=f"cancelled: {reason}",
                updated_at=store.clock.now(),
            )
        )
    log.info("presence %s cancelled (%s)", row.id, reason)
    return result


REQUEUE_STATES = (schema.REJECTED, schema.CANCELLED)


def requeue(store: Store, state: str, day: date) -> int:
    """Send again the ``rejected`` or ``cancelled`` presences of ``day`` (today or tomorrow):
    NSSO has no update, a correction is a cancel plus a new registration. Each gets a new
    client reference; the previous receipt is kept in ``previous_receipts`` as evidence."""
    if state not in REQUEUE_STATES:
        raise ControllerError("bad_state", f"state must be one of {', '.join(REQUEUE_STATES)}")
    today = brussels_date(store.clock.now())
    if day not in (today, today + timedelta(days=1)):
        raise ControllerError("bad_date", "NSSO takes registrations for today or tomorrow only")
    p = schema.presences.c
    with store.transaction() as conn:
        rows = conn.execute(
            select(p.id, p.receipt_id, p.previous_receipts, p.last_error).where(
                p.state == state, p.date == day
            )
        ).all()
        for row in rows:
            conn.execute(
                schema.presences.update()
                .where(p.id == row.id, p.state == state)
                .values(**requeued(store, row, state))
            )
    log.info("%d %s presences of %s queued again", len(rows), state, day)
    return len(rows)


def requeued(store: Store, row: Any, state: str) -> dict[str, Any]:
    """The values that send a presence again: a new client reference, its receipt kept
    in ``previous_receipts`` (``row`` has ``receipt_id``, ``previous_receipts``,
    ``last_error``)."""
    previous = json.loads(row.previous_receipts or "[]")
    if row.receipt_id:
        previous.append(row.receipt_id)
    return {
        "state": schema.PENDING,
        "client_ref": new_client_ref(),
        "receipt_id": None,
        "registry_status": None,
        "remarks": None,
        "batch_id": None,
        "previous_receipts": json.dumps(previous) if previous else None,
        "last_error": f"was {state}: {row.last_error or ''}"[:2000],
        "updated_at": store.clock.now(),
    }


def parse_day(text: str, today: date) -> date:
    """``today``, ``tomorrow`` or YYYY-MM-DD."""
    words = {"today": today, "tomorrow": today + timedelta(days=1)}
    if text in words:
        return words[text]
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ControllerError(
            "bad_date", f"{text!r} is not today, tomorrow or YYYY-MM-DD"
        ) from None


@dataclass(frozen=True, slots=True)
class Preregistered:
    created: int
    existing: int
    skipped: list[str]


def crew_from_roster(store: Store, day: date) -> list[RosterRow]:
    r = schema.roster.c
    with store.transaction() as conn:
        rows = conn.execute(
            select(r.person_kind, r.person_id, r.company_id, r.valid_from, r.valid_to)
            .where(or_(r.valid_from.is_(None), r.valid_from <= day))
            .where(or_(r.valid_to.is_(None), r.valid_to >= day))
            .order_by(r.imported_at.desc(), r.id.desc())
        ).all()
    return [
        RosterRow(x.person_kind, x.person_id, x.company_id, x.valid_from, x.valid_to) for x in rows
    ]


def gate_would_refuse(
    store: Store, day: date, crew: Iterable[RosterRow], unknown_person: str = "refuse"
) -> dict[tuple[str, str], str]:
    """Who of ``crew`` the gates would refuse on ``day``, with why, by the rule of the site
    config (controller.siteconfig): blocked on the roster; on it, but not for that day; or
    not on it at all while the site's ``unknown_person`` policy is ``refuse``."""
    wanted = {(row.person_kind, row.person_id) for row in crew}
    r = schema.roster.c
    entries: dict[tuple[str, str], list[Any]] = {}
    ids = sorted({digits for _kind, digits in wanted})
    with store.transaction() as conn:
        for start in range(0, len(ids), 900):
            query = select(r.person_kind, r.person_id, r.valid_from, r.valid_to, r.blocked)
            for row in conn.execute(query.where(r.person_id.in_(ids[start : start + 900]))):
                entries.setdefault((row.person_kind, row.person_id), []).append(row)
    refused: dict[tuple[str, str], str] = {}
    for key in wanted:
        found = entries.get(key, [])
        if any(row.blocked for row in found):
            refused[key] = "blocked on the roster"
        elif not found:
            if unknown_person == "refuse":
                refused[key] = "not on the roster"
        elif not any(
            (row.valid_from is None or row.valid_from <= day)
            and (row.valid_to is None or row.valid_to >= day)
            for row in found
        ):
            refused[key] = f"on the roster, but not for {day.isoformat()} (check its dates)"
    return refused


def preregister(
    store: Store, workplace: str, day: date, crew: Iterable[RosterRow]
) -> Preregistered:
    """Planned presences for ``day`` (NSSO accepts today or tomorrow only)."""
    today = brussels_date(store.clock.now())
    if day not in (today, today + timedelta(days=1)):
        raise ControllerError("bad_date", "NSSO registers today or tomorrow only")
    created = existing = 0
    skipped: list[str] = []
    seen: set[tuple[str, str]] = set()
    now = store.clock.now()
    with store.transaction() as conn:
        for row in crew:
            key = (row.person_kind, row.person_id)
            if key in seen:
                continue
            seen.add(key)
            if row.person_kind == "inss" and not row.company_id:
                skipped.append(f"{masked_person(row)}: no employer")
                continue
            if _present_by_other_number(conn, (row.person_kind, row.person_id, workplace, day)):
                existing += 1  # one person, two numbers: one registration
                continue
            inserted = conn.execute(
                store.insert_ignore(schema.presences)
                .values(
                    client_ref=new_client_ref(),
                    person_kind=row.person_kind,
                    person_id=row.person_id,
                    workplace_id=workplace,
                    date=day,
                    company_id=row.company_id or None,
                    state=schema.PENDING,
                    source="preregister",
                    created_at=now,
                    updated_at=now,
                    attempts=0,
                )
                .returning(schema.presences.c.id)
            ).scalar_one_or_none()
            if inserted is not None:
                created += 1
            else:
                existing += 1
    return Preregistered(created, existing, skipped)


def _present_by_other_number(conn: Connection, key: sameperson.Key) -> bool:
    """Whether the person of ``key`` already has a presence that day under their other
    number (roster, NSSO or site-manager link)."""
    p = schema.presences.c
    for kind, person, workplace, day in sameperson.aliases(conn, [key]).get(key, []):
        found = conn.execute(
            select(p.id).where(
                p.person_kind == kind,
                p.person_id == person,
                p.workplace_id == workplace,
                p.date == day,
            )
        ).first()
        if found is not None:
            return True
    return False


@dataclass(frozen=True, slots=True)
class SamePersonDecision:
    presence_id: int
    other_id: int
    merged: bool  # True: folded into other_id; False: released under its own number
    state: str  # the state of the presence that remains for this person


def resolve_same_person(store: Store, presence_id: int, same: bool) -> SamePersonDecision:
    """The site manager's answer for a ``possible_same_person`` presence. Same person: it is folded
    into the other presence (its check-ins kept as evidence, pointing there) and the two
    numbers are linked, so later check-ins join at once. Different people: it is released
    to be sent under its own number, and the pair is never held again."""
    p = schema.presences.c
    now = store.clock.now()
    with store.transaction() as conn:
        row = conn.execute(
            select(p.id, p.state, p.person_kind, p.person_id, p.company_id, p.same_as_id)
            .where(p.id == presence_id)
            .with_for_update()
        ).first()
        if row is None:
            raise ControllerError("not_found", f"no presence {presence_id}")
        if row.state != schema.POSSIBLE_SAME or row.same_as_id is None:
            raise ControllerError(
                "not_held", f"presence {presence_id} is {row.state}, not possible_same_person"
            )
        other = conn.execute(
            select(p.id, p.state, p.person_kind, p.person_id).where(p.id == row.same_as_id)
        ).one()
        pair = {row.person_kind: row.person_id, other.person_kind: other.person_id}
        if set(pair) == {"inss", "limosa"}:
            sameperson.record_link(conn, pair["inss"], pair["limosa"], same=same,
                                   source="site_manager", now=now)  # fmt: skip
        if same:
            sameperson.merge(conn, presence_id, int(other.id))
            decision = SamePersonDecision(presence_id, int(other.id), True, other.state)
        else:
            state = (
                schema.NEEDS_EMPLOYER
                if row.person_kind == "inss" and row.company_id is None
                else schema.PENDING
            )
            conn.execute(
                schema.presences.update()
                .where(p.id == presence_id, p.state == schema.POSSIBLE_SAME)
                .values(state=state, same_as_id=None, last_error=None, updated_at=now)
            )
            decision = SamePersonDecision(presence_id, int(other.id), False, state)
    log.info(
        "presence %s and presence %s: %s (site manager)",
        presence_id,
        decision.other_id,
        "one person, merged" if same else "two people, released",
    )
    return decision


def masked_person(row: RosterRow) -> str:
    """The person of a crew row, masked (messages never show the full number)."""
    return make_person(row.person_kind, row.person_id).masked()
