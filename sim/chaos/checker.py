"""The checker: sitegate's promise, read from what every part kept.

    Every admitted check-in becomes exactly one NSSO registration for that person,
    workplace and day, or an anomaly with its evidence; nothing else.

Sources, read after the site was healed, settled and stopped: each terminal's decision
journal (``journal``), its outbox file, the controller's database, the stand-in's
registrations, every process's log, the processes' exits and the campaign's history.

Violations (``code``):

``lost``             an admitted decision whose event the controller never stored
``lost_refusal``     a refusal the terminal published and the controller never stored
``no_presence``      an admitted entry stored without a presence
``unregistered``     its presence ended with neither a registration nor an allowed anomaly
``wrong_day``        its presence (or registration) is for another day than the one on
                     which the person passed the gate (Brussels time)
``receipt``          a registered presence whose receipt NSSO does not hold for that person,
                     workplace and day (or holds more than once for its reference)
``phantom``          a registration, presence or stored admission no terminal decided
``doubled``          two registrations for one person, workplace and day (a person with a
                     national number and a Limosa id is one person)
``unsettled``        presences or batches still in flight after the settling time
``quarantined``      a check-in the controller refused to store
``outbox``           an outbox not drained at the end
``error_logged``     an ERROR line in a log of ours
``crashed``          a terminal, the controller, the broker or NSSO exited on its own

Allowed anomalies, precisely:

* ``failed_remarks`` is a registration (NSSO registered it, with remarks): it needs its receipt;
* ``missed`` only for a presence whose day had passed when the checker ran (the relay could
  not send it in time), with its evidence (the first event id and the reason);
* ``possible_same_person`` only for a person who showed two identifiers (eID and L1), when
  the presence of the other identifier holds the registration of that day;
* an event that a terminal stored and its journal lacks only when that terminal was killed
  while that very person was at its gate (the outbox commit comes before the journal line).
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from presence.clock import brussels_date
from presence.ids import Inss, LimosaId
from sim.chaos.history import History
from sim.chaos.journal import Entry, read
from sim.chaos.workload import Workload
from sim.nsso.store import Row, Store

REGISTERED = ("registered", "validated", "failed_remarks")
IN_FLIGHT = ("pending", "sent")
SAME_PERSON = "possible_same_person"
ERROR_LINE = re.compile(r"^(?:\d{4}-\d\d-\d\d [\d:,.]+ )?(?:ERROR|CRITICAL) ")
MIDNIGHT_TOLERANCE_S = 2.0


@dataclass(frozen=True, slots=True)
class Violation:
    code: str
    detail: str
    wall: float | None = None  # when it happened, for the history around it
    terminal: str | None = None
    person: int | None = None


@dataclass(slots=True)
class Findings:
    violations: list[Violation] = field(default_factory=list)
    decisions: int = 0
    admitted: int = 0
    registrations: int = 0
    anomalies: Counter[str] = field(default_factory=Counter)
    worst_receipt_s: float | None = None
    receipt_delays: list[float] = field(default_factory=list)  # decision -> receipt stored
    validated_delays: list[float] = field(default_factory=list)  # decision -> VALIDATED known

    def add(self, code: str, detail: str, **where: Any) -> None:
        self.violations.append(Violation(code, detail, **where))


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the run kept things."""

    terminals: list[str]
    journal: dict[str, Path]
    outbox: dict[str, Path]
    logs: dict[str, Path]
    db_url: str
    nsso_db: Path
    exits: list[tuple[str, int, float]]  # unexpected: name, return code, wall time


def mask(digits: str) -> str:
    return Inss(digits).masked() if len(digits) == 11 else LimosaId(digits).masked()


def check(
    sources: Sources,
    workload: Workload,
    history: History | None,
    unsettled_note: str = "",
    site_offset_s: float = 0.0,
) -> Findings:
    """The violations in what the run kept. ``site_offset_s``: the site's clock minus the
    real one (``--before-midnight``), for the site's own "today"."""
    found = Findings()
    journals = {t: list(read(sources.journal[t])) for t in sources.terminals}
    db = _controller(sources.db_url)
    registrations = [r for r in _nsso(sources.nsso_db) if r.cancel_reason is None]
    found.registrations = len(registrations)
    today = brussels_date(datetime.now(UTC) + timedelta(seconds=site_offset_s))
    _decisions(found, journals, db, workload)
    _presences(found, journals, db, registrations, workload, today)
    _registrations(found, db, registrations, workload)
    _unjournaled(found, journals, db, workload, history)
    _leftovers(found, db, sources, unsettled_note)
    return found


# --- reading -------------------------------------------------------------------------------------


def _controller(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {table}"))]
                for name, table in (
                    ("events", "checkin_events"),
                    ("presences", "presences"),
                    ("batches", "registry_batches"),
                    ("quarantine", "quarantine"),
                )
            }
    finally:
        engine.dispose()


def _nsso(path: Path) -> list[Row]:
    store = Store(path)
    try:
        return store.all()
    finally:
        store.close()


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _person_digits(event: dict[str, Any]) -> str:
    cred = event["credential"]
    return str(cred.get("inss") or cred.get("limosa_id"))


