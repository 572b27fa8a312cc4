"""Messages the controller refused, kept with their payload as evidence; and the way back in
for those refused through no fault of theirs (the controller's terminals file was wrong, or
the database could not store them)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, select

from controller import checkins, schema
from controller.config import ControllerConfig
from controller.store import Store
from controller.terminals import TerminalRegistry
from presence.events import BadEvent, decode

log = logging.getLogger(__name__)

# Refusals that say something about the controller, not the message: a replay may succeed.
# They get no end-to-end ack: the terminal keeps its copy and sends it again (its resend
# timer, or its next reconnect), and the quarantine keeps one row per message meanwhile.
REPLAYABLE = ("unknown_terminal", "unstorable")


@dataclass(frozen=True, slots=True)
class Replayed:
    stored: int
    still_refused: int


def replay(store: Store, config: ControllerConfig) -> Replayed:
    """Run replayable quarantined check-ins through the checks again, with today's terminals
    file; those that pass are stored (dated as they were received) and leave quarantine."""
    terminals = TerminalRegistry(config.terminals_path, store)
    terminals.reload_if_changed()
    q = schema.quarantine.c
    stored = still = 0
    with store.transaction() as conn:
        rows = conn.execute(
            select(schema.quarantine).where(q.reason.in_(REPLAYABLE)).order_by(q.id)
        ).all()
        for row in rows:
            try:
                event = decode(row.payload)
            except BadEvent:
                still += 1
                continue
            if (
                row.payload_length not in (None, len(row.payload))  # kept cut: not whole
                or terminals.check(event.terminal_id) is not None
                or row.terminal_id != event.terminal_id
                or str(event.workplace_id) != config.site.workplace_id
            ):
                still += 1
                continue
            checkins.record(store, conn, event, row.payload, row.received_at,
                            config.timing.clock_skew_max_s)  # fmt: skip
            conn.execute(schema.quarantine.delete().where(q.id == row.id))
            stored += 1
    log.info("quarantine replay: %d stored, %d still refused", stored, still)
    return Replayed(stored, still)


def held_event_ids(store: Store) -> set[str]:
    """Event ids waiting in the quarantine for a resend to pass (replayable refusals)."""
    q = schema.quarantine.c
    with store.transaction() as conn:
        rows = conn.execute(
            select(q.event_id).where(q.reason.in_(REPLAYABLE), q.event_id.is_not(None))
        ).scalars()
        return set(rows)


def settle(conn: Connection, event_ids: list[str]) -> int:
    """The check-ins ``event_ids`` are stored now (a resend passed): their replayable
    quarantine rows are no longer needed as evidence of a refusal that did not stick."""
    q = schema.quarantine.c
    return int(
        conn.execute(
            schema.quarantine.delete().where(q.event_id.in_(event_ids), q.reason.in_(REPLAYABLE))
        ).rowcount
    )
