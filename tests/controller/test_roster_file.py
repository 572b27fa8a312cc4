"""Reading roster files the way Belgian site managers keep them (no store involved)."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from controller.errors import RosterError
from controller.roster_file import MAX_UPLOAD_BYTES, BadRow, Upload, parse_row, read_upload
from tests.controller.support import COMPANY, OTHER_COMPANY, inss, limosa


def _rows(upload: Upload):
    table = read_upload(upload)
    return table, [(line, parse_row(values)) for line, values, problem in table.rows if not problem]


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_dutch_columns_semicolons_bom_and_day_first_dates():
    text = (
        "\ufeffRijksregisternummer;Naam;Voornaam;Ondernemingsnummer;Geldig van;Geldig tot\n"
        f"{inss(1)};Peeters;Jan;BE 0403.170.701;01/03/2026;30-06-2026\n"
    )
    table, rows = _rows(Upload("ploeg.csv", text.encode()))
    assert table.file_format == "csv"
    assert table.columns["person"] == "Rijksregisternummer"
    ((line, row),) = rows
    assert line == 2
    assert (row.person_kind, row.person_id, row.company_id) == ("inss", inss(1).digits, COMPANY)
    assert row.name == "Jan Peeters"
    assert (row.valid_from, row.valid_to) == (date(2026, 3, 1), date(2026, 6, 30))


def test_french_columns_in_windows_1252_with_accents():
    text = (
        "NISS,Prénom,Nom,Numéro BCE,Valable du,Valable au\n"
        f"{inss(2).digits},Zoé,Dubois-Lefèvre,{OTHER_COMPANY},2026-03-01,\n"
    )
    _table, ((_line, row),) = _rows(Upload("équipe.csv", text.encode("cp1252")))
    assert row.name == "Zoé Dubois-Lefèvre"
    assert row.company_id == OTHER_COMPANY and row.valid_to is None
    assert row.carried == frozenset({"valid_from", "valid_to", "name"})


def test_german_columns_and_a_title_line_above_the_header():
    text = (
        "Baustelle Eupen, Woche 10\n"
        "\n"
        "INSZ,Vorname,Nachname,Arbeitgeber,Gültig ab,Gültig bis\n"
        f"{inss(3)},Jörg,Schmitz,{COMPANY},02.03.2026,31.12.2026\n"
    )
    table, ((line, row),) = _rows(Upload("team.csv", text.encode()))
    assert table.header_line == 3 and line == 4
    assert row.name == "Jörg Schmitz" and row.valid_to == date(2026, 12, 31)


def test_a_limosa_column_links_a_national_number_or_stands_alone():
    text = f"INSS;limosa;werkgever\n{inss(4)};{limosa(4)};{COMPANY}\n;{limosa(5)};\n"
    _table, rows = _rows(Upload("crew.csv", text.encode()))
    (_l1, linked), (_l2, posted) = rows
    assert (linked.person_kind, linked.limosa_id) == ("inss", limosa(4).digits)
    assert (posted.person_kind, posted.person_id, posted.company_id) == (
        "limosa",
        limosa(5).digits,
        "",
    )


def test_a_column_of_employer_names_gives_way_to_the_enterprise_number():
    text = f"INSZ;Werkgever;KBO\n{inss(1)};Bouw NV;{COMPANY}\n"
    table, ((_line, row),) = _rows(Upload("crew.csv", text.encode()))
    assert row.company_id == COMPANY
    assert table.ignored == ["Werkgever"]


def test_unknown_columns_are_ignored_and_listed():
    text = f"person;employer;functie;gsm\n{inss(1)};{COMPANY};metser;0470\n"
    table, rows = _rows(Upload("crew.csv", text.encode()))
    assert len(rows) == 1 and table.ignored == ["functie", "gsm"]


def test_a_national_number_column_refuses_a_short_number_instead_of_taking_it_for_limosa():
    with pytest.raises(BadRow) as caught:
        parse_row({"person": inss(1).digits[1:], "employer": COMPANY, "_inss_only": True})
    assert caught.value.code == "bad_identifier" and "national number" in str(caught.value)


def test_xlsx_with_date_cells_and_numbers_excel_kept():
    data = _xlsx(
        [
            ["Ploeg week 10"],
            ["Rijksregisternummer", "Naam", "KBO", "Geldig van", "Geldig tot"],
            [int(inss(1).digits), "Jan Peeters", int(COMPANY), datetime(2026, 3, 1), None],
        ]
    )
    table, ((line, row),) = _rows(Upload("ploeg.xlsx", data))
    assert table.file_format == "xlsx" and line == 3
    assert row.person_id == inss(1).digits and row.company_id == COMPANY  # 9 digits padded
    assert row.valid_from == date(2026, 3, 1) and row.name == "Jan Peeters"


def test_xlsx_national_number_that_lost_its_leading_zero_gets_it_back():
    person = "01020300240"  # born 2001: Excel shows 1020300245 in a number cell
    row = parse_row({"person": int(person), "employer": COMPANY})
    assert row.person_id == person


def test_xlsx_limosa_id_rounded_by_excel_is_refused_with_what_to_do():
    with pytest.raises(BadRow) as caught:
        parse_row({"limosa": float(limosa(1).digits)})
    assert caught.value.code == "excel_rounded" and "as text" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"%PDF-1.7\n\x00\x01binary", "not_a_table"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel", "not_a_table"),
        (b"PK\x03\x04not really a zip", "unreadable"),
        (b"   \n", "empty"),
        (b"a" * (MAX_UPLOAD_BYTES + 1), "too_large"),
        (b"naam;functie\nJan;metser\n", "header"),
    ],
)
def test_a_file_that_is_no_roster_is_refused_whole(data, code):
    with pytest.raises(RosterError) as caught:
        read_upload(Upload("upload", data))
    assert caught.value.code == code


def test_bad_rows_say_why_with_stable_codes():
    cases = {
        "no_person": {"person": "", "employer": COMPANY},
        "no_employer": {"person": str(inss(1)), "employer": ""},
        "bad_identifier": {"person": str(inss(1)), "employer": "0403170702"},
        "bad_date": {"person": str(inss(1)), "employer": COMPANY, "valid_from": "1/3/26"},
        "bad_dates": {
            "person": str(inss(1)),
            "employer": COMPANY,
            "valid_from": "02/03/2026",
            "valid_to": "01/03/2026",
        },
    }
    for code, values in cases.items():
        with pytest.raises(BadRow) as caught:
            parse_row(values)
        assert caught.value.code == code, code
        assert inss(1).digits not in str(caught.value)
