"""Time, injected: code asks a clock, tests hand it a clock they drive.

A clock also names the *boot* its monotonic readings belong to. A Raspberry Pi has no
real-time clock, so its wall clock may be anything after a power cut; its monotonic clock
is right about elapsed time but starts again at every boot. The pair (boot id, monotonic
reading) therefore names one moment on one machine without trusting its wall clock, and the
controller pins it to its own time with a heartbeat of the same boot (docs/controller.md).
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
MAX_MONO_S = 1e10  # about 300 years of uptime: anything larger is no monotonic reading
_BOOT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Clock(Protocol):
    def now(self) -> datetime:
        """The wall-clock time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for timeouts."""
        ...

    def boot_id(self) -> str:
        """The run of ``monotonic()`` its readings belong to: a new id whenever it starts
        again (a reboot). A UUID in its 36-character lowercase form."""
        ...


def is_boot_id(text: object) -> bool:
    return isinstance(text, str) and _BOOT_ID.fullmatch(text) is not None


def read_boot_id(path: Path = BOOT_ID_FILE) -> str:
    """The kernel's id of this boot, which changes exactly when ``time.monotonic`` (Linux
    CLOCK_MONOTONIC) starts again. Where it cannot be read, a random id for this process:
    the monotonic clock outlives a process, so a new id per process is merely cautious (the
    controller then waits for a heartbeat of the new id before it dates by it)."""
    try:
        text = path.read_text(encoding="ascii").strip().lower()
    except (OSError, UnicodeDecodeError):
        text = ""
    return text if is_boot_id(text) else str(uuid.uuid4())


class SystemClock:
    _boot_id: str | None = None  # read once per process, on first use

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def boot_id(self) -> str:
        if SystemClock._boot_id is None:
            SystemClock._boot_id = read_boot_id()
        return SystemClock._boot_id


class ManualClock:
    """A clock a test moves by hand; both readings advance together."""

    def __init__(self, start: datetime | None = None, boot_id: str | None = None) -> None:
        self._now = start or datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
        self._mono = 1000.0
        self._boot_id = boot_id or str(uuid.uuid4())

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def boot_id(self) -> str:
        return self._boot_id

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def reboot(self, wall: datetime, uptime_s: float = 10.0) -> None:
        """A reboot: a new boot id, the monotonic clock starts again, and the wall clock
        says ``wall`` (a Pi without a real-time clock comes back with whatever it saved)."""
        self._boot_id = str(uuid.uuid4())
        self._mono = uptime_s
        self._now = wall


def brussels_date(moment: datetime) -> date:
    """The calendar day in Belgium at ``moment``: what a registration is dated by."""
    return moment.astimezone(BRUSSELS).date()
