"""The terminal's outbox: every decision is committed here before the gate moves.

SQLite in WAL mode with ``synchronous=FULL``: each commit is fsynced to the WAL before
``append`` returns, so an admission survives a power cut the instant after the relay clicks
(``NORMAL`` would be faster but may lose the last commits on power loss). One connection,
one lock: the flow appends, the MQTT link reads and deletes.

A row leaves only when the controller's end-to-end ack for its ``event_id`` arrives (never
on PUBACK). The outbox is bounded:

* at ``ALARM_SHARE`` (80 %) of ``capacity`` the status raises the alarm, and from then on new
  *refused* events go to the refusal log instead (``terminal.refusal_log``: bounded, and
  summarised rather than dropped; counted in ``refused_shed``): a refusal opens nothing, so
  room in the outbox is kept for admissions;
* admitted events are stored until the outbox is completely full; then ``append`` raises
  ``OutboxFull`` and the flow refuses the person (``outbox_full``) instead of opening: an
  admission without its record never happens, so none is ever dropped.

The per-terminal ``seq`` counter, the last site config, the refusal log and the clock pins
of the last boots (``terminal.timesync``: where NTP set the clock right, sent with every
heartbeat) live in the same database.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from presence.clock import Clock, SystemClock
from presence.events import CheckIn, encode
from presence.messages import MAX_CLOCK_PINS, ClockPin, RefusalCount
from terminal import refusal_log
from terminal.errors import TerminalError
from terminal.refusal_log import CountKey, Refusal

log = logging.getLogger(__name__)

OUTBOX_CAPACITY = 50_000
ALARM_SHARE = 0.8

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    admitted INTEGER NOT NULL,
    created_at REAL NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS clock_pins (
    boot_id TEXT PRIMARY KEY,
    mono_s REAL NOT NULL,
    at TEXT NOT NULL
);
"""


class OutboxError(TerminalError):
    """The outbox cannot take an event. Codes: ``outbox_full``, ``storage``, ``closed``."""


class OutboxFull(OutboxError):
    def __init__(self, capacity: int) -> None:
        super().__init__("outbox_full", f"outbox full ({capacity} unacknowledged events)")


@dataclass(frozen=True, slots=True)
class Pending:
    seq: int
    event_id: uuid.UUID
    payload: bytes


