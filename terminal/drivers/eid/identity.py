"""What a check-in learns from the identity file (4031) of a Belgian eID or foreigner card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from presence.ids import CompanyId, Inss

BirthDatePrecision = Literal["day", "month", "year"]


@dataclass(frozen=True, slots=True)
class BirthDate:
    """A birth date as printed on the card: the raw text, and what could be read from it.

    ``value`` holds the date (day 1 / January 1 where ``precision`` is coarser; never a guess
    presented as a day); ``value`` is None when not even the year could be read.
    """

    raw: str
    value: date | None
    precision: BirthDatePrecision | None


@dataclass(frozen=True, slots=True)
class Identity:
    card_number: str
    chip_number: str  # hex
    valid_from: date
    valid_until: date
    national_number: Inss
    surname: str
    given_names: str
    third_initial: str
    nationality: str
    birth_place: str
    birth_date: BirthDate
    sex: str
    document_type: int
    labour_market: str | None = None
    employer_numbers: tuple[CompanyId, ...] = ()

    @property
    def is_foreigner_card(self) -> bool:
        return self.document_type not in (1, 6)

    def __repr__(self) -> str:  # never print names or the number in full
        return (
            f"Identity(card=***{self.card_number[-3:]}, nn={self.national_number.masked()}, "
            f"type={self.document_type})"
        )
