"""The audit trail: who did what, when, from where (issue 14: every action is recorded).

An action records its entry with ``record`` inside the transaction that makes the change,
so an entry exists exactly when the change does. Targets and details never hold a national
number, a Limosa id or a name in full: callers pass masked forms or row ids.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from controller import schema
from controller.store import Store
from presence.clock import BRUSSELS

Row = dict[str, Any]

AUDIT_COLUMNS = ("at", "who", "action", "target", "detail", "address")
CLI_ADDRESS = "cli"  # what a site-manager command records as its address


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, and from where (a web client's address, or ``cli``)."""

    who: str
    address: str | None = None


def cli_actor() -> Actor:
    """The operating-system user running a site-manager command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "unknown"
    return Actor(user, CLI_ADDRESS)


def record(
    conn: Connection,
    *,
    at: datetime,
    who: str,
    action: str,
    target: str = "",
    detail: str = "",
    address: str | None = None,
) -> None:
    """One audit entry, in the caller's transaction."""
    conn.execute(
        schema.audit.insert().values(
            at=at,
            who=who[:100],
            action=action[:64],
            target=target[:200],
            detail=detail[:2000],
            address=address[:64] if address else None,
        )
    )


def record_by(
    conn: Connection,
    actor: Actor | None,
    at: datetime,
    action: str,
    target: str = "",
    detail: str = "",
) -> None:
    """``record`` for an optional actor: nothing when no actor is given."""
    if actor is not None:
        record(
            conn,
            at=at,
            who=actor.who,
            action=action,
            target=target,
            detail=detail,
            address=actor.address,
        )


def entries(
    store: Store,
    *,
    since: datetime | None = None,
    who: str | None = None,
    action: str | None = None,
    limit: int = 500,
) -> list[Row]:
    """Audit entries, newest first; ``action`` matches a prefix (``roster`` finds
    ``roster.block`` and ``roster.import``)."""
    a = schema.audit.c
    query = select(schema.audit).order_by(a.id.desc()).limit(max(1, min(limit, 10_000)))
    if since is not None:
        query = query.where(a.at >= since)
    if who:
        query = query.where(a.who == who)
    if action:
        query = query.where(a.action.startswith(action, autoescape=True))
    with store.transaction() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "id": row.id,
            "at": row.at.astimezone(BRUSSELS).strftime("%Y-%m-%d %H:%M:%S %Z"),
            "who": row.who,
            "action": row.action,
            "target": row.target,
            "detail": row.detail,
            "address": row.address or "",
        }
        for row in rows
    ]
