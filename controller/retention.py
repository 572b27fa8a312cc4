"""How long people's data is kept: the retention purge.

A presence is proof that someone was registered (DOMAIN.md section 1): it must outlive the
period in which an inspection can still ask for it, and no longer (data minimisation). Past
``[retention] days`` the purge takes the personal data out and keeps the proof's skeleton:

- check-ins: the national number or Limosa id and the payload go (the payload names the
  person); date, terminal, decision and a masked number (``person_masked``) stay;
- presences: the number goes (a placeholder keeps the row unique), its masked form stays,
  with the date, employer, state, receipt and every NSSO answer;
- roster rows whose validity ended before the cutoff are deleted (name, number, employer);
- the quarantine keeps no payload, only its length and SHA-256;
- links between a national number and a Limosa id recorded before the cutoff are deleted.

Counts stay right, since no check-in or presence row is deleted. The purge works in small
transactions (SQLite holds one write lock) and is idempotent: purged rows are not matched
again. ``sitegate-controller purge`` runs it by hand; the running controller once a day.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Table, func, select

from controller import schema
from controller.store import Store
from presence.clock import BRUSSELS, brussels_date

log = logging.getLogger(__name__)

CHUNK = 500  # rows per transaction
PURGE_EVERY_S = 24 * 3600.0


@dataclass(slots=True)
class PurgeReport:
    cutoff: date  # data of days before this one is purged
    checkins: int = 0
    presences: int = 0
    roster: int = 0
    quarantine: int = 0
    links: int = 0
    dry_run: bool = False

    @property
    def total(self) -> int:
        return self.checkins + self.presences + self.roster + self.quarantine + self.links


def cutoff_for(today: date, days: int) -> date:
    """The first day still kept whole: ``days`` full days before ``today``."""
    return today - timedelta(days=days)


def masked(kind: str, digits: str) -> str:
    """The masked form the listings show (``85.07.30-***.**``, ``249************34``)."""
    if kind == "inss":
        return f"{digits[0:2]}.{digits[2:4]}.{digits[4:6]}-***.**"
    return digits[:3] + "*" * max(len(digits) - 5, 0) + digits[-2:]


def purge(store: Store, days: int, *, dry_run: bool = False) -> PurgeReport:
    """Take the personal data out of everything older than ``days`` days (Brussels dates)."""
    cutoff = cutoff_for(brussels_date(store.clock.now()), days)
    start = datetime.combine(cutoff, time(0), BRUSSELS)
    report = PurgeReport(cutoff, dry_run=dry_run)
    e, p, r, q = schema.events.c, schema.presences.c, schema.roster.c, schema.quarantine.c
    report.checkins = _chunks(
        store, schema.events, (e.dated_at < start) & e.person_masked.is_(None),
        (e.id, e.person_kind, e.person_id), _purge_events, dry_run,
    )  # fmt: skip
    report.presences = _chunks(
        store, schema.presences, (p.date < cutoff) & p.person_masked.is_(None),
        (p.id, p.person_kind, p.person_id), _purge_presences, dry_run,
    )  # fmt: skip
    report.roster = _chunks(
        store, schema.roster, r.valid_to < cutoff, (r.id,), _delete(schema.roster), dry_run
    )
    pl = schema.person_links.c
    report.links = _chunks(
        store, schema.person_links, pl.recorded_at < start, (pl.id,),
        _delete(schema.person_links), dry_run,
    )  # fmt: skip
    report.quarantine = _chunks(
        store, schema.quarantine, (q.received_at < start) & (func.length(q.payload) > 0),
        (q.id, q.payload, q.payload_length, q.payload_sha256), _purge_quarantine, dry_run,
    )  # fmt: skip
    if report.total:
        log.info(
            "retention (%d days, before %s)%s: %d check-ins, %d presences, %d roster rows, "
            "%d quarantined messages, %d identity links",
            days, cutoff, " dry run" if dry_run else "", report.checkins, report.presences,
            report.roster, report.quarantine, report.links,
        )  # fmt: skip
    return report


def _chunks(
    store: Store,
    table: Table,
    condition: Any,
    columns: tuple[Any, ...],
    apply: Any,
    dry_run: bool,
) -> int:
    """Apply ``apply(conn, rows)`` to the rows matching ``condition``, ``CHUNK`` at a time."""
    if dry_run:
        with store.transaction() as conn:
            return int(conn.execute(select(func.count()).select_from(table).where(condition))
                       .scalar_one())  # fmt: skip
    done = 0
    while True:
        with store.transaction() as conn:
            rows = conn.execute(
                select(*columns).where(condition).order_by(columns[0]).limit(CHUNK)
            ).all()
            if rows:
                apply(conn, rows)
        done += len(rows)
        if len(rows) < CHUNK:
            return done


def _purge_events(conn: Connection, rows: list[Any]) -> None:
    e = schema.events.c
    for row in rows:
        conn.execute(
            schema.events.update()
            .where(e.id == row.id)
            .values(person_masked=masked(row.person_kind, row.person_id), person_id="", payload=b"")
        )


def _purge_presences(conn: Connection, rows: list[Any]) -> None:
    p = schema.presences.c
    for row in rows:
        conn.execute(
            schema.presences.update()
            .where(p.id == row.id)
            # uq_presence wants a person id unique per day: the row's own id keeps it so
            .values(person_masked=masked(row.person_kind, row.person_id), person_id=f"#{row.id}")
        )


def _purge_quarantine(conn: Connection, rows: list[Any]) -> None:
    q = schema.quarantine.c
    for row in rows:
        payload = bytes(row.payload)
        length = row.payload_length if row.payload_length is not None else len(payload)
        conn.execute(
            schema.quarantine.update()
            .where(q.id == row.id)
            .values(
                payload=b"",
                payload_length=length,
                payload_sha256=row.payload_sha256 or hashlib.sha256(payload).hexdigest(),
            )
        )


def _delete(table: Table) -> Any:
    def apply(conn: Connection, rows: list[Any]) -> None:
        conn.execute(table.delete().where(table.c.id.in_([row.id for row in rows])))

    return apply
