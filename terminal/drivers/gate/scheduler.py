"""Timers for pattern timelines, relay pulses and passage windows, on an injected clock.

``ThreadScheduler`` runs callbacks on one daemon thread; ``ManualScheduler`` is its test
instrument: a test moves a ``ManualClock`` with ``advance()`` and due callbacks run in order,
in the test's thread, without any real sleep.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from presence.clock import Clock, ManualClock, SystemClock
from terminal.drivers.gate.errors import GateError

log = logging.getLogger(__name__)

# Float sums of step durations may miss a due time by an ulp; a test's advance() still hits it.
_DUE_TOLERANCE_S = 1e-9


class Handle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle:
        """Run ``callback`` once, ``delay`` seconds from now on the scheduler's clock."""
        ...

    def close(self) -> None: ...


@dataclass(order=True)
class _Timer:
    due: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class _TimerHeap:
    def __init__(self) -> None:
        self._heap: list[_Timer] = []
        self._seq = itertools.count()

    def push(self, due: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(due, next(self._seq), callback)
        heapq.heappush(self._heap, timer)
        return timer

    def next_due(self) -> float | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].due if self._heap else None

    def pop(self) -> _Timer:
        return heapq.heappop(self._heap)

    def pending(self) -> int:
        return sum(1 for t in self._heap if not t.cancelled)

    def clear(self) -> None:
        self._heap.clear()


class ThreadScheduler:
    """One daemon thread; a failing callback is logged and counted, never kills the thread."""

    def __init__(self, clock: Clock | None = None, name: str = "gate-timer") -> None:
        self._clock = clock or SystemClock()
        self._timers = _TimerHeap()
        self._cond = threading.Condition()
        self._closed = False
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle:
        with self._cond:
            if self._closed or not self._thread.is_alive():
                raise GateError("scheduler_closed", "the gate timer thread has stopped")
            timer = self._timers.push(self._clock.monotonic() + delay, callback)
            self._cond.notify()
            return timer

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._timers.clear()
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closed

    def _run(self) -> None:
        while True:
            timer = self._next_due_timer()
            if timer is None:
                return
            try:
                timer.callback()
            except Exception:
                self.errors += 1
                log.exception("gate timer callback failed")

    def _next_due_timer(self) -> _Timer | None:
        with self._cond:
            while not self._closed:
                due = self._timers.next_due()
                if due is None:
                    self._cond.wait()
                    continue
                wait_s = due - self._clock.monotonic()
                if wait_s > 0:
                    self._cond.wait(wait_s)
                    continue
                return self._timers.pop()
            return None


class ManualScheduler:
    """Callbacks run when a test calls ``advance()``; the clock moves to each due time."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self._timers = _TimerHeap()
        self._closed = False

    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle:
        if self._closed:
            raise GateError("scheduler_closed", "the gate timer has stopped")
        return self._timers.push(self.clock.monotonic() + delay, callback)

    def advance(self, seconds: float) -> None:
        """Move the clock by ``seconds``, running every callback that falls due on the way."""
        target = self.clock.monotonic() + seconds
        while True:
            due = self._timers.next_due()
            if due is None or due > target + _DUE_TOLERANCE_S:
                break
            timer = self._timers.pop()
            self.clock.advance(max(0.0, due - self.clock.monotonic()))
            timer.callback()
        self.clock.advance(max(0.0, target - self.clock.monotonic()))

    def pending(self) -> int:
        return self._timers.pending()

    def close(self) -> None:
        self._closed = True
        self._timers.clear()