def _days_of(at: float) -> set[date]:
    """The Brussels day of a moment, both days when it is within a hair of midnight."""
    moment = datetime.fromtimestamp(at, UTC)
    return {
        brussels_date(moment + timedelta(seconds=s))
        for s in (-MIDNIGHT_TOLERANCE_S, 0, MIDNIGHT_TOLERANCE_S)
    }


# --- the invariants ------------------------------------------------------------------------------


def _decisions(
    found: Findings,
    journals: dict[str, list[Entry]],
    db: dict[str, list[dict[str, Any]]],
    workload: Workload,
) -> None:
    """Every published decision reached the controller; admitted entries made a presence."""
    stored = {str(e["event_id"]): e for e in db["events"]}
    for terminal, entries in journals.items():
        for entry in entries:
            found.decisions += 1
            if entry.event is None:
                continue
            person = workload.person_of(_person_digits(entry.event))
            index = person.index if person else None
            admitted = entry.decision == "admitted"
            found.admitted += admitted
            event = stored.get(str(entry.event_id))
            if event is None:
                code = "lost" if admitted else "lost_refusal"
                found.add(
                    code,
                    f"{terminal} seq {entry.seq} {entry.decision} "
                    f"{mask(_person_digits(entry.event))}: event {entry.event_id} not "
                    "stored by the controller",
                    wall=entry.at,
                    terminal=terminal,
                    person=index,
                )
            elif admitted and entry.event["direction"] == "in" and event["presence_id"] is None:
                found.add(
                    "no_presence",
                    f"{terminal} event {entry.event_id} admitted, stored without a presence",
                    wall=entry.at,
                    terminal=terminal,
                    person=index,
                )
            if person is not None and admitted and not person.expect_admitted:
                found.add(
                    "phantom",
                    f"{terminal} admitted {mask(_person_digits(entry.event))} "
                    f"({person.role}), who must be refused",
                    wall=entry.at,
                    terminal=terminal,
                    person=index,
                )


def _presences(
    found: Findings,
    journals: dict[str, list[Entry]],
    db: dict[str, list[dict[str, Any]]],
    registrations: list[Row],
    workload: Workload,
    today: date,
) -> None:
    """Each presence an admission made ends registered (one receipt) or as an allowed anomaly,
    dated by the day the person passed."""
    decided_at = {e.event_id: e.at for entries in journals.values() for e in entries if e.event}
    events_of: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for event in db["events"]:
        if event["presence_id"] is not None:
            events_of[event["presence_id"]].append(event)
    by_ref: dict[str, list[Row]] = defaultdict(list)
    for row in registrations:
        by_ref[row.client_reference or ""].append(row)
    registered_days = {
        (p["person_id"], _as_date(p["date"])) for p in db["presences"] if p["state"] in REGISTERED
    }
    for presence in db["presences"]:
        digits, day, state = presence["person_id"], _as_date(presence["date"]), presence["state"]
        person = workload.person_of(digits)
        index = person.index if person else None
        who = f"presence {presence['id']} {mask(digits)} {day}"
        admissions = [
            e
            for e in events_of[presence["id"]]
            if e["decision"] == "admitted" and e["direction"] == "in"
        ]
        first = min(
            (
                decided_at[str(e["event_id"])]
                for e in admissions
                if str(e["event_id"]) in decided_at
            ),
            default=None,
        )
        if first is not None and day not in _days_of(first):
            found.add(
                "wrong_day",
                f"{who}: the person passed on {brussels_date(datetime.fromtimestamp(first, UTC))}",
                wall=first,
                person=index,
            )
        if state in REGISTERED:
            if state == "failed_remarks":
                found.anomalies[state] += 1
            _receipt(found, presence, by_ref, who, index, first)
            continue
        found.anomalies[state] += 1
        if (
            state == "missed"
            and day < today
            and presence["first_event_id"]
            and presence["last_error"]
        ):
            continue
        if (
            state == SAME_PERSON
            and person is not None
            and person.both_ids
            and any((other, day) in registered_days for other in person.ids if other != digits)
        ):
            continue
        if state in IN_FLIGHT:
            continue  # reported once, with the batches, as unsettled
        found.add(
            "unregistered",
            f"{who} ended {state}: {presence['last_error'] or ''}"[:300],
            wall=first,
            person=index,
        )


def _receipt(
    found: Findings,
    presence: dict[str, Any],
    by_ref: dict[str, list[Row]],
    who: str,
    index: int | None,
    first: float | None,
) -> None:
    rows = by_ref.get(presence["client_ref"], [])
    matching = [
        r
        for r in rows
        if r.receipt_id == presence["receipt_id"]
        and presence["person_id"] in (r.inss, r.limosa_id)
        and r.workplace_id == presence["workplace_id"]
        and r.registration_date == _as_date(presence["date"])
    ]
    if len(rows) != 1 or len(matching) != 1:
        found.add(
            "receipt",
            f"{who} {presence['state']} receipt {presence['receipt_id']}: "
            f"NSSO holds {len(rows)} registrations for its reference, {len(matching)} "
            "matching",
            wall=first,
            person=index,
        )
        return
    if first is not None and presence["registered_at"] is not None:
        delay = _as_utc(presence["registered_at"]).timestamp() - first
        found.receipt_delays.append(max(0.0, delay))
    if first is not None and presence["state"] == "validated" and presence["polled_at"]:
        # polled_at: the poll that stored VALIDATED was the last one (no poll after it)
        found.validated_delays.append(max(0.0, _as_utc(presence["polled_at"]).timestamp() - first))


