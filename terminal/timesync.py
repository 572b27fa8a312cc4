"""Whether the system clock is synchronised (a Pi has no real-time clock: DOMAIN.md section 7).

The probe runs ``timedatectl show -p NTPSynchronized`` off the decision path, every
``POLL_S`` seconds in its own thread; the flow reads the last answer. Any failure to ask
counts as "not synchronised": an event then says ``clock_synced: false``.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable

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

    def __init__(self, probe: Probe = ntp_synchronized, poll_s: float = POLL_S) -> None:
        self._probe = probe
        self._poll_s = poll_s
        self.synced = False
        self._asked = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        synced = bool(self._probe())
        if synced != self.synced or not self._asked:
            log.log(logging.INFO if synced else logging.WARNING, "system clock %s",
                    "synchronised" if synced else "NOT synchronised: events say so")  # fmt: skip
        self.synced = synced
        self._asked = True
        return synced

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
