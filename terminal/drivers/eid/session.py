"""One PC/SC card session: connect, hold a transaction, hand out ``transmit``, let go.

The ``transmit`` it gives translates PC/SC failures (``errors.from_hresult``); a failed
exchange on a card that pcscd then sees leave becomes ``CardGone`` (a pulled card breaks the
link before pcscd's next presence poll notices).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from terminal.drivers.eid.errors import (
    SCARD_E_TIMEOUT,
    SCARD_S_SUCCESS,
    CardGone,
    CardReadError,
    ReaderGone,
    from_hresult,
    unsigned,
)
from terminal.drivers.eid.protocol import Transmit

REMOVAL_GRACE_S = 0.6  # pcscd polls card presence about every 400 ms
STATE_UNAWARE = 0x0000
STATE_PRESENT = 0x0020


def scard() -> ModuleType:
    """pyscard's PC/SC layer, imported on first use (no PC/SC work at import time)."""
    from smartcard import scard as module

    return module


def ok(hresult: int) -> bool:
    return unsigned(hresult) == SCARD_S_SUCCESS


@contextmanager
def pcsc_context() -> Iterator[Any]:
    """An established PC/SC context; ``ReaderGone("no_service")`` without pcscd."""
    pcsc = scard()
    hresult, context = pcsc.SCardEstablishContext(pcsc.SCARD_SCOPE_USER)
    if not ok(hresult):
        raise ReaderGone("no_service", f"no PC/SC context: 0x{unsigned(hresult):08X}")
    try:
        yield context
    finally:
        pcsc.SCardReleaseContext(context)


@contextmanager
def card_session(context: Any, reader: str, state: int = STATE_UNAWARE) -> Iterator[Transmit]:
    """Connect to the card in ``reader`` (last seen in ``state``) inside a transaction."""
    pcsc = scard()
    protocols = pcsc.SCARD_PROTOCOL_T0 | pcsc.SCARD_PROTOCOL_T1
    hresult, card, protocol = pcsc.SCardConnect(context, reader, pcsc.SCARD_SHARE_SHARED, protocols)
    if not ok(hresult):
        raise from_hresult(hresult, "connecting")
    try:
        hresult = pcsc.SCardBeginTransaction(card)
        if not ok(hresult):
            raise from_hresult(hresult, "beginning the transaction")
        pci = pcsc.SCARD_PCI_T0 if protocol == pcsc.SCARD_PROTOCOL_T0 else pcsc.SCARD_PCI_T1
        try:
            yield _transmitter(context, (reader, state), card, pci)
        finally:
            pcsc.SCardEndTransaction(card, pcsc.SCARD_LEAVE_CARD)
    finally:
        pcsc.SCardDisconnect(card, pcsc.SCARD_LEAVE_CARD)


def _transmitter(context: Any, watched: tuple[str, int], card: Any, pci: Any) -> Transmit:
    pcsc = scard()

    def transmit(apdu: bytes) -> tuple[bytes, int, int]:
        hresult, response = pcsc.SCardTransmit(card, pci, list(apdu))
        if not ok(hresult):
            error = from_hresult(hresult, "transmit")
        elif len(response) < 2:
            error = CardReadError("short_response", "reply without a status word")
        else:
            return bytes(response[:-2]), int(response[-2]), int(response[-1])
        if isinstance(error, CardGone | ReaderGone) or _still_present(context, watched):
            raise error
        raise CardGone(str(error))

    return transmit


def _still_present(context: Any, watched: tuple[str, int]) -> bool:
    """After a failed exchange, wait up to one pcscd polling period for a removal."""
    hresult, states = scard().SCardGetStatusChange(context, int(REMOVAL_GRACE_S * 1000), [watched])
    if unsigned(hresult) == SCARD_E_TIMEOUT:
        return True
    return ok(hresult) and bool(int(states[0][1]) & STATE_PRESENT)
