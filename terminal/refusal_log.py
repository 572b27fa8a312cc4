"""The refusal log: every refusal the outbox does not carry, kept in the outbox database.

A refusal goes into the outbox (and so to the controller, one event each) when it names a
person and the outbox is below its alarm. Every other refusal is written here instead of
being dropped: unreadable credentials, cool-down repeats (``already_inside``), admissions
refused because the outbox was full, and refusals that arrived above the alarm. Each
decision is written exactly once, to one of the two places, so nothing is counted twice.

The log is bounded (``CAPACITY`` rows). Rows are *summarised*, never dropped: once older than
``SUMMARISE_AFTER_S``, or when the log is full, they become counts per reason and minute
(``refusal_counts``), which the link publishes on the status topic until the controller
acknowledges them. A count is keyed by the terminal's boot and *monotonic* minute, which
never repeat (a wall clock can be set back, a monotonic clock cannot), and it is published
only when final (no row of its minute is left in the log), so a summary sent twice replaces
itself at the controller instead of counting twice. Counts never sent that pile up while the
controller is unreachable are coarsened to one per hour beyond ``COUNTS_CAPACITY``.

Functions here run on the outbox's connection, under its lock, inside its transactions.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from presence.events import CheckIn
from presence.messages import MAX_REFUSAL_COUNTS, RefusalCount

CAPACITY = 10_000
SUMMARISE_AFTER_S = 300.0
COUNTS_CAPACITY = 50_000
HOUR = 60  # minutes in a coarsened count

SCHEMA = """
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    clock_synced INTEGER NOT NULL,
    boot_id TEXT NOT NULL,
    mono_s REAL NOT NULL,
    reason TEXT NOT NULL,
    direction TEXT NOT NULL,
    credential TEXT,
    person TEXT
);
CREATE TABLE IF NOT EXISTS refusal_counts (
    boot_id TEXT NOT NULL,
    minute INTEGER NOT NULL,
    span INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL,
    clock_synced INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (boot_id, minute, span, reason)
);
"""

CountKey = tuple[str, int, int, str]  # boot id, minute, span, reason


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused decision as the log keeps it: no national number, only its masked form."""

    at: datetime
    clock_synced: bool
    boot_id: str
    mono_s: float
    reason: str
    direction: str
    credential: str | None = None  # the credential kind; None when it named nobody
    person: str | None = None  # masked (``85.07.30-***.**``)

    @classmethod
    def of_event(cls, event: CheckIn, boot_id: str, mono_s: float) -> Refusal:
        return cls(
            at=event.scanned_at,
            clock_synced=event.clock_synced,
            boot_id=event.boot_id or boot_id,
            mono_s=event.mono_s if event.mono_s is not None else mono_s,
            reason=event.reason,
            direction=event.direction,
            credential=event.credential.kind,
            person=event.credential.person.masked(),
        )


def insert(db: sqlite3.Connection, refusal: Refusal) -> None:
    db.execute(
        "INSERT INTO refusals (at, clock_synced, boot_id, mono_s, reason, direction,"
        " credential, person) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (refusal.at.timestamp(), int(refusal.clock_synced), refusal.boot_id, refusal.mono_s,
         refusal.reason, refusal.direction, refusal.credential, refusal.person),
    )  # fmt: skip


