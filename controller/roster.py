"""The roster: who works on this site and for which employer, imported from CSV.

Columns (header row required, ``,`` or ``;`` separated): ``person`` (national number, BIS
number or Limosa id), ``employer`` (enterprise number; required for a national number),
``valid_from`` and ``valid_to`` (optional, ``YYYY-MM-DD``). Rows are taken one by one: a bad
row is reported with its line number and reason and the good rows are kept.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Connection, select

from controller import schema, siteconfig
from controller.checkins import employer_on
from controller.errors import RosterError
from controller.store import Store
from presence.clock import brussels_date
from presence.ids import InvalidIdentifier, parse_company_id, parse_inss, parse_limosa_id

log = logging.getLogger(__name__)

COLUMNS = ("person", "employer", "valid_from", "valid_to")
REQUIRED = ("person", "employer")
MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RosterRow:
    person_kind: str
    person_id: str
    company_id: str
    valid_from: date | None
    valid_to: date | None


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)
    employers_found: int = 0


class BadRow(ValueError):
    pass


def parse_row(values: dict[str, str]) -> RosterRow:
    person = (values.get("person") or "").strip()
    employer = (values.get("employer") or "").strip()
    if not person:
        raise BadRow("person is empty")
    digits = "".join(c for c in person if c not in " .-/")
    try:
        if len(digits) == 11:
            kind, person_id = "inss", parse_inss(person).digits
        else:
            kind, person_id = "limosa", parse_limosa_id(person).digits
        if not employer and kind == "inss":
            raise BadRow("employer is empty (required for a national number)")
        company = parse_company_id(employer).digits if employer else ""
    except InvalidIdentifier as exc:
        raise BadRow(str(exc)) from None
    valid_from = _date(values.get("valid_from"), "valid_from")
    valid_to = _date(values.get("valid_to"), "valid_to")
    if valid_from and valid_to and valid_to < valid_from:
        raise BadRow("valid_to is before valid_from")
    return RosterRow(kind, person_id, company, valid_from, valid_to)


def _date(text: str | None, what: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRow(f"{what} is not a date YYYY-MM-DD") from None


def read_rows(path: Path) -> tuple[list[tuple[int, RosterRow]], list[tuple[int, str]]]:
    """Good rows and bad rows (line number, reason) of a roster CSV file."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise RosterError("unreadable", f"{path}: larger than {MAX_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RosterError("unreadable", f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise RosterError("unreadable", f"{path}: not UTF-8 text") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first and "," not in first else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown or any(c not in header for c in REQUIRED):
        raise RosterError(
            "header",
            f"{path}: line 1: header must name columns {', '.join(COLUMNS)} "
            f"(person and employer required); found {', '.join(header) or 'nothing'}",
        )
    reader.fieldnames = header
    good: list[tuple[int, RosterRow]] = []
    bad: list[tuple[int, str]] = []
    try:
        for values in reader:
            line = reader.line_num
            if None in values:
                bad.append((line, "more fields than the header"))
                continue
            if not any((v or "").strip() for v in values.values()):
                continue
            try:
                good.append((line, parse_row(values)))
            except BadRow as exc:
                bad.append((line, str(exc)))
    except csv.Error as exc:
        bad.append((reader.line_num, f"unreadable CSV: {exc}"))
    return good, bad


def import_file(store: Store, path: Path) -> ImportReport:
    good, bad = read_rows(path)
    report = ImportReport(bad=bad)
    now = store.clock.now()
    with store.transaction() as conn:
        for _line, row in good:
            _upsert(store, conn, row, str(path.name)[:200], now)
            report.imported += 1
        if good:
            report.employers_found = _fill_employers(conn, brussels_date(now), now)
            siteconfig.bump_roster_version(store, conn)
    log.info(
        "roster import of %s: %d rows kept, %d bad, %d presences got their employer",
        path.name,
        report.imported,
        len(report.bad),
        report.employers_found,
    )
    return report


def _upsert(store: Store, conn: Connection, row: RosterRow, source: str, now: datetime) -> None:
    r = schema.roster.c
    key = (
        r.person_kind == row.person_kind,
        r.person_id == row.person_id,
        r.company_id == row.company_id,
    )
    values = {
        "valid_from": row.valid_from,
        "valid_to": row.valid_to,
        "source": source,
        "imported_at": now,
    }
    if not conn.execute(schema.roster.update().where(*key).values(**values)).rowcount:
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
