"""Birth dates as printed in the identity file (tag 0C), in French, Dutch and German.

Shapes (DOMAIN.md section 5): ``01 JAN 1971``, ``08 MAAR 1980``, ``26 AVR  1975``,
``13.AUG. 1996``, ``23.SEP.1982``, year only ``1984`` or ``        1962``. A shape we cannot
read keeps its raw text with no value: never a guessed day or month.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from terminal.drivers.eid.identity import BirthDate

# Month abbreviations (FR, NL, DE), compared without accents and upper-cased.
MONTHS: dict[str, int] = {
    "JAN": 1,
    "JANV": 1,
    "FEV": 2,
    "FEB": 2,
    "MARS": 3,
    "MAAR": 3,
    "MAR": 3,  # German MÄR once its accent is dropped
    "MRZ": 3,
    "AVR": 4,
    "APR": 4,
    "MAI": 5,
    "MEI": 5,
    "JUIN": 6,
    "JUN": 6,
    "JUIL": 7,
    "JUL": 7,
    "AOUT": 8,
    "AUG": 8,
    "SEPT": 9,
    "SEP": 9,
    "OCT": 10,
    "OKT": 10,
    "NOV": 11,
    "DEC": 12,
    "DEZ": 12,
}

_WORDY = re.compile(r"(\d{1,2})[\s.]+([A-Z]+)[\s.]*(\d{4})")
_NUMERIC = re.compile(r"(\d{1,2})[.\-/ ](\d{1,2})[.\-/ ](\d{4})")
_YEAR = re.compile(r"(\d{4})")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.upper())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def _make(raw: str, year: int, month: int, day: int) -> BirthDate:
    try:
        if month == 0:
            return BirthDate(raw, date(year, 1, 1), "year")
        if day == 0:
            return BirthDate(raw, date(year, month, 1), "month")
        return BirthDate(raw, date(year, month, day), "day")
    except ValueError:
        return BirthDate(raw, None, None)


def parse_birth_date(raw: str) -> BirthDate:
    """Read what can be read of ``raw``; unknown day or month (``00``) lowers the precision."""
    text = _fold(raw)
    if match := _WORDY.fullmatch(text):
        month = MONTHS.get(match[2])
        if month is None:
            return BirthDate(raw, None, None)
        return _make(raw, int(match[3]), month, int(match[1]))
    if match := _NUMERIC.fullmatch(text):
        return _make(raw, int(match[3]), int(match[2]), int(match[1]))
    if match := _YEAR.fullmatch(text):
        return _make(raw, int(match[1]), 0, 0)
    return BirthDate(raw, None, None)
