"""Birth dates in the shapes the cards print them (DOMAIN.md section 5)."""

from datetime import date

import pytest

from terminal.drivers.eid.birthdate import parse_birth_date


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("01 JAN 1971", date(1971, 1, 1)),
        ("08 MAAR 1980", date(1980, 3, 8)),
        ("26 AVR  1975", date(1975, 4, 26)),
        ("13.AUG. 1996", date(1996, 8, 13)),
        ("22.DEZ. 1997", date(1997, 12, 22)),
        ("23.SEP.1982", date(1982, 9, 23)),
        ("03 FEV 1990", date(1990, 2, 3)),
        ("03 FÉV 1990", date(1990, 2, 3)),
        ("14 MARS 1977", date(1977, 3, 14)),
        ("14.MÄR. 1977", date(1977, 3, 14)),
        ("01 JUIN 2001", date(2001, 6, 1)),
        ("01 JUIL 2001", date(2001, 7, 1)),
        ("15 AOUT 1966", date(1966, 8, 15)),
        ("15 AOÛT 1966", date(1966, 8, 15)),
        ("09 SEPT 1959", date(1959, 9, 9)),
        ("31 OKT 1988", date(1988, 10, 31)),
        ("31 OCT 1988", date(1988, 10, 31)),
        ("02 MEI 1999", date(1999, 5, 2)),
        ("02 MAI 1999", date(1999, 5, 2)),
        ("30 NOV 1950", date(1950, 11, 30)),
        ("25 DEC 1950", date(1950, 12, 25)),
        ("1.APR.1991", date(1991, 4, 1)),
    ],
)
def test_day_month_year_shapes_in_three_languages(raw: str, expected: date) -> None:
    birth = parse_birth_date(raw)
    assert (birth.value, birth.precision, birth.raw) == (expected, "day", raw)


@pytest.mark.parametrize("raw", ["1984", "        1962"])
def test_year_only_keeps_year_precision(raw: str) -> None:
    birth = parse_birth_date(raw)
    assert (birth.value, birth.precision, birth.raw) == (date(int(raw), 1, 1), "year", raw)


def test_unknown_day_lowers_precision_to_month() -> None:
    birth = parse_birth_date("00 MAI 1970")
    assert (birth.value, birth.precision) == (date(1970, 5, 1), "month")


@pytest.mark.parametrize("raw", ["", "31 FEB 1990", "12 XYZ 1990", "sometime", "30 JUL 85"])
def test_unreadable_dates_keep_the_raw_text_and_no_value(raw: str) -> None:
    birth = parse_birth_date(raw)
    assert (birth.raw, birth.value, birth.precision) == (raw, None, None)
