"""The exception root of the eID driver, and the translation of PC/SC failures into it.

Every error carries a stable ``code``. pyscard's own exceptions and PC/SC result codes
(DOMAIN.md section 5) are translated here and never leave the driver.
"""

from __future__ import annotations


class EidError(Exception):
    """Base of every error of ``terminal.drivers.eid``; ``code`` is stable."""

    code: str = "eid_error"

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


class BadCardData(EidError):
    """The identity file is truncated or inconsistent (``truncated``, ``missing_field``,
    ``bad_date``, ``bad_text``, ``duplicate_tag``, ``bad_document_type``,
    ``bad_employer_number``, ``invalid_national_number``...)."""


class NotAnEid(EidError):
    """The card has no BELPIC applet or no identity file (``not_an_eid``)."""

    def __init__(self, message: str = "") -> None:
        super().__init__("not_an_eid", message)


class CardReadError(EidError):
    """The card answered, but not like an eID should (an unexpected status word, a file over
    the size cap, a 6Cxx loop...), or the link to it failed while it stayed inserted."""


class CardGone(EidError):
    """The card left the reader (or was reset) during the read: discard everything read."""

    def __init__(self, message: str = "") -> None:
        super().__init__("card_removed", message)


class ReaderGone(EidError):
    """The reader or the PC/SC service is not there (``reader_gone``, ``no_service``)."""


# PC/SC result codes (DOMAIN.md section 5 and pcsc-lite's list), unsigned 32-bit.
SCARD_S_SUCCESS = 0x00000000
SCARD_E_CANCELLED = 0x80100002
SCARD_E_INVALID_HANDLE = 0x80100003
SCARD_E_UNKNOWN_READER = 0x80100009
SCARD_E_TIMEOUT = 0x8010000A
SCARD_E_SHARING_VIOLATION = 0x8010000B
SCARD_E_NO_SMARTCARD = 0x8010000C
SCARD_E_NOT_TRANSACTED = 0x80100016
SCARD_E_READER_UNAVAILABLE = 0x80100017
SCARD_F_COMM_ERROR = 0x80100013
SCARD_E_NO_SERVICE = 0x8010001D
SCARD_E_SERVICE_STOPPED = 0x8010001E
SCARD_E_NO_READERS_AVAILABLE = 0x8010002E
SCARD_E_COMM_DATA_LOST = 0x8010002F
SCARD_W_UNRESPONSIVE_CARD = 0x80100066
SCARD_W_UNPOWERED_CARD = 0x80100067
SCARD_W_RESET_CARD = 0x80100068
SCARD_W_REMOVED_CARD = 0x80100069

_CARD_GONE = {SCARD_W_REMOVED_CARD, SCARD_E_NO_SMARTCARD}
_READER_GONE = {SCARD_E_READER_UNAVAILABLE, SCARD_E_UNKNOWN_READER, SCARD_E_NO_READERS_AVAILABLE}
_NO_SERVICE = {
    SCARD_E_NO_SERVICE,
    SCARD_E_SERVICE_STOPPED,
    SCARD_F_COMM_ERROR,
    SCARD_E_INVALID_HANDLE,
}
_CARD_CODES = {
    SCARD_W_RESET_CARD: "card_reset",
    SCARD_E_COMM_DATA_LOST: "data_lost",
    SCARD_W_UNRESPONSIVE_CARD: "card_mute",
    SCARD_W_UNPOWERED_CARD: "card_unpowered",
    SCARD_E_SHARING_VIOLATION: "reader_busy",
    SCARD_E_NOT_TRANSACTED: "not_transacted",
}


def unsigned(hresult: int) -> int:
    """PC/SC codes reach Python signed or unsigned depending on the platform."""
    return hresult & 0xFFFFFFFF


def from_hresult(hresult: int, doing: str) -> EidError:
    """The error of ours that a failed PC/SC call (``doing`` names it) stands for."""
    code = unsigned(hresult)
    where = f"{doing}: PC/SC 0x{code:08X}"
    if code in _CARD_GONE:
        return CardGone(where)
    if code in _READER_GONE:
        return ReaderGone("reader_gone", where)
    if code in _NO_SERVICE:
        return ReaderGone("no_service", where)
    return CardReadError(_CARD_CODES.get(code, "pcsc_error"), where)


def from_pyscard(exc: Exception, doing: str) -> EidError:
    """Translate a pyscard exception (``CardConnectionException``, ``NoCardException``...):
    they carry the PC/SC code in ``hresult`` (possibly negative)."""
    hresult = getattr(exc, "hresult", None)
    if isinstance(hresult, int) and hresult not in (-1, 0):
        return from_hresult(hresult, doing)
    if type(exc).__name__ == "NoCardException":
        return CardGone(f"{doing}: no card")
    return CardReadError("pcsc_error", f"{doing}: {type(exc).__name__}")
