"""Gate inputs: passage sensor, tamper switch and exit button.

All three are wired as contacts (or open-collector outputs) to ground, with the Pi's pull-up:
the input is active when pulled low. Each is a gpiozero ``DigitalInputDevice`` (a ``Button``
without the hold-detection thread, which none of them needs). The sensors only report;
nothing here decides.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpiozero import DigitalInputDevice

from presence.clock import Clock
from terminal.drivers.events import DriverEvent, Forced, NotPassed, Passed
from terminal.drivers.gate.safety import Guard
from terminal.drivers.gate.scheduler import Handle, Scheduler

log = logging.getLogger(__name__)

BOUNCE_S = 0.05  # contact chatter shorter than this is one press


def _contact(pin: int, pin_factory: Any) -> DigitalInputDevice:
    return DigitalInputDevice(pin, pull_up=True, bounce_time=BOUNCE_S, pin_factory=pin_factory)


class Opening(enum.Enum):
    ADMISSION = "admission"  # a passage is Passed, no passage in time is NotPassed
    FREE_EXIT = "free_exit"  # the exit button: a passage is expected, and reported by no one


@dataclass(eq=False)
class _Window:
    opening: Opening
    timer: Handle | None = None


class PassageWatch:
    """Matches passages to openings, oldest first, each within ``window_s`` of its opening.

    A passage with an open admission window is ``Passed``; a window that expires unused is
    ``NotPassed``; a passage with no window open is ``Forced`` (tailgating, forced entry).
    """

    def __init__(
        self,
        pin: int,
        *,
        window_s: float,
        events: queue.Queue[DriverEvent],
        scheduler: Scheduler,
        clock: Clock,
        pin_factory: Any,
        guard: Guard,
    ) -> None:
        self._window_s = window_s
        self._events = events
        self._scheduler = scheduler
        self._clock = clock
        self._guard = guard
        self._lock = threading.Lock()
        self._windows: deque[_Window] = deque()
        self._input = _contact(pin, pin_factory)
        self._input.when_activated = guard(self._triggered)

    @property
    def open_windows(self) -> int:
        return len(self._windows)

    def expect(self, opening: Opening) -> None:
        """Open a window for one passage."""
        window = _Window(opening)
        with self._lock:
            window.timer = self._scheduler.call_later(
                self._window_s, self._guard(lambda: self._expired(window))
            )
            self._windows.append(window)

    def close(self) -> None:
        with self._lock:
            for window in self._windows:
                if window.timer is not None:
                    window.timer.cancel()
            self._windows.clear()
        self._input.close()

    def _triggered(self) -> None:
        with self._lock:
            if not self._windows:
                log.warning("passage with no opening: forced")
                self._events.put(Forced(at=self._clock.monotonic()))
                return
            window = self._windows.popleft()
            if window.timer is not None:
                window.timer.cancel()
            if window.opening is Opening.ADMISSION:
                self._events.put(Passed(at=self._clock.monotonic()))
            else:
                log.debug("passage through a free exit")

    def _expired(self, window: _Window) -> None:
        with self._lock:
            if window not in self._windows:
                return
            self._windows.remove(window)
            if window.opening is Opening.ADMISSION:
                log.info("admission window expired without a passage")
                self._events.put(NotPassed(at=self._clock.monotonic()))


class TamperSwitch:
    """A normally-closed contact, closed while the enclosure is shut: an open contact or a
    cut wire reads as tampered."""

    def __init__(
        self, pin: int, *, on_change: Callable[[bool], None], pin_factory: Any, guard: Guard
    ) -> None:
        self._input = _contact(pin, pin_factory)
        self._input.when_deactivated = guard(lambda: on_change(True))
        self._input.when_activated = guard(lambda: on_change(False))

    @property
    def active(self) -> bool:
        """True while the enclosure is open (the contact is not closed)."""
        return not self._input.is_active

    def close(self) -> None:
        self._input.close()


class ExitButton:
    """The free-exit push button (request to exit)."""

    def __init__(
        self, pin: int, *, on_press: Callable[[], None], pin_factory: Any, guard: Guard
    ) -> None:
        self._input = _contact(pin, pin_factory)
        self._input.when_activated = guard(on_press)

    def close(self) -> None:
        self._input.close()