def rows(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM refusals").fetchone()[0])


def cutoff_minute(mono_s: float) -> int:
    """Minutes of the current boot before this one are old enough to summarise."""
    return int((mono_s - SUMMARISE_AFTER_S) // 60)


def summarise(db: sqlite3.Connection, boot_id: str, mono_s: float, *, all_rows: bool) -> int:
    """Fold rows into counts: those of other boots and of whole minutes before the cutoff;
    with ``all_rows`` (the log is full) every row. Returns how many rows were folded."""
    if all_rows:
        where, args = "1", ()
    else:
        where = "boot_id != ? OR CAST(mono_s / 60 AS INTEGER) < ?"
        args = (boot_id, cutoff_minute(mono_s))  # type: ignore[assignment]
    groups = db.execute(
        "SELECT boot_id, CAST(mono_s / 60 AS INTEGER) AS minute, reason, min(at),"
        f" min(clock_synced), count(*) FROM refusals WHERE {where}"
        " GROUP BY boot_id, minute, reason",
        args,
    ).fetchall()
    for boot, minute, reason, at, synced, count in groups:
        # A count of the current minute (only when the log is full) is not sent before the
        # minute is over, so the rows it still gets are added to it, never to a sent one.
        db.execute(
            "INSERT INTO refusal_counts (boot_id, minute, span, reason, at, clock_synced, count)"
            " VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT (boot_id, minute, span, reason) DO UPDATE"
            " SET count = count + excluded.count, at = min(at, excluded.at),"
            " clock_synced = min(clock_synced, excluded.clock_synced)",
            (boot, minute, reason, at, synced, count),
        )
    folded = db.execute(f"DELETE FROM refusals WHERE {where}", args).rowcount
    if db.execute("SELECT count(*) FROM refusal_counts").fetchone()[0] > COUNTS_CAPACITY:
        coarsen(db, boot_id, mono_s)
    return int(folded)


def coarsen(db: sqlite3.Connection, boot_id: str, mono_s: float) -> None:
    """Merge minute counts never sent into one count per hour, for whole hours whose every
    minute is summarised. A count never sent is not at the controller, and each minute
    joins at most one hour, so the hour count adds to what the controller holds, exactly."""
    last_hour = cutoff_minute(mono_s) // HOUR  # hours before it are whole (current boot)
    condition = "span = 1 AND sent = 0 AND (boot_id != ? OR minute / ? < ?)"
    args = (boot_id, HOUR, last_hour)
    groups = db.execute(
        "SELECT boot_id, (minute / ?) * ? AS hour, reason, min(at), min(clock_synced),"
        f" sum(count) FROM refusal_counts WHERE {condition} GROUP BY boot_id, hour, reason",
        (HOUR, HOUR, *args),
    ).fetchall()
    db.execute(f"DELETE FROM refusal_counts WHERE {condition}", args)
    for boot, hour, reason, at, synced, count in groups:
        db.execute(
            "INSERT INTO refusal_counts (boot_id, minute, span, reason, at, clock_synced, count)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (boot_id, minute, span, reason) DO UPDATE"
            " SET count = count + excluded.count",
            (boot, hour, HOUR, reason, at, synced, count),
        )


def to_send(
    db: sqlite3.Connection, boot_id: str, mono_s: float, skip: set[CountKey]
) -> list[RefusalCount]:
    """Final counts not yet acknowledged, oldest first, at most one message's worth."""
    found = db.execute(
        "SELECT boot_id, minute, span, reason, at, clock_synced, count FROM refusal_counts"
        " WHERE boot_id != ? OR minute + span <= ? ORDER BY at, boot_id, minute LIMIT ?",
        (boot_id, cutoff_minute(mono_s), MAX_REFUSAL_COUNTS + len(skip)),
    ).fetchall()
    counts = [
        RefusalCount(boot, int(minute), int(span), reason,
                     datetime.fromtimestamp(float(at), UTC), bool(synced), int(count))
        for boot, minute, span, reason, at, synced, count in found
        if (boot, int(minute), int(span), reason) not in skip
    ]  # fmt: skip
    return counts[:MAX_REFUSAL_COUNTS]


def key(count: RefusalCount) -> CountKey:
    return (count.boot_id, count.minute, count.span, count.reason)


def mark_sent(db: sqlite3.Connection, keys: list[CountKey]) -> None:
    db.executemany(
        "UPDATE refusal_counts SET sent = 1"
        " WHERE boot_id = ? AND minute = ? AND span = ? AND reason = ?",
        keys,
    )


def drop(db: sqlite3.Connection, keys: list[CountKey]) -> None:
    db.executemany(
        "DELETE FROM refusal_counts WHERE boot_id = ? AND minute = ? AND span = ? AND reason = ?",
        keys,
    )
