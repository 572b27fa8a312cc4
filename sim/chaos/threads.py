"""Daemon threads of the campaign that start together and are joined within one deadline."""

from __future__ import annotations

import threading
import time
from typing import Self


class ThreadGroup:
    """A base for what plays in parallel (the rush's gate lanes, the schedule's faults)."""

    _threads: list[threading.Thread]

    def start(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
