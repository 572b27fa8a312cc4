"""The gate relay: locked at rest, released for a pulse that ends by itself.

Active = the lock is released. The resting state (inactive, locked) is written by the
constructor itself, so the pin never shows anything else at start. The *safe* state is what
the gate falls to when software fails (an exception, SIGTERM, ``close()``, interpreter exit):
locked, or released when the site config says ``fail_open`` (fire-safety sites).
The end of a pulse is a scheduler timer: it does not depend on the caller staying alive.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from gpiozero import DigitalOutputDevice, GPIOZeroError

from terminal.drivers.gate.errors import GateError
from terminal.drivers.gate.scheduler import Handle, Scheduler

log = logging.getLogger(__name__)


class Relay:
    def __init__(
        self,
        pin: int,
        *,
        active_high: bool,
        fail_open: bool,
        scheduler: Scheduler,
        pin_factory: Any,
    ) -> None:
        self.fail_open = fail_open
        self._scheduler = scheduler
        self._lock = threading.RLock()
        self._token = 0
        self._timer: Handle | None = None
        self._closed = False
        self._device = DigitalOutputDevice(
            pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
        )

    @property
    def is_released(self) -> bool:
        """True while the lock is released (the relay is active)."""
        return not self._closed and bool(self._device.value)

    def pulse(self, seconds: float) -> None:
        """Release the lock for ``seconds``; a new pulse replaces one in progress."""
        with self._lock:
            if self._closed:
                raise GateError("closed", "the gate relay is closed")
            self._end_timer()
            token = self._token
            try:
                self._device.on()
                self._timer = self._scheduler.call_later(seconds, lambda: self._pulse_ended(token))
            except (GPIOZeroError, GateError, OSError) as exc:
                self.fail_safe()
                raise GateError("relay_failed", f"cannot pulse the gate relay: {exc}") from exc
            log.info("relay released for %.1f s", seconds)

    def lock(self) -> None:
        """Lock now, ending any pulse (whatever ``fail_open`` says: this is normal use)."""
        with self._lock:
            if self._closed:
                return
            self._end_timer()
            self._device.off()

    def fail_safe(self) -> None:
        """Fall to the safe state; callable from a signal handler or an error path."""
        with self._lock:
            if self._closed:
                return
            self._end_timer()
            if self.fail_open:
                self._device.on()
            else:
                self._device.off()
        log.info("gate relay in its safe state (%s)", "released" if self.fail_open else "locked")

    def close(self) -> None:
        """Apply the safe state, then release the pin; idempotent."""
        with self._lock:
            if self._closed:
                return
            try:
                self.fail_safe()
            finally:
                self._closed = True
                self._device.close()

    def _end_timer(self) -> None:
        self._token += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _pulse_ended(self, token: int) -> None:
        with self._lock:
            if token != self._token or self._closed:
                return
            self._timer = None
            self._device.off()
        log.info("relay locked after its pulse")
