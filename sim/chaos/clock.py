"""A terminal's clock as the campaign wants it: off by some seconds, synchronised or not.

A Raspberry Pi has no real-time clock (DOMAIN.md section 7): after a power cut it may start
hours behind, say so (``NTPSynchronized=no``), and jump when NTP answers. ``SkewedClock``
plays that clock for the real terminal program; the campaign moves it over the terminal's
control socket (``terminal_proc``). The monotonic reading is never skewed: it has no date.
After a simulated reboot (``rebooted=True``) it restarts from zero under a new boot id, as
CLOCK_MONOTONIC does when a Pi really starts again.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta

from presence.clock import SystemClock


class SkewedClock:
    """``now()`` is the real time plus ``offset_s``; ``synced`` is what NTP would say."""

    def __init__(self, offset_s: float = 0.0, synced: bool = True, rebooted: bool = False) -> None:
        self._lock = threading.Lock()
        self._real = SystemClock()  # the site's clock (``shifted`` may move it)
        self._offset_s = offset_s
        self._synced = synced
        self._boot_id = str(uuid.uuid4()) if rebooted else self._real.boot_id()
        self._mono_zero = time.monotonic() if rebooted else 0.0

    def now(self) -> datetime:
        with self._lock:
            offset = self._offset_s
        return self._real.now() + timedelta(seconds=offset)

    def monotonic(self) -> float:
        return time.monotonic() - self._mono_zero

    def boot_id(self) -> str:
        return self._boot_id

    def set(self, offset_s: float, synced: bool) -> None:
        with self._lock:
            self._offset_s = offset_s
            self._synced = synced

    @property
    def offset_s(self) -> float:
        with self._lock:
            return self._offset_s

    def synced(self) -> bool:
        """The terminal's NTP probe (``terminal.timesync.Probe``)."""
        with self._lock:
            return self._synced
