"""One running controller per identity: a lease row in the database.

Two controllers with the same broker ``client_id`` take each other's MQTT session over and
over (the broker drops the older connection when the newer one connects), each one
acknowledging half of the other's messages. So ``run`` first takes the lease of its identity
in ``controller_leases`` and renews it every ``RENEW_S``; a second controller with the same
identity on the same database finds it held and stops at once, naming the holder.

A lease past its expiry may be taken over (its controller died without releasing it, e.g.
SIGKILL): at most ``LEASE_S`` after the last renewal. A holder on this same host whose
process is gone is taken over at once, so that systemd's restart after a crash is not held
up. Take-over is one conditional ``UPDATE`` (``WHERE expires_at < now OR holder = me``):
atomic on SQLite (``BEGIN IMMEDIATE``) and on PostgreSQL (the row lock re-checks the
condition), so of several controllers racing for a stale lease exactly one wins. Expiry is
judged by the controllers' clocks: hosts sharing a PostgreSQL database keep NTP time (they
must anyway, to date check-ins).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, select

from controller import schema
from controller.errors import ControllerError
from controller.store import Store
from presence.clock import BRUSSELS, Clock, SystemClock

log = logging.getLogger(__name__)

LEASE_S = 15.0  # a lease not renewed for this long may be taken over
RENEW_S = 5.0  # the running controller renews it this often


class LeaseHeld(ControllerError):
    """Another controller holds this identity's lease (code ``lease_held``)."""


class LeaseLost(ControllerError):
    """Our lease was taken over (we stalled past its expiry): we must stop."""


@dataclass(frozen=True, slots=True)
class Holding:
    identity: str
    holder: str
    expires_at: datetime


def new_holder() -> str:
    """``host:pid:random``: who holds a lease, and a way to tell one life of it from the next."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Lease:
    """The lease of one identity (the broker client id) held by this process."""

    def __init__(
        self,
        store: Store,
        identity: str,
        clock: Clock | None = None,
        holder: str | None = None,
        duration_s: float = LEASE_S,
    ) -> None:
        self.store = store
        self.identity = identity[:256]
        self.clock = clock or SystemClock()
        self.holder = holder or new_holder()
        self.duration = timedelta(seconds=duration_s)
        self.held = False

    def acquire(self) -> None:
        """Take the lease, or raise ``LeaseHeld`` naming who holds it and until when."""
        with self.store.transaction() as conn:
            now = self.clock.now()
            taken = self._insert(conn, now) or self._take(conn, now, stale_before=now)
            current = None if taken else self._current(conn)
            if current is not None and _gone(current.holder):
                taken = self._take(conn, now, stale_holder=current.holder)
                if taken:
                    log.warning("lease of %s taken over from %s: that process is gone",
                                self.identity, current.holder)  # fmt: skip
        if not taken:
            raise LeaseHeld("lease_held", _held_message(self.identity, current))
        self.held = True
        log.info("lease of %s taken by %s", self.identity, self.holder)

    def renew(self) -> None:
        """Push the expiry on; ``LeaseLost`` when another controller took it over."""
        t = schema.controller_leases.c
        with self.store.transaction() as conn:
            now = self.clock.now()
            renewed = conn.execute(
                schema.controller_leases.update()
                .where(t.identity == self.identity, t.holder == self.holder)
                .values(expires_at=now + self.duration, renewed_at=now)
            ).rowcount
            current = None if renewed else self._current(conn)
        if not renewed:
            self.held = False
            raise LeaseLost(
                "lease_lost", f"lost the lease: {_held_message(self.identity, current)}"
            )

    def release(self) -> None:
        """Give the lease up (a clean stop): the next controller may start at once."""
        if not self.held:
            return
        t = schema.controller_leases.c
        with self.store.transaction() as conn:
            conn.execute(
                schema.controller_leases.delete().where(
                    t.identity == self.identity, t.holder == self.holder
                )
            )
        self.held = False
        log.info("lease of %s released", self.identity)

    def _insert(self, conn: Connection, now: datetime) -> bool:
        inserted = conn.execute(
            self.store.insert_ignore(schema.controller_leases)
            .values(
                identity=self.identity,
                holder=self.holder,
                acquired_at=now,
                renewed_at=now,
                expires_at=now + self.duration,
            )
            .returning(schema.controller_leases.c.identity)  # rowcount: -1 on psycopg
        ).scalar_one_or_none()
        return inserted is not None

    def _take(
        self,
        conn: Connection,
        now: datetime,
        stale_before: datetime | None = None,
        stale_holder: str | None = None,
    ) -> bool:
        """Compare and swap: the row becomes ours only while it still is what we judged."""
        t = schema.controller_leases.c
        query = schema.controller_leases.update().where(t.identity == self.identity)
        if stale_before is not None:
            query = query.where((t.expires_at < stale_before) | (t.holder == self.holder))
        if stale_holder is not None:
            query = query.where(t.holder == stale_holder)
        taken = conn.execute(
            query.values(
                holder=self.holder,
                acquired_at=now,
                renewed_at=now,
                expires_at=now + self.duration,
            )
        ).rowcount
        return bool(taken)

    def _current(self, conn: Connection) -> Holding | None:
        t = schema.controller_leases.c
        row = conn.execute(
            select(t.identity, t.holder, t.expires_at).where(t.identity == self.identity)
        ).first()
        return None if row is None else Holding(row.identity, row.holder, row.expires_at)


def _held_message(identity: str, current: Holding | None) -> str:
    if current is None:
        return f"controller identity {identity!r} is held by another controller"
    until = current.expires_at.astimezone(BRUSSELS).strftime("%Y-%m-%d %H:%M:%S %Z")
    return (
        f"controller identity {identity!r} (broker client_id) is held by {current.holder} "
        f"until {until} unless renewed: a controller with this client_id already runs on this "
        "database; stop it, or give this one its own [broker] client_id"
    )


def _gone(holder: str) -> bool:
    """True when ``holder`` names a process of this host that no longer runs (or is a
    zombie): its lease cannot be renewed any more. Anything unsure counts as alive."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # another lease of this very process (two controllers in one)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
