"""What happened during a campaign, in order: passes, faults, exits. One JSON line each.

``t`` is seconds since the campaign started (monotonic), ``wall`` the Unix time. The file is
the evidence printed around a violation, and what a replay of the same seed is compared to.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Record:
    t: float
    wall: float
    kind: str
    data: dict[str, Any]

    def line(self) -> str:
        fields = " ".join(f"{k}={v}" for k, v in self.data.items() if v not in (None, ""))
        return f"{self.t:8.2f}s {self.kind:<14} {fields}"


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8")
        self.records: list[Record] = []

    def now(self) -> float:
        return time.monotonic() - self.started

    def add(self, kind: str, **data: Any) -> Record:
        record = Record(round(self.now(), 3), time.time(), kind, data)
        with self._lock:
            self.records.append(record)
            self._file.write(
                json.dumps({"t": record.t, "wall": record.wall, "kind": kind, **data}) + "\n"
            )
            self._file.flush()
        return record

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def of_kind(self, prefix: str) -> Iterator[Record]:
        return (r for r in list(self.records) if r.kind.startswith(prefix))

    def around(self, wall: float, seconds: float = 5.0, **match: Any) -> list[Record]:
        """Records within ``seconds`` of ``wall`` that are faults or match every ``match``."""
        return [
            r
            for r in list(self.records)
            if abs(r.wall - wall) <= seconds
            and (r.kind.startswith("fault") or all(r.data.get(k) == v for k, v in match.items()))
        ]
