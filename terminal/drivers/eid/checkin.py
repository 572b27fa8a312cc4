"""One card in the reader, turned into the event the flow gets (shared by every back-end).

The driver reports; it does not decide: an expired card is ``CardError("card_expired")``
(validity end before today's date in Brussels), and the flow chooses what to do with it.
"""

from __future__ import annotations

import logging
import time

from presence.clock import Clock, brussels_date
from terminal.drivers.eid.errors import BadCardData, CardReadError, NotAnEid
from terminal.drivers.eid.protocol import ReadStats, Sleep, Transmit, read_identity
from terminal.drivers.events import CardError, CardInserted

log = logging.getLogger(__name__)

CARD_EXPIRED = "card_expired"
NOT_AN_EID = "not_an_eid"
READ_ERROR = "read_error"
INVALID_NATIONAL_NUMBER = "invalid_national_number"
BAD_CARD_DATA = "bad_card_data"


def card_event(
    transmit: Transmit,
    clock: Clock,
    *,
    stats: ReadStats | None = None,
    sleep: Sleep = time.sleep,
    check_chip: bool = False,
) -> CardInserted | CardError:
    """Read the card behind ``transmit`` and say what it is.

    ``CardGone`` and ``ReaderGone`` raised by ``transmit`` pass through: the caller knows
    whether that means a removed card or a reader fault.
    """
    stats = stats if stats is not None else ReadStats()
    try:
        identity = read_identity(transmit, stats=stats, sleep=sleep, check_chip=check_chip)
    except NotAnEid as exc:
        log.info("not an eID card (%s)", exc)
        return CardError(NOT_AN_EID, at=clock.monotonic())
    except BadCardData as exc:
        log.warning("identity file refused: %s (%s)", exc.code, exc)
        code = INVALID_NATIONAL_NUMBER if exc.code == INVALID_NATIONAL_NUMBER else BAD_CARD_DATA
        return CardError(code, at=clock.monotonic())
    except CardReadError as exc:
        log.warning("card read failed: %s (%s)", exc.code, exc)
        return CardError(READ_ERROR, at=clock.monotonic())
    if identity.valid_until < brussels_date(clock.now()):
        log.info("expired card read in %d APDUs", stats.apdus)
        return CardError(CARD_EXPIRED, at=clock.monotonic())
    log.info("card read in %d APDUs, %d bytes", stats.apdus, stats.bytes_received)
    return CardInserted(identity, apdu_count=stats.apdus, at=clock.monotonic())
