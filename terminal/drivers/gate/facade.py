"""``Gate``: the turnstile's outputs and inputs behind one small interface.

The flow calls ``show(pattern)``, ``admit()`` and ``lock()``; the gate puts ``Passed``,
``NotPassed``, ``Forced``, ``Tampered`` and ``ExitRequested`` on the flow's queue. It decides
nothing about admission. Call ``fail_safe()`` from the program's SIGTERM handler (see
``install_sigterm_hook``); ``close()`` and leaving the ``with`` block apply the safe state too.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from typing import Any

from gpiozero import GPIOPinInUse, GPIOZeroError

from presence.clock import Clock, SystemClock
from terminal.drivers.events import DriverEvent, ExitRequested, Tampered
from terminal.drivers.gate.config import GateConfig
from terminal.drivers.gate.errors import GateError
from terminal.drivers.gate.indicators import Indicators
from terminal.drivers.gate.patterns import DEFAULT_PATTERN, PATTERNS, Pattern
from terminal.drivers.gate.pins import make_pin_factory
from terminal.drivers.gate.player import PatternPlayer
from terminal.drivers.gate.relay import Relay
from terminal.drivers.gate.safety import guarding
from terminal.drivers.gate.scheduler import Scheduler, ThreadScheduler
from terminal.drivers.gate.sensors import ExitButton, Opening, PassageWatch, TamperSwitch

log = logging.getLogger(__name__)

TAMPERED = "tampered"


class Gate:
    def __init__(
        self,
        config: GateConfig,
        events: queue.Queue[DriverEvent],
        pin_factory: Any = None,
        clock: Clock | None = None,
        *,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.config = config
        self._events = events
        self._clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._closed = False
        self._tampered = False
        self._base: Pattern = PATTERNS[DEFAULT_PATTERN]
        self._relay: Relay | None = None
        self._player: PatternPlayer | None = None
        self._indicators: Indicators | None = None
        self._passage: PassageWatch | None = None
        self._tamper: TamperSwitch | None = None
        self._exit: ExitButton | None = None
        self._own_scheduler = scheduler is None
        self._scheduler: Scheduler = scheduler or ThreadScheduler(self._clock)
        self._factory: Any = pin_factory
        try:
            if pin_factory is None:
                self._factory = make_pin_factory(config.pin_factory)
            self._build(self._factory)
        except GPIOPinInUse as exc:
            self._close_parts()
            raise GateError("pin_in_use", f"a gate pin is already in use: {exc}") from exc
        except GPIOZeroError as exc:
            self._close_parts()
            raise GateError("gpio_unavailable", f"cannot set up the gate GPIO: {exc}") from exc
        except BaseException:
            self._close_parts()
            raise
        atexit.register(self.fail_safe)
        log.info("gate ready: relay on GPIO%s, %s indicator", config.relay_pin, config.indicator)

    # --- what the flow calls ---------------------------------------------------------------

    def show(self, pattern: str) -> None:
        """Play a pattern of ``PATTERNS``; it interrupts the one on show."""
        chosen = PATTERNS.get(pattern)
        if chosen is None:
            raise GateError("unknown_pattern", f"no feedback pattern named {pattern!r}")
        with self._lock:
            if self._closed or self._player is None:
                log.debug("pattern %s after close: ignored", pattern)
                return
            if chosen.permanent and chosen.name != TAMPERED:
                self._base = chosen
                if self._tampered:
                    return  # the tamper alarm stays the background until the switch closes
            self._player.play(chosen)

    def admit(self) -> None:
        """Pulse the relay for ``pulse_s`` and open the passage window."""
        with self._lock:
            self._open(Opening.ADMISSION)

    def lock(self) -> None:
        """Lock now, ending a pulse in progress (open passage windows keep running)."""
        with self._lock:
            if self._relay is not None:
                self._relay.lock()

    def fail_safe(self) -> None:
        """The safe state (locked, or released if ``fail_open``): the SIGTERM hook."""
        if self._relay is not None:
            self._relay.fail_safe()

    def close(self) -> None:
        """Safe state, lights off, pins released; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.fail_safe)
        self._close_parts()
        log.info("gate closed")

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- state, for the flow's status report and for tests -----------------------------------

    @property
    def relay_released(self) -> bool:
        return self._relay is not None and self._relay.is_released

    @property
    def pattern(self) -> str | None:
        """The name of the pattern on show."""
        current = self._player.current if self._player is not None else None
        return current.name if current is not None else None

    @property
    def tampered(self) -> bool:
        return self._tampered

    @property
    def pin_factory(self) -> Any:
        """The gpiozero pin factory in use (None: gpiozero's default); with ``"mock"`` a demo
        drives the inputs through it (``pin_factory.pin(5).drive_low()``)."""
        return self._factory

    # --- inside ------------------------------------------------------------------------------

    def _build(self, factory: Any) -> None:
        config = self.config
        self._relay = Relay(
            config.relay_pin,
            active_high=config.relay_active_high,
            fail_open=config.fail_open,
            scheduler=self._scheduler,
            pin_factory=factory,
        )
        guard = guarding(self._relay.fail_safe)
        self._indicators = Indicators(config, factory)
        self._player = PatternPlayer(self._indicators, self._scheduler, self._base, guard)
        if config.passage_pin:
            self._passage = PassageWatch(
                config.passage_pin,
                window_s=config.passage_window_s,
                events=self._events,
                scheduler=self._scheduler,
                clock=self._clock,
                pin_factory=factory,
                guard=guard,
            )
        if config.tamper_pin:
            self._tamper = TamperSwitch(
                config.tamper_pin, on_change=self._tamper_changed, pin_factory=factory, guard=guard
            )
        if config.exit_button_pin:
            self._exit = ExitButton(
                config.exit_button_pin,
                on_press=self._exit_pressed,
                pin_factory=factory,
                guard=guard,
            )
        self._player.play(self._base)
        if self._tamper is not None and self._tamper.active:
            self._tamper_changed(True)

    def _open(self, opening: Opening) -> None:
        if self._closed or self._relay is None:
            raise GateError("closed", "the gate is closed")
        self._relay.pulse(self.config.pulse_s)
        if self._passage is not None:
            self._passage.expect(opening)

    def _tamper_changed(self, active: bool) -> None:
        with self._lock:
            if active == self._tampered or self._closed or self._player is None:
                return
            self._tampered = active
            self._events.put(Tampered(active=active, at=self._clock.monotonic()))
            if active:
                log.warning("tamper switch open")
                self._player.play(PATTERNS[TAMPERED])
            else:
                log.info("tamper switch closed again")
                self._player.play(self._base)

    def _exit_pressed(self) -> None:
        with self._lock:
            self._events.put(ExitRequested(at=self._clock.monotonic()))
            self._open(Opening.FREE_EXIT)

    def _close_parts(self) -> None:
        """Inputs first (no callback may pulse during close), then the relay to its safe
        state, then lights and timer; one part failing to close does not stop the others."""
        closers = [p.close for p in (self._passage, self._tamper, self._exit) if p is not None]
        closers += [p.close for p in (self._relay, self._player, self._indicators) if p is not None]
        if self._own_scheduler:
            closers.append(self._scheduler.close)
        for close in closers:
            try:
                close()
            except Exception:
                log.exception("closing the gate: %s failed", getattr(close, "__qualname__", close))
