"""``PcscCardReader``: the pyscard back-end of the eID port.

A thread watches one reader (the configured name prefix, or the first that appears) with
``SCardGetStatusChange``. When a card arrives it connects, holds a PC/SC transaction around
the whole read (DOMAIN.md section 5) and puts ``CardInserted`` / ``CardError`` on the
queue; ``CardRemoved`` when it leaves. If pcscd stops or the reader disappears it reports
``ReaderFault`` once, retries, and reports ``ReaderFault("ok")`` when the reader is back.
PC/SC result codes are translated by ``errors.from_hresult``; nothing of pyscard escapes.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from presence.clock import Clock, SystemClock
from terminal.drivers.eid.checkin import card_event
from terminal.drivers.eid.errors import (
    SCARD_E_CANCELLED,
    SCARD_E_NO_READERS_AVAILABLE,
    SCARD_E_TIMEOUT,
    CardGone,
    CardReadError,
    ReaderGone,
    from_hresult,
    unsigned,
)
from terminal.drivers.eid.protocol import ReadStats
from terminal.drivers.eid.session import card_session, ok, scard
from terminal.drivers.events import CardError, CardRemoved, DriverEvent, ReaderFault

log = logging.getLogger(__name__)

# Named timing constants (patchable): how long one status wait lasts before the loop looks
# at its stop flag again, and how often a missing service or reader is looked for.
STATUS_WAIT_S = 0.5
RETRY_S = 0.2
JOIN_TIMEOUT_S = 3.0

STATE_CHANGED = 0x0002
STATE_UNKNOWN = 0x0004
STATE_UNAVAILABLE = 0x0008
STATE_PRESENT = 0x0020
STATE_MUTE = 0x0200


class PcscCardReader:
    """Watches a PC/SC reader in its own thread; ``start()`` returns at once.

    ``reader_name``: a prefix of the reader's name; ``""`` takes the first reader listed.
    ``check_chip``: cross-check the chip number with GET CARD DATA (one more APDU).
    ``errors`` counts unexpected failures of the watch loop (each is logged).
    """

    def __init__(
        self,
        events: queue.Queue[DriverEvent],
        reader_name: str = "",
        clock: Clock | None = None,
        *,
        check_chip: bool = False,
    ) -> None:
        self._events = events
        self._reader_name = reader_name
        self._clock = clock or SystemClock()
        self._check_chip = check_chip
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._context: Any = None
        self._card_in = False
        self._fault_code: str | None = None
        self.reader: str | None = None
        self.errors = 0
        self.last_stats = ReadStats()

    # --- public ---------------------------------------------------------------------------

    def start(self) -> PcscCardReader:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="eid-reader", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop watching (idempotent); wakes the thread with ``SCardCancel``."""
        self._stop.set()
        context = self._context
        if context is not None:
            scard().SCardCancel(context)
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
            self._thread = None

    def __enter__(self) -> PcscCardReader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the loop -------------------------------------------------------------------------

    def _put(self, event: DriverEvent) -> None:
        self._events.put(event)

    def _now(self) -> float:
        return self._clock.monotonic()

    def _fault(self, code: str) -> None:
        if self._card_in:
            self._card_in = False
            self._put(CardRemoved(at=self._now()))
        if code != self._fault_code:
            log.warning("eID reader fault: %s", code)
            self._fault_code = code
            self._put(ReaderFault(code, at=self._now()))

    def _recovered(self) -> None:
        if self._fault_code is not None:
            log.info("eID reader back (%s)", self.reader)
            self._fault_code = None
            self._put(ReaderFault("ok", at=self._now()))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
            except ReaderGone as exc:
                self._fault(exc.code)
                self._stop.wait(RETRY_S)
            except Exception:  # the watch loop never dies silently: log, count, go on
                log.exception("eID reader loop failed")
                self.errors += 1
                self._fault("internal_error")
                self._stop.wait(RETRY_S)
            finally:
                self._release()

    def _release(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            scard().SCardReleaseContext(context)

    def _session(self) -> None:
        pcsc = scard()
        hresult, context = pcsc.SCardEstablishContext(pcsc.SCARD_SCOPE_USER)
        if not ok(hresult):
            raise ReaderGone("no_service", f"no PC/SC context: 0x{unsigned(hresult):08X}")
        self._context = context
        reader = self._find_reader(context)
        if reader is None:
            return
        self.reader = reader
        self._recovered()
        self._watch(context, reader)

    def _find_reader(self, context: Any) -> str | None:
        """The reader to watch; None when the loop is stopping."""
        pcsc = scard()
        while not self._stop.is_set():
            hresult, readers = pcsc.SCardListReaders(context, [])
            if ok(hresult):
                for name in readers:
                    if name.startswith(self._reader_name):
                        return str(name)
            elif unsigned(hresult) != SCARD_E_NO_READERS_AVAILABLE:
                raise from_hresult(hresult, "listing readers")
            self._fault("reader_gone")
            self._stop.wait(RETRY_S)
        return None

    def _watch(self, context: Any, reader: str) -> None:
        pcsc = scard()
        state = pcsc.SCARD_STATE_UNAWARE
        while not self._stop.is_set():
            wait_ms = int(STATUS_WAIT_S * 1000)
            hresult, states = pcsc.SCardGetStatusChange(context, wait_ms, [(reader, state)])
            if unsigned(hresult) in (SCARD_E_TIMEOUT, SCARD_E_CANCELLED):
                continue
            if not ok(hresult):
                error = from_hresult(hresult, "waiting for a card")
                if isinstance(error, ReaderGone):
                    raise error
                raise ReaderGone("no_service", str(error))
            event_state = int(states[0][1])
            state = event_state & ~STATE_CHANGED
            if event_state & (STATE_UNKNOWN | STATE_UNAVAILABLE):
                raise ReaderGone("reader_gone", "reader state unknown or unavailable")
            present = bool(event_state & STATE_PRESENT)
            if present and not self._card_in:
                self._card_in = True
                if event_state & STATE_MUTE:
                    log.warning("card does not answer (mute)")
                    self._put(CardError("read_error", at=self._now()))
                else:
                    self._read(context, reader, state)
            elif not present and self._card_in:
                self._card_in = False
                self._put(CardRemoved(at=self._now()))

    # --- one read -------------------------------------------------------------------------

    def _read(self, context: Any, reader: str, state: int) -> None:
        """Connect, read inside a transaction, disconnect; put the event (if any)."""
        try:
            event = self._read_card(context, reader, state)
        except CardGone:
            log.info("card left during the read: nothing kept")
            return
        except ReaderGone:
            raise
        except CardReadError as exc:
            log.warning("card read failed: %s (%s)", exc.code, exc)
            event = CardError("read_error", at=self._now())
        self._put(event)

    def _read_card(self, context: Any, reader: str, state: int) -> DriverEvent:
        self.last_stats = ReadStats()
        with card_session(context, reader, state) as transmit:
            return card_event(
                transmit, self._clock, stats=self.last_stats, check_chip=self._check_chip
            )
