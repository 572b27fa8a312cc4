"""Whether the system clock is synchronised (a Pi has no real-time clock: DOMAIN.md section 7).

The probe runs ``timedatectl show -p NTPSynchronized`` off the decision path, every
``POLL_S`` seconds in its own thread; the flow reads the last answer. Any failure to ask
counts as "not synchronised": an event then says ``clock_synced: false``.

When the clock is (or becomes) synchronised in a boot, ``on_pin`` gets a ``ClockPin``: the
boot, its monotonic reading and the now right wall clock, read together. A Pi without a
real-time clock may have taken check-ins with a wrong clock before NTP answered, and may
reboot again before it ever reaches the controller; the pin, kept in the outbox database and
carried in later heartbeats, lets the controller date those check-ins by their monotonic
distance from it (within that boot only: the monotonic clock restarts at every boot).
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable

from presence.clock import Clock, SystemClock
from presence.messages import ClockPin

log = logging.getLogger(__name__)

POLL_S = 60.0
PROBE_TIMEOUT_S = 5.0

Probe = Callable[[], bool]


def ntp_synchronized() -> bool:
    """Ask systemd-timedated; False when it says no or cannot be asked."""
    try:
        result = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("timedatectl unavailable: %s", exc)
        return False
    return result.returncode == 0 and result.stdout.strip() == "NTPSynchronized=yes"


class ClockSync:
    """The last answer of ``probe``; ``refresh()`` asks again, ``start()`` keeps asking."""

    def __init__(
        self,
        probe: Probe = ntp_synchronized,
        poll_s: float = POLL_S,
        *,
        clock: Clock | None = None,
        on_pin: Callable[[ClockPin], None] | None = None,
    ) -> None:
        self._probe = probe
        self._poll_s = poll_s
        self._clock = clock or SystemClock()
        self._on_pin = on_pin
        self.synced = False
        self.pin: ClockPin | None = None  # the last one taken by this process
        self._asked = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        synced = bool(self._probe())
        if synced != self.synced or not self._asked:
            log.log(logging.INFO if synced else logging.WARNING, "system clock %s",
                    "synchronised" if synced else "NOT synchronised: events say so")  # fmt: skip
        if synced and (not self.synced or not self._asked):
            self._take_pin()
        self.synced = synced
        self._asked = True
        return synced

    def _take_pin(self) -> None:
        """The clock is right now: pin this boot's monotonic clock to it (see the module
        docstring). A failure to keep it is logged; the probe's answer stands."""
        clock = self._clock
        self.pin = ClockPin(clock.boot_id(), clock.monotonic(), clock.now())
        if self._on_pin is None:
            return
        try:
            self._on_pin(self.pin)
        except Exception:
            log.exception("clock pin of boot %s not kept", self.pin.boot_id[:8])

    def start(self) -> ClockSync:
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="clock-sync", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.refresh()
            except Exception:
                log.exception("clock synchronisation probe failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=PROBE_TIMEOUT_S + 1)
            self._thread = None
