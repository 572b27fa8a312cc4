"""The roster: who works on this site, for which employer, and who is blocked.

A roster arrives as the file a site manager already has: CSV (``;`` or ``,``, UTF-8 with
or without BOM, else Windows-1252) or XLSX, with Dutch, French, German or English column
names (``controller.roster_file`` reads and maps it). Importing is two steps, so nothing
changes before the manager has seen what would: ``plan_import`` lists the rows that would be
added, changed and refused (line number and reason), and ``apply_import`` writes the good
rows in one transaction. People can then be listed, searched, blocked (the site config's
blocklist), unblocked and removed; ``history`` shows what the controller holds about one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update

from controller import audit, nsso_texts, schema, siteconfig
from controller.audit import Actor
from controller.checkins import employer_on
from controller.errors import ControllerError, RosterError
from controller.roster_file import (
    MAX_UPLOAD_BYTES,
    BadRow,
    RosterRow,
    Upload,
    compact_digits,
    parse_row,
    read_upload,
)
from controller.store import Store
from presence.clock import BRUSSELS, brussels_date
from presence.ids import (
    CompanyId,
    InvalidIdentifier,
    PersonId,
    parse_company_id,
    parse_inss,
    parse_limosa_id,
)

log = logging.getLogger(__name__)


Row = dict[str, Any]
PEOPLE_COLUMNS = (
    "id",
    "person",
    "name",
    "employer",
    "valid_from",
    "valid_to",
    "status",
    "blocked",
    "limosa_id",
    "source",
)


# --- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedRow:
    """A good row of the file: added, or already in the roster exactly as the file says."""

    line: int
    row: RosterRow
    person: str  # masked
    roster_id: int | None = None


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """A good row that changes a roster entry: ``changes`` maps a field to (before, after)
    as shown to the manager (dates ISO, names in full, identifiers masked)."""

    line: int
    row: RosterRow
    person: str  # masked
    roster_id: int
    changes: dict[str, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A row that will not be imported, and why (``code`` is stable, ``reason`` is words)."""

    line: int
    code: str
    reason: str


@dataclass(slots=True)
class ImportPlan:
    """What importing a file would do. Plain data: a page may keep it between the upload
    and the confirmation (``digest`` names the file it was made from)."""

    source_name: str
    file_format: str  # csv | xlsx
    digest: str  # sha256 of the file's bytes
    columns: dict[str, str]  # our field -> the file's column title
    ignored_columns: list[str]
    header_line: int
    today: date
    added: list[PlannedRow] = field(default_factory=list)
    changed: list[PlannedChange] = field(default_factory=list)
    unchanged: list[PlannedRow] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def good_rows(self) -> list[tuple[int, RosterRow]]:
        rows = [(r.line, r.row) for r in self.added] + [(c.line, c.row) for c in self.changed]
        return sorted(rows, key=lambda item: item[0])

    def summary(self) -> str:
        return (
            f"{len(self.added)} to add, {len(self.changed)} to change, "
            f"{len(self.unchanged)} unchanged, {len(self.refused)} refused"
        )


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    changed: int
    unchanged: int
    refused: int
    employers_found: int  # presences waiting for an employer that got one


def _source(source: Path | Upload) -> Upload:
    if isinstance(source, Upload):
        return source
    try:
        size = source.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise RosterError(
                "too_large", f"{source.name}: {size} bytes, at most {MAX_UPLOAD_BYTES}"
            )
        return Upload(source.name, source.read_bytes())
    except OSError as exc:
        raise RosterError("unreadable", f"{source}: cannot read ({exc.strerror})") from None