class Outbox:
    def __init__(
        self, path: str | Path, capacity: int = OUTBOX_CAPACITY, clock: Clock | None = None
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.path = Path(path)
        self.capacity = capacity
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db: sqlite3.Connection | None = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # see the module docstring
            self._db.executescript(_SCHEMA + refusal_log.SCHEMA)
            row = self._db.execute("SELECT count(*) FROM outbox").fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError("storage", f"cannot open outbox {self.path}: {exc}") from None
        self._depth = int(row[0])
        self._next_seq = self._meta_int("next_seq") or 1
        self.refused_shed = self._meta_int("refused_shed")

    # --- writing (the flow) --------------------------------------------------------------

    def append(self, make: Callable[[int], CheckIn]) -> CheckIn | None:
        """Build the event with the next ``seq`` and commit it; returns it, or None when a
        refused event was shed. Raises ``OutboxFull`` or ``OutboxError``."""
        with self._lock:
            db = self._open()
            seq = self._next_seq
            event = make(seq)
            admitted = event.decision == "admitted"
            if not admitted and self._depth >= self.alarm_threshold:
                self._log_instead(event)
                return None
            if self._depth >= self.capacity:
                raise OutboxFull(self.capacity)
            payload = encode(event)
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "INSERT INTO outbox (seq, event_id, admitted, created_at, payload)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (seq, str(event.event_id), int(admitted), event.scanned_at.timestamp(),
                     payload),
                )  # fmt: skip
                db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)", (seq + 1,)
                )
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(db)
                raise OutboxError("storage", f"cannot store event: {exc}") from None
            self._depth += 1
            self._next_seq = seq + 1
            return event

    def _log_instead(self, event: CheckIn) -> None:
        """A refused event above the alarm: into the refusal log, not the outbox."""
        self._log_refusal(
            Refusal.of_event(event, self._clock.boot_id(), self._clock.monotonic()),
            shed=True,
        )
        log.warning(
            "outbox %d/%d above alarm: refused event %s (%s) kept in the refusal log only,"
            " %d so far", self._depth, self.capacity, event.event_id, event.reason,
            self.refused_shed,
        )  # fmt: skip

    # --- the refusal log (terminal.refusal_log) ------------------------------------------

    def log_refusal(self, refusal: Refusal) -> None:
        """Write a refusal the outbox does not carry; raises ``OutboxError``."""
        with self._lock:
            self._log_refusal(refusal, shed=False)

    def _log_refusal(self, refusal: Refusal, *, shed: bool) -> None:
        db = self._open()
        try:
            db.execute("BEGIN IMMEDIATE")
            if refusal_log.rows(db) >= refusal_log.CAPACITY:
                folded = refusal_log.summarise(
                    db, self._clock.boot_id(), self._clock.monotonic(), all_rows=True
                )
                log.warning("refusal log full: %d refusals summarised early", folded)
            refusal_log.insert(db, refusal)
            if shed:
                db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('refused_shed', ?)",
                    (self.refused_shed + 1,),
                )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(db)
            raise OutboxError("storage", f"cannot log the refusal: {exc}") from None
        if shed:
            self.refused_shed += 1

    @property
    def refusals_logged(self) -> int:
        """Rows in the refusal log not yet summarised."""
        with self._lock:
            rows = self._query("SELECT count(*) FROM refusals", ())
        return int(rows[0][0])

    def refusal_counts_to_send(self, skip: set[CountKey] | None = None) -> list[RefusalCount]:
        """Summarise what is old enough, then the final counts not yet acknowledged (those
        in ``skip`` are on their way); each is marked as sent at least once."""
        with self._lock:
            db = self._open()
            boot, mono = self._clock.boot_id(), self._clock.monotonic()
            try:
                db.execute("BEGIN IMMEDIATE")
                refusal_log.summarise(db, boot, mono, all_rows=False)
                counts = refusal_log.to_send(db, boot, mono, skip or set())
                refusal_log.mark_sent(db, [refusal_log.key(c) for c in counts])
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(db)
                raise OutboxError("storage", f"cannot summarise refusals: {exc}") from None
        return counts

    def ack_refusal_counts(self, keys: list[CountKey]) -> None:
        """The controller stored these counts: they leave the terminal."""
        with self._lock:
            try:
                refusal_log.drop(self._open(), keys)
            except sqlite3.Error as exc:
                raise OutboxError("storage", f"cannot drop acked refusal counts: {exc}") from None

    # --- reading and acknowledging (the link) --------------------------------------------

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[Pending]:
        """Unacknowledged events in ``seq`` order, those after ``after_seq`` first."""
        with self._lock:
            rows = self._query(
                "SELECT seq, event_id, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
        return [Pending(int(s), uuid.UUID(e), bytes(p)) for s, e, p in rows]

    def ack(self, event_id: uuid.UUID) -> bool:
        """Remove the event the controller acknowledged; False when it was not here."""
        with self._lock:
            db = self._open()
            try:
                cursor = db.execute("DELETE FROM outbox WHERE event_id = ?", (str(event_id),))
            except sqlite3.Error as exc:
                raise OutboxError("storage", f"cannot remove acked event: {exc}") from None
            removed = cursor.rowcount > 0
            if removed:
                self._depth -= 1
            return removed

    # --- state for the status ------------------------------------------------------------

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def alarm_threshold(self) -> int:
        return max(1, int(self.capacity * ALARM_SHARE))

    @property
    def alarm(self) -> bool:
        return self._depth >= self.alarm_threshold

    @property
    def full(self) -> bool:
        return self._depth >= self.capacity

    def oldest_age_s(self, now: datetime | None = None) -> float | None:
        with self._lock:
            rows = self._query("SELECT min(created_at) FROM outbox", ())
        oldest = rows[0][0] if rows else None
        if oldest is None:
            return None
        moment = now or self._clock.now()
        return max(0.0, moment.timestamp() - float(oldest))

    # --- the last site config ------------------------------------------------------------

    def save_site_config(self, payload: bytes) -> None:
        with self._lock:
            self._set_meta("site_config", payload)

    def load_site_config(self) -> bytes | None:
        with self._lock:
            rows = self._query("SELECT value FROM meta WHERE key = 'site_config'", ())
        return bytes(rows[0][0]) if rows else None

    # --- clock pins (terminal.timesync) --------------------------------------------------

    def save_clock_pin(self, pin: ClockPin) -> None:
        """Keep ``pin`` (the newest of its boot), and only the ``MAX_CLOCK_PINS`` newest."""
        with self._lock:
            db = self._open()
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "INSERT OR REPLACE INTO clock_pins (boot_id, mono_s, at) VALUES (?, ?, ?)",
                    (pin.boot_id, pin.mono_s, pin.at.isoformat()),
                )
                db.execute(
                    "DELETE FROM clock_pins WHERE rowid NOT IN"
                    " (SELECT rowid FROM clock_pins ORDER BY rowid DESC LIMIT ?)",
                    (MAX_CLOCK_PINS,),
                )
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(db)
                raise OutboxError("storage", f"cannot keep the clock pin: {exc}") from None

    def clock_pins(self) -> list[ClockPin]:
        """The kept pins, newest first."""
        with self._lock:
            rows = self._query(
                "SELECT boot_id, mono_s, at FROM clock_pins ORDER BY rowid DESC LIMIT ?",
                (MAX_CLOCK_PINS,),
            )
        return [ClockPin(b, float(m), datetime.fromisoformat(a)) for b, m, a in rows]

    # --- plumbing ------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._db is None:
                return
            try:
                self._db.close()
            except sqlite3.Error as exc:
                log.warning("closing the outbox: %s", exc)
            self._db = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxError("closed", "the outbox is closed")
        return self._db

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._open().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise OutboxError("storage", f"cannot read the outbox: {exc}") from None

    def _meta_int(self, key: str) -> int:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return int(rows[0][0]) if rows else 0

    def _set_meta(self, key: str, value: object) -> None:
        try:
            self._open().execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
            )
        except sqlite3.Error as exc:
            raise OutboxError("storage", f"cannot write outbox metadata: {exc}") from None

    @staticmethod
    def _rollback(db: sqlite3.Connection) -> None:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            log.debug("rollback after a failed insert found no transaction")
