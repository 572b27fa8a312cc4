"""Messages the controller refused, kept with their payload as evidence; and the way back in
for those refused through no fault of theirs (the controller's terminals file was wrong, or
the database could not store them)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from controller import checkins, schema
from controller.config import ControllerConfig
from controller.store import Store
from controller.terminals import TerminalRegistry
from presence.events import BadEvent, decode

log = logging.getLogger(__name__)

# Refusals that say something about the controller, not the message: a replay may succeed.
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
                terminals.check(event.terminal_id) is not None
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