def plan_import(store: Store, source: Path | Upload, today: date | None = None) -> ImportPlan:
    """What importing ``source`` would change; changes nothing. Raises ``RosterError`` when
    the file cannot be read as a roster at all (codes in ``controller.roster_file``)."""
    upload = _source(source)
    table = read_upload(upload)
    today = today or brussels_date(store.clock.now())
    plan = ImportPlan(
        source_name=upload.name[:200],
        file_format=table.file_format,
        digest=hashlib.sha256(upload.data).hexdigest(),
        columns=dict(table.columns),
        ignored_columns=list(table.ignored),
        header_line=table.header_line,
        today=today,
    )
    seen: dict[tuple[str, str, str], int] = {}
    parsed: list[tuple[int, RosterRow]] = []
    for line, values, problem in table.rows:
        if problem is not None:
            plan.refused.append(Refusal(line, problem[0], problem[1]))
            continue
        try:
            row = parse_row(values)
        except BadRow as exc:
            plan.refused.append(Refusal(line, exc.code, str(exc)))
            continue
        if row.valid_to is not None and row.valid_to < today:
            plan.refused.append(
                Refusal(
                    line,
                    "ended",
                    (
                        f"validity ended on {row.valid_to.isoformat()}, before today: "
                        "nothing to import (remove the line, or correct valid_to)"
                    ),
                )
            )
            continue
        key = (row.person_kind, row.person_id, row.company_id)
        if key in seen:
            plan.refused.append(
                Refusal(
                    line,
                    "duplicate",
                    (f"same person and employer as line {seen[key]}: only the first is kept"),
                )
            )
            continue
        seen[key] = line
        parsed.append((line, row))
    with store.transaction() as conn:
        existing = _existing(conn, [row for _line, row in parsed])
    for line, row in parsed:
        person = siteconfig.make_person(row.person_kind, row.person_id).masked()
        found = existing.get((row.person_kind, row.person_id, row.company_id))
        if found is None:
            plan.added.append(PlannedRow(line, row, person))
            continue
        changes = _changes(found, row)
        if changes:
            plan.changed.append(PlannedChange(line, row, person, found.id, changes))
        else:
            plan.unchanged.append(PlannedRow(line, row, person, found.id))
    return plan


def _existing(conn: Connection, rows: list[RosterRow]) -> dict[tuple[str, str, str], Any]:
    people = sorted({row.person_id for row in rows})
    found: dict[tuple[str, str, str], Any] = {}
    r = schema.roster.c
    for start in range(0, len(people), 500):
        chunk = people[start : start + 500]
        for entry in conn.execute(select(schema.roster).where(r.person_id.in_(chunk))):
            found[(entry.person_kind, entry.person_id, entry.company_id)] = entry
    return found


def _changes(entry: Any, row: RosterRow) -> dict[str, tuple[str, str]]:
    """What the row would change; fields the file does not carry keep their value."""
    changes: dict[str, tuple[str, str]] = {}
    after = _stored_values(entry, row)
    for name in ("valid_from", "valid_to", "name", "limosa_id"):
        old, new = getattr(entry, name), after[name]
        if old != new:
            changes[name] = (_shown(name, old), _shown(name, new))
    return changes


def _shown(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if name == "limosa_id":
        return siteconfig.make_person("limosa", value).masked()
    return str(value)


def _stored_values(entry: Any | None, row: RosterRow) -> dict[str, Any]:
    """The values a row writes: a column the file lacks keeps what the roster has."""
    values: dict[str, Any] = {}
    for name in ("valid_from", "valid_to", "name", "limosa_id"):
        carried = name in row.carried
        values[name] = getattr(row, name) if carried or entry is None else getattr(entry, name)
    return values


def apply_import(store: Store, plan: ImportPlan, actor: Actor | None = None) -> ImportResult:
    """Write the plan's good rows (added and changed) in one transaction: either all of them
    or, on a database failure, none. Refused rows are not touched."""
    now = store.clock.now()
    source = plan.source_name
    with store.transaction() as conn:
        for _line, row in plan.good_rows:
            _upsert(conn, row, source, now)
        found = 0
        if plan.good_rows:
            found = _fill_employers(conn, brussels_date(now), now)
            siteconfig.bump_roster_version(store, conn)
        audit.record_by(
            conn,
            actor,
            now,
            "roster.import",
            source,
            plan.summary() + f"; {found} waiting presences got their employer",
        )
    log.info("roster import of %s: %s", source, plan.summary())
    return ImportResult(
        added=len(plan.added),
        changed=len(plan.changed),
        unchanged=len(plan.unchanged),
        refused=len(plan.refused),
        employers_found=found,
    )


def _upsert(conn: Connection, row: RosterRow, source: str, now: datetime) -> None:
    r = schema.roster.c
    key = (
        r.person_kind == row.person_kind,
        r.person_id == row.person_id,
        r.company_id == row.company_id,
    )
    entry = conn.execute(select(schema.roster).where(*key)).first()
    values = {**_stored_values(entry, row), "source": source[:200], "imported_at": now}
    if entry is not None:
        conn.execute(schema.roster.update().where(r.id == entry.id).values(**values))
        return
    conn.execute(
        schema.roster.insert().values(
            person_kind=row.person_kind,
            person_id=row.person_id,
            company_id=row.company_id,
            **values,
        )
    )


def _fill_employers(conn: Connection, today: date, now: datetime) -> int:
    """Presences waiting for an employer get it, from today on, and can be sent."""
    p = schema.presences.c
    waiting = conn.execute(
        select(p.id, p.person_kind, p.person_id, p.date).where(
            p.state == schema.NEEDS_EMPLOYER, p.date >= today
        )
    ).all()
    found = 0
    for row in waiting:
        company = employer_on(conn, row.person_kind, row.person_id, row.date)
        if company:
            conn.execute(
                schema.presences.update()
                .where(p.id == row.id, p.state == schema.NEEDS_EMPLOYER)
                .values(company_id=company, state=schema.PENDING, updated_at=now)
            )
            found += 1
    return found


@dataclass(slots=True)
class ImportReport:
    """``import_file``'s answer (the one-step import scripts and older callers use)."""

    imported: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)
    employers_found: int = 0


