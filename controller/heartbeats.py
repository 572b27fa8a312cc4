"""Terminal statuses: what each says is recorded, and a *live* heartbeat pins the terminal's
clocks to ours (``controller.checkins.date_checkin`` dates check-ins by them).

A heartbeat is live only if it reached us the moment it was sent; one that waited anywhere
would pin the clock off by its wait, and a check-in near midnight would change day. So it
must not be:

* retained (the broker's copy may be hours old);
* part of a reconnect backlog: what the broker held for our persistent session while we were
  away arrives right after we connect (``Incoming.backlog``);
* kept in the broker: a terminal publishes heartbeats with a message expiry and says which
  (``expiry_s``); the broker passes on what is left of it, and a heartbeat that lost more
  than ``WAIT_MAX_S`` of it waited;
* older than the last one used: the same boot's monotonic reading (or, from a terminal too
  old to send one, its wall clock) must have moved on.

A live heartbeat with a boot id updates ``terminal_clocks`` (that boot's monotonic reading
and our time); any live heartbeat updates the wall-clock offset in ``terminals``.

A heartbeat also carries *clock pins* (``presence.messages.ClockPin``): where NTP set the
terminal's clock right in each of its last boots. A pin does not depend on when it arrives
(it is the terminal's own pair of readings), so any status may bring one; it dates the
check-ins of a boot that no live heartbeat pinned (a Pi rebooted with a wrong clock while
cut from the broker, synchronised, and rebooted again before it got through), and never
outranks a live heartbeat of the same boot. A synchronised clock is still bounded by ours:
a pin later than our time (by more than the allowed skew), and every pin of a heartbeat
that reached us live with a clock that says it is synchronised and is more than the skew
away from ours, is refused.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from controller import schema
from presence.messages import ClockPin, TerminalStatus

log = logging.getLogger(__name__)

# mosquitto counts a message's expiry in whole seconds: one delivered at once arrives with
# its full interval or one second less.
WAIT_MAX_S = 1
BOOTS_KEPT = 32  # per terminal: events of older boots still in an outbox become undatable
# A wall clock set back makes a terminal's heartbeats look older than the last one: after
# this long without a usable one, the newest live heartbeat is taken again.
STALE_REFERENCE_S = 90.0
PIN_SKEW_MAX_S = 300.0  # the default of ``timing.clock_skew_max_s``


@dataclass(frozen=True, slots=True)
class Arrived:
    """How a heartbeat reached us (from the MQTT message)."""

    received_at: datetime
    retained: bool = False
    backlog: bool = False
    expiry_left_s: int | None = None  # what the broker left of its message expiry


def not_live(status: TerminalStatus, arrived: Arrived) -> str | None:
    """Why this status cannot pin the terminal's clock (None: it is live)."""
    if status.state != "online" or status.at is None:
        return "no_heartbeat"
    if arrived.retained:
        return "retained"
    if arrived.backlog:
        return "backlog"
    expiry, left = status.expiry_s, arrived.expiry_left_s
    if expiry is not None and left is not None and expiry - left > WAIT_MAX_S:
        return "waited"
    return None


def record(
    conn: Connection,
    terminal: str,
    status: TerminalStatus,
    arrived: Arrived,
    skew_max_s: float = PIN_SKEW_MAX_S,
) -> None:
    """Store the status; if it is a live heartbeat newer than the last one, the clocks; and
    the clock pins it carries that our clock does not contradict (``skew_max_s``)."""
    t = schema.terminals.c
    previous = conn.execute(
        select(t.clock_offset_s, t.clock_heartbeat_at).where(t.terminal_id == terminal)
    ).one_or_none()
    values: dict[str, object] = dict(
        last_state=status.state,
        last_status_at=status.at or arrived.received_at,
        last_seen_at=arrived.received_at,
        outbox_depth=status.outbox_depth,
        outbox_alarm=status.outbox_alarm,
        clock_synced=status.clock_synced,
        software_version=(status.software_version or "")[:64] or None,
        health=json.dumps(status.health, sort_keys=True) if status.health else None,
    )
    why = not_live(status, arrived)
    if why is None and status.boot_id is not None and status.mono_s is not None:
        if not _pin_boot(conn, terminal, status.boot_id, status.mono_s, arrived.received_at):
            why = "not_newer"
    elif why is None and previous is not None and not _newer_wall(status, arrived, previous):
        why = "not_newer"
    if why is None and status.at is not None:
        values["clock_offset_s"] = (status.at - arrived.received_at).total_seconds()
        values["clock_heartbeat_at"] = status.at
    elif why not in (None, "no_heartbeat"):
        log.debug("heartbeat of %s does not set its clock: %s", terminal, why)
    conn.execute(schema.terminals.update().where(t.terminal_id == terminal).values(**values))
    if status.clock_pins:
        _record_pins(conn, terminal, status, arrived, skew_max_s, live=not_live(status, arrived))


