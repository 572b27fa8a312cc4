"""PC/SC failures translated into the driver's own errors (DOMAIN.md section 5)."""

import pytest
from smartcard.Exceptions import CardConnectionException, NoCardException

from terminal.drivers.eid import CardGone, CardReadError, EidError, ReaderGone
from terminal.drivers.eid.errors import from_hresult, from_pyscard


@pytest.mark.parametrize(
    ("hresult", "kind", "code"),
    [
        (0x80100069, CardGone, "card_removed"),
        (0x8010000C, CardGone, "card_removed"),
        (0x80100068, CardReadError, "card_reset"),
        (0x80100017, ReaderGone, "reader_gone"),
        (0x8010002F, CardReadError, "data_lost"),
        (0x8010001D, ReaderGone, "no_service"),
        (0x8010001E, ReaderGone, "no_service"),
        (0x80100066, CardReadError, "card_mute"),
        (0x80100099, CardReadError, "pcsc_error"),
    ],
)
def test_pcsc_codes(hresult: int, kind: type[EidError], code: str) -> None:
    error = from_hresult(hresult, "testing")
    assert (type(error), error.code) == (kind, code)


def test_negative_hresults_are_read_as_unsigned() -> None:
    assert isinstance(from_hresult(0x80100069 - (1 << 32), "testing"), CardGone)


def test_pyscard_exceptions_carry_their_hresult() -> None:
    removed = CardConnectionException("gone", hresult=0x80100069 - (1 << 32))
    assert isinstance(from_pyscard(removed, "transmit"), CardGone)
    gone = from_pyscard(CardConnectionException("x", hresult=0x80100017), "connect")
    assert (type(gone), gone.code) == (ReaderGone, "reader_gone")


def test_no_card_exception_without_hresult_is_a_removed_card() -> None:
    assert isinstance(from_pyscard(NoCardException("no card", hresult=-1), "connect"), CardGone)