def import_file(store: Store, path: Path, actor: Actor | None = None) -> ImportReport:
    """Plan and apply in one step: good rows are kept, refused ones reported."""
    plan = plan_import(store, path)
    result = apply_import(store, plan, actor)
    return ImportReport(
        imported=len(plan.added) + len(plan.changed) + len(plan.unchanged),
        bad=[(r.line, r.reason) for r in plan.refused],
        employers_found=result.employers_found,
    )


def read_rows(path: Path) -> tuple[list[tuple[int, RosterRow]], list[tuple[int, str]]]:
    """Good rows and bad rows (line number, reason) of a roster file, without the store
    (``preregister --from`` reads a crew file this way)."""
    table = read_upload(_source(path))
    good: list[tuple[int, RosterRow]] = []
    bad: list[tuple[int, str]] = []
    for line, values, problem in table.rows:
        if problem is not None:
            bad.append((line, problem[1]))
            continue
        try:
            good.append((line, parse_row(values)))
        except BadRow as exc:
            bad.append((line, str(exc)))
    return good, bad


# --- people ---------------------------------------------------------------------------------


def resolve_person(store: Store, text: str) -> PersonId:
    """The person ``text`` names: ``#<roster id>`` (a page's handle), a full national
    number or Limosa id (any separators), or a search (last digits, part of a name) that
    matches exactly one person on the roster. Codes: ``not_found``, ``ambiguous``."""
    text = (text or "").strip()
    r = schema.roster.c
    if text.startswith("#") and text[1:].isdigit():
        with store.transaction() as conn:
            found = conn.execute(
                select(r.person_kind, r.person_id).where(r.id == int(text[1:]))
            ).first()
        if found is None:
            raise ControllerError("not_found", f"no roster entry {text}")
        return siteconfig.make_person(found.person_kind, found.person_id)
    digits = compact_digits(text)
    if digits is not None and len(digits) == 11:
        try:
            return parse_inss(digits)
        except InvalidIdentifier as exc:
            raise ControllerError("bad_identifier", str(exc)) from None
    if digits is not None and len(digits) > 11:
        try:
            return parse_limosa_id(digits)
        except InvalidIdentifier as exc:
            raise ControllerError("bad_identifier", str(exc)) from None
    matches = {(row["_kind"], row["_id"]) for row in _people_rows(store, text, reveal=False)}
    if not matches:
        raise ControllerError("not_found", f"nobody on the roster matches {text!r}")
    if len(matches) > 1:
        shown = ", ".join(sorted(siteconfig.make_person(k, d).masked() for k, d in matches))
        raise ControllerError("ambiguous", f"{len(matches)} people match {text!r}: {shown}")
    ((kind, digits_found),) = matches
    return siteconfig.make_person(kind, digits_found)


def people(store: Store, search: str | None = None, reveal: bool = False) -> list[Row]:
    """The roster, one row per person and employer, ordered by name; ``search`` matches the
    last digits of a national number or Limosa id, or part of a name (any case)."""
    return [
        {k: v for k, v in row.items() if not k.startswith("_")}
        for row in _people_rows(store, search, reveal)
    ]


