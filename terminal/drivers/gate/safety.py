"""Failure paths of the gate: callbacks that fail fall to the safe state, and a SIGTERM hook.

gpiozero calls sensor callbacks on its own threads and the scheduler calls timers on its
thread: an exception there would otherwise vanish. ``guarded`` logs it and applies the
safe state, so a software failure never leaves the relay released (unless fail-open).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

Guard = Callable[[Callable[[], None]], Callable[[], None]]


def guarding(on_error: Callable[[], None]) -> Guard:
    """A decorator factory: wrapped callbacks log any exception, then call ``on_error``."""

    def guard(callback: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                callback()
            except Exception:
                log.exception("gate callback failed; applying the safe state")
                try:
                    on_error()
                except Exception:
                    log.exception("could not apply the gate's safe state")

        return run

    return guard


SignalHandler = Callable[[int, FrameType | None], Any] | int | None


def install_sigterm_hook(hook: Callable[[], None]) -> SignalHandler:
    """On SIGTERM run ``hook`` first (e.g. ``Gate.fail_safe``), then what was there before:
    the previous Python handler, or ``SystemExit`` when it was the default. Main thread only.
    Returns the previous handler, for ``signal.signal(SIGTERM, previous)`` to restore it.
    """
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        hook()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    return previous
