"""Each terminal's decision history, kept by the campaign's terminal process.

The outbox forgets an event once the controller acknowledged it, so the checker needs a
history that is never pruned. The terminal process appends one JSON line per decision,
flushed and fsynced, right after the flow decided (the outbox commit comes first, so a
SIGKILL between the two leaves an event the controller has and the journal lacks: the
checker accepts that only for a presentation in flight when that terminal was killed).

A line: ``{"at": <unix time>, "terminal", "decision", "reason", "pattern", "event": <the
event's JSON as the outbox stores it, or null when not published>}``. The file lives in
the run's work directory beside the outbox, which holds the same payloads.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from presence.clock import SystemClock
from presence.events import encode
from terminal.flows.checkin import Decided


@dataclass(frozen=True, slots=True)
class Entry:
    at: float
    terminal: str
    decision: str
    reason: str
    pattern: str
    event: dict[str, Any] | None

    @property
    def event_id(self) -> str | None:
        return str(self.event["event_id"]) if self.event else None

    @property
    def seq(self) -> int | None:
        return int(self.event["seq"]) if self.event else None


class JournalWriter:
    """Appends decisions to ``path``; each line is on disk before ``write`` returns."""

    def __init__(self, path: Path, terminal: str) -> None:
        self.path = path
        self.terminal = terminal
        self._clock = SystemClock()
        self._lock = threading.Lock()
        self._file = path.open("ab")

    def write(self, decided: Decided, pattern: str) -> dict[str, Any]:
        verdict = decided.verdict
        line = {
            "at": self._clock.now().timestamp(),  # the site's time, not the terminal's
            "terminal": self.terminal,
            "decision": verdict.decision,
            "reason": verdict.reason,
            "pattern": pattern,
            "event": json.loads(encode(decided.event)) if decided.event is not None else None,
        }
        data = json.dumps(line, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
        return line

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read(path: Path) -> Iterator[Entry]:
    """The entries of one journal; a torn last line (SIGKILL mid-write) is skipped."""
    if not path.exists():
        return
    for raw in path.read_bytes().splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        yield Entry(
            float(line["at"]),
            str(line["terminal"]),
            str(line["decision"]),
            str(line["reason"]),
            str(line["pattern"]),
            line.get("event"),
        )