def _people_rows(store: Store, search: str | None, reveal: bool) -> list[Row]:
    r = schema.roster.c
    query = select(schema.roster).order_by(func.lower(func.coalesce(r.name, "")), r.id)
    text = (search or "").strip()
    if text:
        digits = compact_digits(text)
        if digits is not None:
            query = query.where(
                or_(
                    r.person_id.endswith(digits, autoescape=True),
                    r.limosa_id.endswith(digits, autoescape=True),
                )
            )
        else:
            query = query.where(func.lower(r.name).contains(text.lower(), autoescape=True))
    today = brussels_date(store.clock.now())
    with store.transaction() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "id": row.id,
            "person": _show(row.person_kind, row.person_id, reveal),
            "name": row.name or "",
            "employer": str(CompanyId(row.company_id)) if row.company_id else "",
            "valid_from": row.valid_from.isoformat() if row.valid_from else "",
            "valid_to": row.valid_to.isoformat() if row.valid_to else "",
            "status": _status(row, today),
            "blocked": bool(row.blocked),
            "limosa_id": _show("limosa", row.limosa_id, reveal) if row.limosa_id else "",
            "source": row.source,
            "imported_at": row.imported_at.astimezone(BRUSSELS).strftime("%Y-%m-%d %H:%M %Z"),
            "_kind": row.person_kind,
            "_id": row.person_id,
        }
        for row in rows
    ]


def _status(row: Any, today: date) -> str:
    if row.valid_from is not None and row.valid_from > today:
        return "not_yet_valid"
    if row.valid_to is not None and row.valid_to < today:
        return "ended"
    return "valid"


def _show(kind: str, digits: str, reveal: bool) -> str:
    person = siteconfig.make_person(kind, digits)
    return str(person) if reveal else person.masked()


@dataclass(frozen=True, slots=True)
class PersonChange:
    person: str  # masked
    rows: int  # roster entries changed


def _person_filter(person: PersonId) -> tuple[Any, ...]:
    kind = "inss" if person.__class__.__name__ == "Inss" else "limosa"
    r = schema.roster.c
    return (r.person_kind == kind, r.person_id == person.digits)


def _set_blocked(
    store: Store, person: PersonId, blocked: bool, actor: Actor | None
) -> PersonChange:
    r = schema.roster.c
    now = store.clock.now()
    where = _person_filter(person)
    with store.transaction() as conn:
        total = conn.execute(select(func.count()).where(*where)).scalar_one()
        if not total:
            raise ControllerError("not_found", f"{person.masked()} is not on the roster")
        changed = conn.execute(
            update(schema.roster).where(*where, r.blocked == (not blocked)).values(blocked=blocked)
        ).rowcount
        if not changed:
            code = "already_blocked" if blocked else "not_blocked"
            raise ControllerError(code, f"{person.masked()} is {code.replace('_', ' ')}")
        siteconfig.bump_roster_version(store, conn)
        action = "roster.block" if blocked else "roster.unblock"
        audit.record_by(conn, actor, now, action, person.masked(), f"{changed} roster entries")
    log.info("%s %s", "blocked" if blocked else "unblocked", person.masked())
    return PersonChange(person.masked(), changed)


def block(store: Store, person: PersonId, actor: Actor | None = None) -> PersonChange:
    """Refuse ``person`` at every gate (the site config's blocklist) until unblocked.
    Codes: ``not_found`` (not on the roster), ``already_blocked``."""
    return _set_blocked(store, person, True, actor)


def unblock(store: Store, person: PersonId, actor: Actor | None = None) -> PersonChange:
    """Undo ``block``. Codes: ``not_found``, ``not_blocked``."""
    return _set_blocked(store, person, False, actor)


def remove(
    store: Store, person: PersonId, company: str | None = None, actor: Actor | None = None
) -> PersonChange:
    """Take ``person`` off the roster (for one employer when ``company`` is given). Their
    check-ins and presences stay: they are evidence. Code: ``not_found``."""
    r = schema.roster.c
    where = list(_person_filter(person))
    if company:
        try:
            where.append(r.company_id == parse_company_id(company).digits)
        except InvalidIdentifier as exc:
            raise ControllerError("bad_identifier", str(exc)) from None
    now = store.clock.now()
    with store.transaction() as conn:
        removed = conn.execute(delete(schema.roster).where(*where)).rowcount
        if not removed:
            raise ControllerError("not_found", f"{person.masked()} is not on the roster")
        siteconfig.bump_roster_version(store, conn)
        audit.record_by(
            conn,
            actor,
            now,
            "roster.remove",
            person.masked(),
            f"{removed} roster entries" + (f", employer {company}" if company else ""),
        )
    log.info("removed %s from the roster (%d entries)", person.masked(), removed)
    return PersonChange(person.masked(), removed)