def _registrations(
    found: Findings,
    db: dict[str, list[dict[str, Any]]],
    registrations: list[Row],
    workload: Workload,
) -> None:
    """No registration that no presence asked for; no two for one person and day."""
    presences = {p["client_ref"]: p for p in db["presences"]}
    admitted = {
        p_id
        for p_id in (
            e["presence_id"]
            for e in db["events"]
            if e["decision"] == "admitted" and e["direction"] == "in"
        )
        if p_id is not None
    }
    per_person_day: dict[tuple[object, str, date], list[Row]] = defaultdict(list)
    for row in registrations:
        digits = row.inss or row.limosa_id or ""
        person = workload.person_of(digits)
        presence = presences.get(row.client_reference or "")
        if presence is None or presence["id"] not in admitted:
            found.add(
                "phantom",
                f"NSSO registration {row.receipt_id} of {mask(digits)} "
                f"{row.registration_date}: no admitted check-in asked for it",
                wall=row.created_ts,
                person=person.index if person else None,
            )
        human: object = person.index if person else digits
        per_person_day[(human, row.workplace_id, row.registration_date)].append(row)
    for (human, _workplace, day), rows in per_person_day.items():
        if len(rows) > 1:
            people = ", ".join(f"{mask(r.inss or r.limosa_id or '')} {r.receipt_id}" for r in rows)
            found.add(
                "doubled",
                f"{len(rows)} registrations on {day} for one person: {people}",
                wall=rows[-1].created_ts,
                person=human if isinstance(human, int) else None,
            )


def _unjournaled(
    found: Findings,
    journals: dict[str, list[Entry]],
    db: dict[str, list[dict[str, Any]]],
    workload: Workload,
    history: History | None,
) -> None:
    """A stored event that no journal holds: allowed once per kill of its terminal while
    that person stood at it."""
    journaled = {e.event_id for entries in journals.values() for e in entries}
    excuses: Counter[tuple[str, int]] = Counter()
    if history is not None:
        for record in history.of_kind("fault.start"):
            person = record.data.get("in_flight")
            if person is not None and record.data.get("fault") in (
                "kill",
                "clock",
                "clock_offline",
            ):
                excuses[(record.data["target"], int(person))] += 1
    for event in db["events"]:
        if str(event["event_id"]) in journaled:
            continue
        person = workload.person_of(event["person_id"])
        key = (event["terminal_id"], person.index if person else -1)
        if excuses[key] > 0:
            excuses[key] -= 1
            continue
        found.add(
            "phantom",
            f"{event['terminal_id']} seq {event['seq']} "
            f"{event['decision']} {mask(event['person_id'])}: stored by the controller, "
            "in no terminal's journal",
            wall=_as_utc(event["received_at"]).timestamp(),
            terminal=event["terminal_id"],
            person=key[1],
        )


def _leftovers(
    found: Findings, db: dict[str, list[dict[str, Any]]], sources: Sources, unsettled_note: str
) -> None:
    open_presences = [p for p in db["presences"] if p["state"] in IN_FLIGHT]
    open_batches = [b for b in db["batches"] if b["state"] in ("sending", "in_doubt")]
    if open_presences or open_batches:
        states = Counter(p["state"] for p in open_presences)
        found.add(
            "unsettled",
            f"{dict(states)} presences and {len(open_batches)} batches "
            f"still in flight {unsettled_note}",
        )
    for row in db["quarantine"]:
        found.add(
            "quarantined",
            f"{row['terminal_id']} event {row['event_id']}: {row['reason']} "
            f"({str(row['detail'])[:120]})",
            terminal=row["terminal_id"],
        )
    for terminal, path in sources.outbox.items():
        left = _outbox_depth(path)
        if left:
            found.add("outbox", f"{terminal}: {left} events still in the outbox", terminal=terminal)
    for name, path in sources.logs.items():
        for line in _error_lines(path):
            found.add("error_logged", f"{name}: {line[:300]}")
    for name, code, at in sources.exits:
        found.add("crashed", f"{name} exited by itself (status {code})", wall=at)


def _outbox_depth(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


def outbox_depth(path: Path) -> int:
    """Rows in a terminal's outbox now (0 when there is no outbox yet)."""
    try:
        return _outbox_depth(path)
    except sqlite3.Error:
        return 0


def _error_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    text_ = path.read_text(errors="replace")
    return [line for line in text_.splitlines() if ERROR_LINE.match(line)]
