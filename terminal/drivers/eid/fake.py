"""``FakeCardReader``: the in-process eID back-end, a test instrument (CONVENTIONS habit 1).

A test inserts a card object (anything with ``transmit(apdu) -> (data, sw1, sw2)``, such as
``sim.belpic.BelpicCard``); the reader reads it at once, in the caller's thread, with the
same protocol code as the PC/SC back-end, and puts the resulting event on the queue. Every
APDU is recorded in ``apdus`` and every protocol delay in ``sleeps`` (none is really slept).
"""

from __future__ import annotations

import logging
import queue
from typing import Protocol

from presence.clock import Clock, SystemClock
from terminal.drivers.eid.checkin import card_event
from terminal.drivers.eid.errors import CardGone, EidError, ReaderGone
from terminal.drivers.eid.protocol import ReadStats
from terminal.drivers.events import CardRemoved, DriverEvent, ReaderFault

log = logging.getLogger(__name__)


class Card(Protocol):
    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]: ...


class FakeCardReader:
    """In-process reader: ``insert(card)``, ``remove()``, ``fault(code)``, ``recover()``."""

    def __init__(
        self,
        events: queue.Queue[DriverEvent],
        clock: Clock | None = None,
        *,
        check_chip: bool = False,
    ) -> None:
        self._events = events
        self._clock = clock or SystemClock()
        self._check_chip = check_chip
        self._card: Card | None = None
        self._closed = False
        self.apdus: list[bytes] = []
        self.sleeps: list[float] = []
        self.last_stats = ReadStats()

    @property
    def card_present(self) -> bool:
        return self._card is not None

    def start(self) -> None:
        """Nothing to start: present for symmetry with ``PcscCardReader``."""

    def insert(self, card: Card) -> None:
        """Put ``card`` in the reader (removing any card already in it) and read it."""
        if self._closed:
            raise EidError("closed", "the reader is closed")
        if self._card is not None:
            self.remove()
        self._card = card
        self.last_stats = ReadStats()

        def transmit(apdu: bytes) -> tuple[bytes, int, int]:
            self.apdus.append(bytes(apdu))
            return card.transmit(bytes(apdu))

        try:
            event = card_event(
                transmit,
                self._clock,
                stats=self.last_stats,
                sleep=self.sleeps.append,
                check_chip=self._check_chip,
            )
        except CardGone:
            log.info("card removed during the read")
            self.remove()
            return
        except ReaderGone as exc:
            self._card = None
            self.fault(exc.code)
            return
        self._events.put(event)

    def remove(self) -> None:
        """Take the card out (nothing happens when the reader is empty)."""
        if self._card is None:
            return
        self._card = None
        self._events.put(CardRemoved(at=self._clock.monotonic()))

    def fault(self, code: str = "reader_gone") -> None:
        """Play a reader fault (``reader_gone``, ``no_service``)."""
        self._events.put(ReaderFault(code, at=self._clock.monotonic()))

    def recover(self) -> None:
        self._events.put(ReaderFault("ok", at=self._clock.monotonic()))

    def close(self) -> None:
        self._closed = True
        self._card = None

    def __enter__(self) -> FakeCardReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
