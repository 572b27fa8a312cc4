"""Plays feedback patterns on the indicators, timed by an injected scheduler.

A new pattern interrupts the current one at once. A permanent pattern becomes the
fallback and loops; a temporary pattern plays once, then the fallback plays again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from terminal.drivers.gate.patterns import Pattern, Step
from terminal.drivers.gate.safety import Guard
from terminal.drivers.gate.scheduler import Handle, Scheduler

log = logging.getLogger(__name__)


class Display(Protocol):
    def show(self, step: Step) -> None: ...

    def dark(self) -> None: ...


def _unguarded(callback: Callable[[], None]) -> Callable[[], None]:
    return callback


class PatternPlayer:
    def __init__(
        self,
        display: Display,
        scheduler: Scheduler,
        fallback: Pattern,
        guard: Guard = _unguarded,
    ) -> None:
        if not fallback.permanent:
            raise ValueError(f"the fallback pattern must be permanent, not {fallback.name}")
        self._display = display
        self._scheduler = scheduler
        self._guard = guard
        self._lock = threading.RLock()
        self._fallback = fallback
        self._current: Pattern | None = None
        self._timer: Handle | None = None
        self._generation = 0
        self._closed = False

    @property
    def current(self) -> Pattern | None:
        """The pattern on show now (None after close)."""
        return self._current

    @property
    def fallback(self) -> Pattern:
        """The permanent pattern that temporary ones return to."""
        return self._fallback

    def play(self, pattern: Pattern) -> None:
        with self._lock:
            if self._closed:
                return
            if pattern.permanent:
                self._fallback = pattern
            log.debug("pattern %s", pattern.name)
            self._start(pattern)

    def close(self) -> None:
        """Stop the timeline and turn every light and the buzzer off; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._cancel()
            self._current = None
            self._display.dark()

    def _start(self, pattern: Pattern) -> None:
        self._cancel()
        self._current = pattern
        self._show_step(self._generation, 0)

    def _cancel(self) -> None:
        self._generation += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _show_step(self, generation: int, index: int) -> None:
        with self._lock:
            if generation != self._generation or self._closed or self._current is None:
                return
            pattern = self._current
            if index == len(pattern.steps):
                if not pattern.permanent:
                    self._start(self._fallback)
                    return
                index = 0
            step = pattern.steps[index]
            self._display.show(step)
            self._timer = self._scheduler.call_later(
                step.duration, self._guard(lambda: self._show_step(generation, index + 1))
            )
