"""The stand-in's state in SQLite: registrations and their validation history.

One connection shared by the server's threads behind a lock (one writer). WAL journal with
synchronous=NORMAL: a crash may lose the last commits but never corrupts the file, which is
as much as a test stand-in needs; a clean restart loses nothing.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

RECEIPT_MIN = 10**14  # receipts are 15 digits (PresenceRegistrationIdType totalDigits 15)
RECEIPT_SPAN = 9 * 10**14

SCHEMA = """
CREATE TABLE IF NOT EXISTS registrations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    receipt_id TEXT NOT NULL UNIQUE,
    workplace_id TEXT NOT NULL,
    inss TEXT,
    company_id INTEGER,
    limosa_id TEXT,
    registration_date TEXT NOT NULL,
    client_reference TEXT,
    sector INTEGER,
    created_ts REAL NOT NULL,
    status TEXT NOT NULL,
    history TEXT NOT NULL,
    cancel_reason TEXT
);
CREATE INDEX IF NOT EXISTS registrations_pending ON registrations (status, created_ts);
CREATE INDEX IF NOT EXISTS registrations_day ON registrations (registration_date, workplace_id);
"""


@dataclass(frozen=True, slots=True)
class Step:
    status: str
    validated_ts: float | None
    remarks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    receipt_id: str
    workplace_id: str
    inss: str | None
    company_id: int | None
    limosa_id: str | None
    registration_date: date
    client_reference: str | None
    sector: int | None
    created_ts: float
    status: str
    history: tuple[Step, ...]
    cancel_reason: str | None

    @property
    def person(self) -> tuple[str | None, str | None]:
        return (self.inss, self.limosa_id)

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created_ts, UTC)


@dataclass(frozen=True, slots=True)
class NewRegistration:
    workplace_id: str
    inss: str | None
    company_id: int | None
    limosa_id: str | None
    registration_date: date
    client_reference: str | None
    sector: int | None


class Store:
    def __init__(self, path: str | Path) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work; the lock also serialises the server's threads."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def insert(self, new: NewRegistration, status: str, now_ts: float) -> Row:
        history = json.dumps([[status, None, []]])
        for _ in range(100):
            receipt = str(RECEIPT_MIN + secrets.randbelow(RECEIPT_SPAN))
            try:
                cursor = self._db.execute(
                    "INSERT INTO registrations (receipt_id, workplace_id, inss, company_id,"
                    " limosa_id, registration_date, client_reference, sector, created_ts,"
                    " status, history) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        receipt,
                        new.workplace_id,
                        new.inss,
                        new.company_id,
                        new.limosa_id,
                        new.registration_date.isoformat(),
                        new.client_reference,
                        new.sector,
                        now_ts,
                        status,
                        history,
                    ),
                )
            except sqlite3.IntegrityError:
                continue
            seq = int(cursor.lastrowid or 0)
            return Row(
                seq,
                receipt,
                new.workplace_id,
                new.inss,
                new.company_id,
                new.limosa_id,
                new.registration_date,
                new.client_reference,
                new.sector,
                now_ts,
                status,
                (Step(status, None, ()),),
                None,
            )
        raise RuntimeError("no free receipt number after 100 draws")

    def get(self, receipt_id: str) -> Row | None:
        rows = self._select("WHERE receipt_id = ?", (receipt_id,))
        return rows[0] if rows else None

    def pending(self, status: str, created_before_ts: float) -> list[Row]:
        return self._select(
            "WHERE status = ? AND created_ts <= ? ORDER BY seq", (status, created_before_ts)
        )

    def same_declaration_before(self, row: Row, cancelled: str) -> bool:
        """An earlier, not cancelled registration of the same person, workplace and day."""
        found = self._db.execute(
            "SELECT 1 FROM registrations WHERE registration_date = ? AND workplace_id = ?"
            " AND inss IS ? AND limosa_id IS ? AND seq < ? AND status != ? LIMIT 1",
            (
                row.registration_date.isoformat(),
                row.workplace_id,
                row.inss,
                row.limosa_id,
                row.seq,
                cancelled,
            ),
        ).fetchone()
        return found is not None

    def update(self, row: Row, step: Step, cancel_reason: str | None = None) -> Row:
        history = (*row.history, step)
        self._db.execute(
            "UPDATE registrations SET status = ?, history = ?, cancel_reason = ? WHERE seq = ?",
            (step.status, _dump(history), cancel_reason or row.cancel_reason, row.seq),
        )
        return replace(
            row,
            status=step.status,
            history=history,
            cancel_reason=cancel_reason or row.cancel_reason,
        )

    def search(
        self,
        periods: Sequence[tuple[date, date]],
        inss: str | None = None,
        company_id: int | None = None,
        workplace_id: str | None = None,
        statuses: Sequence[str] = (),
    ) -> list[Row]:
        clauses = ["(" + " OR ".join("registration_date BETWEEN ? AND ?" for _ in periods) + ")"]
        args: list[object] = [d.isoformat() for period in periods for d in period]
        for column, value in (
            ("inss", inss),
            ("company_id", company_id),
            ("workplace_id", workplace_id),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if statuses:
            clauses.append(f"status IN ({','.join('?' for _ in statuses)})")
            args.extend(statuses)
        return self._select("WHERE " + " AND ".join(clauses) + " ORDER BY receipt_id", args)

    def all(self) -> list[Row]:
        with self._lock:
            return self._select("ORDER BY seq", ())

    def clear(self) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM registrations")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _select(self, where: str, args: Sequence[object]) -> list[Row]:
        cursor = self._db.execute(
            "SELECT seq, receipt_id, workplace_id, inss, company_id, limosa_id,"
            " registration_date, client_reference, sector, created_ts, status, history,"
            " cancel_reason FROM registrations " + where,
            tuple(args),
        )
        return [_row(r) for r in cursor.fetchall()]


def _row(r: tuple[object, ...]) -> Row:
    (
        seq,
        receipt,
        workplace,
        inss,
        company,
        limosa,
        day,
        ref,
        sector,
        created,
        status,
        history,
        reason,
    ) = r
    steps = tuple(Step(s, ts, tuple(rm)) for s, ts, rm in json.loads(str(history)))
    return Row(
        int(str(seq)),
        str(receipt),
        str(workplace),
        None if inss is None else str(inss),
        None if company is None else int(str(company)),
        None if limosa is None else str(limosa),
        date.fromisoformat(str(day)),
        None if ref is None else str(ref),
        None if sector is None else int(str(sector)),
        float(str(created)),
        str(status),
        steps,
        None if reason is None else str(reason),
    )


def _dump(history: Sequence[Step]) -> str:
    return json.dumps([[s.status, s.validated_ts, list(s.remarks)] for s in history])
