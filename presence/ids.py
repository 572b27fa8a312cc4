"""Identifiers of people, companies and workplaces, validated once at the edge.

Checksums come from python-stdnum (DOMAIN.md section 2). Error messages never repeat a
full number: they end up in logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum import exceptions as stdnum_errors
from stdnum.be import ssn, vat

from presence.errors import PresenceError

_SEPARATORS = re.compile(r"[\s.\-/]")
_WORKPLACE = re.compile(r"[A-Z0-9]{1,13}")
_NN = "national number"
_KBO = "enterprise number"
LIMOSA_MIN_LENGTH = 6
LIMOSA_MAX_LENGTH = 20


class InvalidIdentifier(PresenceError, ValueError):
    """An identifier failed validation. ``code`` is ``format``, ``length`` or ``checksum``."""

    def __init__(self, kind: str, code: str, detail: str) -> None:
        super().__init__(code, f"invalid {kind}: {detail}")
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Inss:
    """A national register number or BIS number (11 digits, checksum verified)."""

    digits: str

    def __str__(self) -> str:
        d = self.digits
        return f"{d[0:2]}.{d[2:4]}.{d[4:6]}-{d[6:9]}.{d[9:11]}"

    def __repr__(self) -> str:
        return f"Inss({self.masked()!r})"

    @property
    def is_bis(self) -> bool:
        return int(self.digits[2:4]) >= 20

    def masked(self) -> str:
        d = self.digits
        return f"{d[0:2]}.{d[2:4]}.{d[4:6]}-***.**"


@dataclass(frozen=True, slots=True)
class CompanyId:
    """A KBO/BCE enterprise number, held in its 10-digit form."""

    digits: str

    def __str__(self) -> str:
        d = self.digits
        return f"{d[0:4]}.{d[4:7]}.{d[7:10]}"

    @property
    def wire(self) -> int:
        """The integer form NSSO's CompanyID wants (the leading 0 dropped)."""
        return int(self.digits)

    def masked(self) -> str:
        return str(self)  # an enterprise number is public


@dataclass(frozen=True, slots=True)
class LimosaId:
    """The id of a Limosa declaration (posted workers). Opaque: only its shape is checked."""

    digits: str

    def __str__(self) -> str:
        return self.digits

    def __repr__(self) -> str:
        return f"LimosaId({self.masked()!r})"

    def masked(self) -> str:
        return self.digits[:3] + "*" * (len(self.digits) - 5) + self.digits[-2:]


@dataclass(frozen=True, slots=True)
class WorkplaceId:
    """A workplace number from the Declaration of Works (up to 13 letters and digits)."""

    value: str

    def __str__(self) -> str:
        return self.value

    def masked(self) -> str:
        return self.value  # a site number is printed on the poster at the gate


PersonId = Inss | LimosaId


def _compact(text: str) -> str:
    return _SEPARATORS.sub("", text.strip())


def parse_inss(text: str) -> Inss:
    """Accept ``85073003328``, ``85.07.30-033.28`` or with inner spaces; BIS numbers too."""
    if not isinstance(text, str):
        raise InvalidIdentifier("national number", "format", "not text")
    number = _compact(text)
    if number and (not number.isascii() or not number.isdigit()):
        raise InvalidIdentifier("national number", "format", "only digits and . - separators")
    if len(number) != 11:
        raise InvalidIdentifier("national number", "length", f"{len(number)} digits, expected 11")
    try:
        ssn.validate(number)
    except stdnum_errors.InvalidChecksum:
        raise InvalidIdentifier(_NN, "checksum", "check digits do not match") from None
    except stdnum_errors.ValidationError:
        raise InvalidIdentifier(_NN, "format", "birth date part is impossible") from None
    return Inss(number)


def parse_company_id(text: str) -> CompanyId:
    """Accept 9 or 10 digits, with dots, spaces and a ``BE`` prefix."""
    if not isinstance(text, str):
        raise InvalidIdentifier("enterprise number", "format", "not text")
    number = _compact(text).upper()
    number = number.removeprefix("BE")
    if not number.isascii() or not number.isdigit():
        raise InvalidIdentifier("enterprise number", "format", "only digits, dots and BE prefix")
    if len(number) == 9:
        number = "0" + number
    if len(number) != 10:
        raise InvalidIdentifier("enterprise number", "length", f"{len(number)} digits, expected 10")
    try:
        vat.validate(number)
    except stdnum_errors.InvalidChecksum:
        raise InvalidIdentifier(_KBO, "checksum", "check digits do not match") from None
    except stdnum_errors.ValidationError:
        raise InvalidIdentifier("enterprise number", "format", "must start with 0 or 1") from None
    return CompanyId(number)


def parse_limosa_id(text: str) -> LimosaId:
    """A Limosa id: digits only, of a sane length (no public checksum is known)."""
    if not isinstance(text, str):
        raise InvalidIdentifier("Limosa id", "format", "not text")
    number = _compact(text)
    if not number.isascii() or not number.isdigit():
        raise InvalidIdentifier("Limosa id", "format", "only digits")
    if not LIMOSA_MIN_LENGTH <= len(number) <= LIMOSA_MAX_LENGTH:
        raise InvalidIdentifier(
            "Limosa id",
            "length",
            f"{len(number)} digits, expected {LIMOSA_MIN_LENGTH} to {LIMOSA_MAX_LENGTH}",
        )
    return LimosaId(number)


def parse_workplace_id(text: str) -> WorkplaceId:
    """A WorkPlaceId: 1 to 13 letters and digits, upper-cased."""
    if not isinstance(text, str):
        raise InvalidIdentifier("workplace id", "format", "not text")
    value = text.strip().upper()
    if not value:
        raise InvalidIdentifier("workplace id", "length", "empty")
    if len(value) > 13:
        raise InvalidIdentifier("workplace id", "length", f"{len(value)} characters, at most 13")
    if not _WORKPLACE.fullmatch(value):
        raise InvalidIdentifier("workplace id", "format", "only letters A-Z and digits")
    return WorkplaceId(value)
