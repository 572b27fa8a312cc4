"""Refusals the terminals summarised instead of sending one by one (``terminal.refusal_log``):
stored per terminal, boot, monotonic minute and reason, and listed for the site manager.

A summary may arrive twice (a lost ack) and an hour count may later stand for minutes never
sent, so a count *replaces* the row of its key; totals are sums over the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, select

from controller import heartbeats, schema
from controller.checkins import ClockRef
from controller.store import Store
from presence.clock import BRUSSELS, brussels_date
from presence.messages import RefusalCount, RefusalSummary

COLUMNS = ("minute", "terminal", "reason", "count", "clock")


def store_summary(
    conn: Connection, terminal: str, summary: RefusalSummary, received_at: datetime
) -> None:
    """Store (or replace) every count of ``summary``, dated by the terminal's clock of the
    same boot when a live heartbeat (or, failing one, NTP: ``heartbeats``) pinned it, else
    by the terminal's wall clock."""
    boots = _refs(conn, terminal, {c.boot_id for c in summary.counts})
    r = schema.refusal_counts.c
    for count in summary.counts:
        key = (
            (r.terminal_id == terminal) & (r.boot_id == count.boot_id)
            & (r.minute == count.minute) & (r.span == count.span) & (r.reason == count.reason)
        )  # fmt: skip
        ref, pinned_by = boots.get(count.boot_id, (None, ""))
        values = dict(
            count=count.count,
            terminal_at=count.at,
            clock_synced=count.clock_synced,
            dated_at=count.at if ref is None else ref.moment(count.minute * 60.0),
            dated_by=pinned_by or _dated_by(count),
            received_at=received_at,
        )
        if not conn.execute(schema.refusal_counts.update().where(key).values(**values)).rowcount:
            conn.execute(
                schema.refusal_counts.insert().values(
                    terminal_id=terminal, boot_id=count.boot_id, minute=count.minute,
                    span=count.span, reason=count.reason, **values,
                )
            )  # fmt: skip


def _dated_by(count: RefusalCount) -> str:
    return "terminal" if count.clock_synced else "terminal_unsynced"


def _refs(conn: Connection, terminal: str, boot_ids: set[str]) -> dict[str, tuple[ClockRef, str]]:
    """Each boot's pin and what made it: a live heartbeat, else its NTP clock pin."""
    found = {
        boot: (ClockRef(pin.mono_s, pin.at), "ntp_pin")
        for boot, pin in heartbeats.pins_of(conn, {terminal}).get(terminal, {}).items()
        if boot in boot_ids
    }
    c = schema.terminal_clocks.c
    rows = conn.execute(
        select(c.boot_id, c.mono_s, c.seen_at).where(
            c.terminal_id == terminal, c.boot_id.in_(boot_ids)
        )
    )
    found.update({row.boot_id: (ClockRef(row.mono_s, row.seen_at), "heartbeat") for row in rows})
    return found


def listing(store: Store, day: date) -> list[dict[str, object]]:
    """The summarised refusals of ``day`` (Brussels): per minute (or hour), terminal and
    reason, oldest first; ``clock`` says what dated the minute (``heartbeat``: the terminal's
    monotonic clock pinned by a live heartbeat; ``ntp_pin``: by the moment NTP set its clock
    right in that boot; ``terminal``: its synchronised clock;
    ``terminal_unsynced``: its clock as it was)."""
    return [
        {
            "minute": f"{c.local:%H:%M %Z}" + ("" if c.span == 1 else " +1h"),
            "terminal": c.terminal,
            "reason": c.reason,
            "count": c.count,
            "clock": c.dated_by,
        }
        for c in counted(store, day)
    ]


@dataclass(frozen=True, slots=True)
class Counted:
    """Refusals of one reason a terminal counted in one minute (``span`` 1) or hour (60)."""

    local: datetime  # Brussels time
    span: int
    terminal: str
    reason: str
    count: int
    dated_by: str


def counted(store: Store, day: date) -> list[Counted]:
    """The summarised refusals of ``day`` (Brussels), oldest first, summed per minute (or
    hour), terminal, reason and what dated them."""
    start = datetime.combine(day, datetime.min.time(), BRUSSELS)
    r = schema.refusal_counts.c
    query = (
        select(r.dated_at, r.span, r.terminal_id, r.reason, r.count, r.dated_by)
        .where(r.dated_at >= start - timedelta(hours=2), r.dated_at < start + timedelta(hours=26))
        .order_by(r.dated_at, r.terminal_id, r.reason)
    )
    totals: dict[tuple[datetime, int, str, str, str], int] = {}
    with store.reading() as conn:
        for dated, span, terminal, reason, count, dated_by in conn.execute(query):
            if brussels_date(dated) != day:
                continue
            local = dated.astimezone(BRUSSELS).replace(second=0, microsecond=0)
            key = (local, span, terminal, reason, dated_by)
            totals[key] = totals.get(key, 0) + int(count)
    return [
        Counted(local, span, terminal, reason, n, dated_by)
        for (local, span, terminal, reason, dated_by), n in totals.items()
    ]