# --- history ----------------------------------------------------------------------------------

HISTORY_CHECKINS_MAX = 500


def history(
    store: Store, person: PersonId, reveal: bool = False, actor: Actor | None = None
) -> Row:
    """What the controller holds about one person: roster entries, check-ins (newest first,
    at most ``HISTORY_CHECKINS_MAX``) with gate and time, presences with state and receipt,
    and every receipt a later registration replaced. A national number the roster links to
    a Limosa id (or the reverse) counts as the same person. ``reveal`` shows numbers in full
    and, given an ``actor``, is audited."""
    from controller import views

    kind = "inss" if person.__class__.__name__ == "Inss" else "limosa"
    keys = {(kind, person.digits)}
    r, e, p = schema.roster.c, schema.events.c, schema.presences.c
    with store.transaction() as conn:
        entries = conn.execute(
            select(schema.roster).where(*_person_filter(person)).order_by(r.id)
        ).all()
        keys |= {("limosa", x.limosa_id) for x in entries if x.limosa_id}
        if kind == "limosa":
            linked = conn.execute(
                select(r.person_id).where(r.person_kind == "inss", r.limosa_id == person.digits)
            ).scalars()
            keys |= {("inss", digits) for digits in linked}
        who = or_(*[(e.person_kind == k) & (e.person_id == d) for k, d in keys])
        events = conn.execute(
            select(
                e.id,
                e.event_id,
                e.terminal_id,
                e.dated_at,
                e.direction,
                e.decision,
                e.reason,
                e.credential_kind,
                e.person_kind,
                e.person_id,
            )
            .where(who)
            .order_by(e.dated_at.desc(), e.id.desc())
            .limit(HISTORY_CHECKINS_MAX)
        ).all()
        whose = or_(*[(p.person_kind == k) & (p.person_id == d) for k, d in keys])
        presences = conn.execute(
            select(schema.presences).where(whose).order_by(p.date.desc(), p.id.desc())
        ).all()
        if reveal:
            audit.record_by(
                conn, actor, store.clock.now(), "reveal", person.masked(), "person history"
            )
    receipts = []
    for row in presences:
        for old in json.loads(row.previous_receipts or "[]"):
            receipts.append(
                {
                    "date": row.date.isoformat(),
                    "receipt": old,
                    "replaced_by": row.receipt_id or "",
                    "presence_id": row.id,
                }
            )
    return {
        "person": _show(kind, person.digits, reveal),
        "name": next((x.name for x in entries if x.name), ""),
        "roster": [
            {
                "id": x.id,
                "employer": str(CompanyId(x.company_id)) if x.company_id else "",
                "valid_from": x.valid_from.isoformat() if x.valid_from else "",
                "valid_to": x.valid_to.isoformat() if x.valid_to else "",
                "blocked": bool(x.blocked),
                "limosa_id": _show("limosa", x.limosa_id, reveal) if x.limosa_id else "",
                "source": x.source,
            }
            for x in entries
        ],
        "checkins": [
            {
                "id": ev.id,
                "at": views.local_time(ev.dated_at),
                "gate": ev.terminal_id,
                "channel": views.channel_of(ev.terminal_id),
                "direction": ev.direction,
                "decision": ev.decision,
                "reason": ev.reason,
                "credential": ev.credential_kind,
                "person": _show(ev.person_kind, ev.person_id, reveal),
            }
            for ev in events
        ],
        "presences": [
            {
                "id": row.id,
                "date": row.date.isoformat(),
                "employer": str(CompanyId(row.company_id)) if row.company_id else "",
                "state": row.state,
                "receipt": row.receipt_id or "",
                "validation": row.registry_status or "",
                "remarks": "; ".join(nsso_texts.explain(json.loads(row.remarks or "[]"))),
                "source": row.source,
            }
            for row in presences
        ],
        "receipts": receipts,
    }
