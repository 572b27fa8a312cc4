"""A turnstile terminal on simulated hardware, driven like a person at the gate would.

It runs the real terminal program (``terminal.app.App``: flow, outbox, MQTT link) in a
thread, with the fake or emulated drivers its config chooses, and lets a script present a
card, show a QR code, type on the keypad and walk through the turnstile.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from presence.clock import Clock
from sim.belpic import BelpicCard
from sim.pcscd import CardSlot
from terminal.app import App
from terminal.config import TerminalConfig, load
from terminal.flows.checkin import Decided

DECISION_TIMEOUT_S = 10.0
PASSAGE_PULSE_S = 0.06  # longer than the sensor's debounce


def clock_is_synchronised() -> bool:
    return True


@dataclass(frozen=True)
class Outcome:
    terminal: str
    decided: Decided
    pattern: str


class VirtualTerminal:
    """``card_slot``: when given, cards go through pcscd + vpcd (the config must say
    ``[reader] backend = "pcsc"``); otherwise into the in-process ``FakeCardReader``.
    ``clock`` and ``clock_probe`` stand in for the Pi's clock and its NTP state (the fault
    campaign gives a terminal a wrong clock); by default the system clock, synchronised."""

    def __init__(
        self,
        config_path: Path | TerminalConfig,
        card_slot: CardSlot | None = None,
        *,
        clock: Clock | None = None,
        clock_probe: Callable[[], bool] = clock_is_synchronised,
    ) -> None:
        self.config = config_path if isinstance(config_path, TerminalConfig) else load(config_path)
        self.id = self.config.terminal.id
        self.app = App(self.config, clock=clock, clock_probe=clock_probe)
        self.card_slot = card_slot
        self._decisions: queue.Queue[tuple[Decided, str]] = queue.Queue()
        self.app.flow.observers.append(self._observe)
        self._thread = threading.Thread(target=self.app.run, name=f"terminal-{self.id}")

    def start(self) -> VirtualTerminal:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.app.stop()
        self._thread.join(timeout=10)

    # --- what a person does ----------------------------------------------------------------

    def present_card(self, card: BelpicCard) -> Outcome:
        if self.card_slot is not None:
            self.card_slot.insert(card, wait=True)
            try:
                return self._outcome()
            finally:
                self.card_slot.remove(wait=True)
        reader = self.app.drivers["reader"]
        reader.insert(card)
        try:
            return self._outcome()
        finally:
            reader.remove()

    def show_qr(self, text: str) -> Outcome:
        source = self.app.drivers["qr"].source
        source.show(text)
        try:
            return self._outcome()
        finally:
            source.show(None)

    def type_keys(self, text: str) -> Outcome:
        self.app.drivers["keypad"].type(text + "\n")
        return self._outcome()

    def walk_through(self) -> None:
        """The passage sensor (a contact to ground) closes and opens again."""
        pin: Any = self.app.gate.pin_factory.pin(self.config.gate.passage_pin)
        pin.drive_low()
        time.sleep(PASSAGE_PULSE_S)
        pin.drive_high()

    # --- what the site sees --------------------------------------------------------------

    @property
    def outbox_depth(self) -> int:
        return self.app.outbox.depth

    @property
    def online(self) -> bool:
        return bool(self.app.link.connected)

    def _observe(self, decided: Decided) -> None:
        """Called by the flow right after it decided: the gate shows the answer now."""
        self._decisions.put((decided, self.app.gate.pattern))

    def _outcome(self) -> Outcome:
        decided, pattern = self._decisions.get(timeout=DECISION_TIMEOUT_S)
        return Outcome(self.id, decided, pattern)