def _record_pins(
    conn: Connection,
    terminal: str,
    status: TerminalStatus,
    arrived: Arrived,
    skew_max_s: float,
    live: str | None,
) -> None:
    """Keep the pins of boots not yet known (a repeated pin changes nothing)."""
    if live is None and status.clock_synced and status.at is not None:
        off = abs((status.at - arrived.received_at).total_seconds())
        if off > skew_max_s:
            log.warning(
                "terminal %s says its clock is synchronised but it is %.0f s off ours: "
                "its clock pins are not used", terminal, off,
            )  # fmt: skip
            return
    c = schema.terminal_clock_pins.c
    boots = {pin.boot_id for pin in status.clock_pins}
    known = set(
        conn.execute(
            select(c.boot_id).where(c.terminal_id == terminal, c.boot_id.in_(boots))
        ).scalars()
    )
    for pin in status.clock_pins:
        if pin.boot_id in known:
            continue
        known.add(pin.boot_id)
        if pin.at > arrived.received_at + timedelta(seconds=skew_max_s):
            log.warning(
                "terminal %s: clock pin of boot %s is %.0f s in our future: not used",
                terminal, pin.boot_id[:8], (pin.at - arrived.received_at).total_seconds(),
            )  # fmt: skip
            continue
        conn.execute(
            schema.terminal_clock_pins.insert().values(
                terminal_id=terminal,
                boot_id=pin.boot_id,
                mono_s=pin.mono_s,
                synced_at=pin.at,
                received_at=arrived.received_at,
            )
        )
        log.info("terminal %s: clock of boot %s pinned by NTP", terminal, pin.boot_id[:8])
    _forget_old_pins(conn, terminal)


def pins_of(conn: Connection, terminal_ids: set[str]) -> dict[str, dict[str, ClockPin]]:
    """The clock pins kept for these terminals, per terminal and boot."""
    c = schema.terminal_clock_pins.c
    found: dict[str, dict[str, ClockPin]] = {}
    for row in conn.execute(
        select(c.terminal_id, c.boot_id, c.mono_s, c.synced_at).where(
            c.terminal_id.in_(terminal_ids)
        )
    ):
        found.setdefault(row.terminal_id, {})[row.boot_id] = ClockPin(
            row.boot_id, row.mono_s, row.synced_at
        )
    return found


def _forget_old_pins(conn: Connection, terminal: str) -> None:
    c = schema.terminal_clock_pins.c
    kept = (
        select(c.boot_id)
        .where(c.terminal_id == terminal)
        .order_by(c.received_at.desc(), c.synced_at.desc())
        .limit(BOOTS_KEPT)
        .scalar_subquery()
    )
    conn.execute(
        schema.terminal_clock_pins.delete().where(c.terminal_id == terminal, c.boot_id.not_in(kept))
    )


def _newer_wall(status: TerminalStatus, arrived: Arrived, previous: object) -> bool:
    """A heartbeat without a boot id: newer by its wall clock than the last one used, or
    the last one used is stale (its clock was set back since)."""
    last_at = getattr(previous, "clock_heartbeat_at", None)
    offset = getattr(previous, "clock_offset_s", None)
    if last_at is None or offset is None or status.at is None or status.at > last_at:
        return True
    last_seen = last_at.timestamp() - offset  # our time when it arrived
    return arrived.received_at.timestamp() - last_seen > STALE_REFERENCE_S


def _pin_boot(
    conn: Connection, terminal: str, boot_id: str, mono_s: float, received_at: datetime
) -> bool:
    """Record this boot's monotonic reading at ``received_at``; False when it is not newer
    than the one already recorded (a repeated or reordered heartbeat)."""
    c = schema.terminal_clocks.c
    known = conn.execute(
        select(c.mono_s).where(c.terminal_id == terminal, c.boot_id == boot_id)
    ).scalar_one_or_none()
    if known is not None:
        if mono_s <= known:
            return False
        conn.execute(
            schema.terminal_clocks.update()
            .where(c.terminal_id == terminal, c.boot_id == boot_id)
            .values(mono_s=mono_s, seen_at=received_at)
        )
        return True
    conn.execute(
        schema.terminal_clocks.insert().values(
            terminal_id=terminal, boot_id=boot_id, mono_s=mono_s, seen_at=received_at
        )
    )
    _forget_old_boots(conn, terminal)
    log.info("terminal %s: clock of boot %s pinned", terminal, boot_id[:8])
    return True


def _forget_old_boots(conn: Connection, terminal: str) -> None:
    c = schema.terminal_clocks.c
    kept = (
        select(c.boot_id)
        .where(c.terminal_id == terminal)
        .order_by(c.seen_at.desc())
        .limit(BOOTS_KEPT)
        .scalar_subquery()
    )
    conn.execute(
        schema.terminal_clocks.delete().where(c.terminal_id == terminal, c.boot_id.not_in(kept))
    )
