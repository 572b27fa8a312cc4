"""Valid test identifiers: the check digits that fit are found by asking python-stdnum, so
no mod 97 is written here (DOMAIN.md section 2)."""

from __future__ import annotations

from collections.abc import Callable

from stdnum.be import eid, ssn


def _complete(stem: str, is_valid: Callable[[str], bool]) -> str:
    for check in range(100):
        candidate = f"{stem}{check:02d}"
        if is_valid(candidate):
            return candidate
    raise ValueError("no check digits fit this stem")


def with_inss_check(stem9: str) -> str:
    """``YYMMDDSSS`` (a BIS month too) completed to a valid national number."""
    return _complete(stem9, ssn.is_valid)


def with_card_check(first_ten: str) -> str:
    """A 12-digit Belgian eID card number: ``first_ten`` and its check digits."""
    return _complete(first_ten, eid.is_valid)
