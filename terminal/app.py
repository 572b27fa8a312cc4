"""The terminal program: drivers chosen by config, the check-in flow, the outbox, the MQTT link.

One thread runs the flow: it takes driver events from one queue, decides, and fires the
flow's timeouts. Drivers, the MQTT link and the clock probe have their own threads and only
ever put events on that queue or read the outbox; nothing in the loop waits on the network.

Under systemd (``Type=notify``) the loop says ``READY=1`` once the gate is in its safe state
and the drivers run, and pings the watchdog only while it is healthy: it keeps turning and
the last ``UNHEALTHY_AFTER`` events did not all fail. On SIGTERM or SIGINT the gate is
locked, the drivers and the link are closed and the outbox is closed cleanly.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from presence.clock import Clock, SystemClock
from presence.messages import BadMessage, SiteConfig, decode_site_config
from terminal import wiring
from terminal.config import TerminalConfig
from terminal.drivers.events import DriverEvent
from terminal.flows.checkin import CheckinFlow, SiteConfigReceived
from terminal.link import Link
from terminal.notify import SystemdNotifier
from terminal.outbox import OUTBOX_CAPACITY, Outbox
from terminal.timesync import ClockSync, Probe, ntp_synchronized

log = logging.getLogger(__name__)

LOOP_TICK_S = 0.05  # the longest the loop waits for an event before firing timeouts
UNHEALTHY_AFTER = 3  # consecutive failed events that stop the watchdog pings


class App:
    """One running terminal. ``run()`` blocks until ``stop()`` (or a signal)."""

    def __init__(
        self,
        config: TerminalConfig,
        *,
        clock: Clock | None = None,
        clock_probe: Probe = ntp_synchronized,
        pin_factory: Any = None,
        notifier: SystemdNotifier | None = None,
        outbox_capacity: int = OUTBOX_CAPACITY,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.events: queue.Queue[DriverEvent] = queue.Queue()
        self.notifier = notifier or SystemdNotifier()
        self._stop = threading.Event()
        self._closed = False
        self._failures = 0
        self._closers: list[Callable[[], None]] = []
        self.outbox = Outbox(config.outbox_path, outbox_capacity, self.clock)
        self._closers.append(self.outbox.close)
        self.clock_sync = ClockSync(
            clock_probe, clock=self.clock, on_pin=self.outbox.save_clock_pin
        )
        self._closers.append(self.clock_sync.close)
        try:
            self.gate = wiring.build_gate(config, self.events, pin_factory, self.clock)
            self._closers.append(self.gate.close)
            self.gate.lock()
            self.drivers = wiring.build_inputs(config, self.events, self.clock)
            for driver in self.drivers.values():
                self._closers.append(driver.close)
            self.link = Link(
                config,
                self.outbox,
                on_site_config=self._site_config_arrived,
                health=self._health,
                clock_synced=lambda: self.clock_sync.synced,
                clock=self.clock,
            )
            self._closers.append(self.link.close)
        except BaseException:
            self._close_all()
            raise
        self.flow = CheckinFlow(
            config,
            self.outbox,
            self.gate,
            clock=self.clock,
            clock_synced=lambda: self.clock_sync.synced,
            online=lambda: self.link.connected,
            on_stored=self.link.notify,
            site=self._saved_site_config(),
            credential_inputs=frozenset(wiring.credential_inputs(self.drivers)),
        )

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> App:
        """Start the threads (drivers, clock probe, link) and tell systemd we are ready."""
        self.clock_sync.start()
        for name, driver in self.drivers.items():
            wiring.start(name, driver)
        self.link.start()
        self.notifier.ready()
        log.info("terminal %s (%s) ready in state %s", self.config.terminal.id,
                 self.config.terminal.direction, self.flow.state)  # fmt: skip
        return self

    def run(self) -> int:
        """The loop; returns the exit status once stopped."""
        next_ping = 0.0
        ping_every = (self.notifier.watchdog_s or 0.0) / 2
        try:
            self.start()
            while not self._stop.is_set():
                self.step(LOOP_TICK_S)
                now = self.clock.monotonic()
                if ping_every and now >= next_ping and self.healthy:
                    self.notifier.watchdog()
                    next_ping = now + ping_every
        finally:
            self.close()
        return 0

    def step(self, timeout: float = 0.0) -> None:
        """One turn of the loop: at most one event, then the timeouts. An error locks the
        gate and puts the flow back at rest; ``UNHEALTHY_AFTER`` in a row stop the watchdog."""
        try:
            event = self.events.get(timeout=timeout) if timeout else self.events.get_nowait()
        except queue.Empty:
            event = None
        try:
            if event is not None:
                self.flow.handle(event)
            self.flow.tick()
        except Exception:
            self._failures += 1
            log.exception("the flow failed on %s; gate locked", type(event).__name__)
            self._to_rest()
            return
        if event is not None:
            self._failures = 0

    def _to_rest(self) -> None:
        for action in (self.gate.lock, self.flow.abort):
            try:
                action()
            except Exception as exc:
                log.error("could not %s after an error: %s", action.__name__, exc)

    @property
    def healthy(self) -> bool:
        return self._failures < UNHEALTHY_AFTER

    def stop(self, *_: object) -> None:
        """Ask the loop to end (safe from a signal handler)."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: stopping", signal.Signals(signum).name)
            self.gate.fail_safe()
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def close(self) -> None:
        """Gate locked first, then drivers, link and outbox; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.notifier.stopping()
        with contextlib.suppress(Exception):
            self.gate.fail_safe()
        self._close_all()
        self.notifier.close()
        log.info("terminal %s stopped", self.config.terminal.id)

    def _close_all(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:
                log.exception("closing %s failed", getattr(closer, "__qualname__", closer))
        self._closers.clear()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- glue ----------------------------------------------------------------------------

    def _site_config_arrived(self, config: SiteConfig) -> None:
        self.events.put(SiteConfigReceived(config=config, at=self.clock.monotonic()))

    def _saved_site_config(self) -> SiteConfig | None:
        payload = self.outbox.load_site_config()
        if payload is None:
            return None
        try:
            return decode_site_config(payload)
        except BadMessage as exc:
            log.warning("saved site config unreadable, waiting for a new one: %s", exc)
            return None

    def _health(self) -> dict[str, str]:
        """The heartbeat's items (read on the link's thread): the flow's state, its faults
        (``none``, or their causes joined by ``,``), each credential input, and the tamper
        switch (``open``, ``closed``, or ``none`` without one)."""
        faults = dict(self.flow.faults)  # one atomic copy: the flow's thread changes it
        health = {
            "flow": self.flow.state,
            "fault": ",".join(sorted(faults)) or "none",
            "refused_shed": str(self.outbox.refused_shed),
        }
        for name in ("reader", "camera"):
            health[name] = self.flow.health.get(name, "none")
        health["tamper"] = self._tamper_state()
        return health

    def _tamper_state(self) -> str:
        if not self.config.gate.tamper_pin:
            return "none"
        return "open" if self.gate.tampered else "closed"
