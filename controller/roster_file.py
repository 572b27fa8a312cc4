"""Reading a roster file the way site managers keep them (Belgian habits).

* CSV separated by ``;`` (what Excel writes in Belgium) or ``,`` or tabs, sniffed from the
  header line; UTF-8 with or without BOM, else Windows-1252 (older Excel exports).
* XLSX, the first sheet, read with openpyxl in read-only mode (cells that are dates count as
  dates; numbers that Excel rounded are refused, not guessed).
* Column titles in Dutch, French, German or English (``rijksregisternummer``, ``INSZ``,
  ``numéro national``, ``NISS``, ``naam``/``nom``/``Name`` with ``voornaam``/``prénom``,
  ``werkgever``, ``ondernemingsnummer``, ``KBO``/``BCE``, ``limosa``, ``geldig van``/``tot``,
  ``valable du``/``au``...), matched without case, accents or punctuation; other columns
  are ignored and listed. The header may follow a few title lines.
* Dates as dd/mm/yyyy (also ``-`` or ``.``) or yyyy-mm-dd.

Only reading and checking live here; ``controller.roster`` decides what to store.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from controller.errors import RosterError
from presence.ids import InvalidIdentifier, parse_company_id, parse_inss, parse_limosa_id

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
HEADER_SEARCH_LINES = 10  # title lines a sheet may carry above its header
EXCEL_DIGITS = 15  # a number cell keeps at most 15 significant digits

FIELDS = ("person", "limosa", "name", "first_name", "employer", "valid_from", "valid_to")
OPTIONAL_FIELDS = ("valid_from", "valid_to", "name", "limosa_id")

# Column titles, normalised (lower case, no accents, letters and digits only). For the
# employer, titles naming a number come first: "werkgever" may hold the company's name.
_TITLES: dict[str, tuple[str, ...]] = {
    "person": (
        "person", "persoon", "personne", "inss", "insz", "niss", "ssin", "enss", "nrn", "rrn",
        "rijksregisternummer", "rijksregisternr", "rijksregister", "nationaalnummer",
        "nationalnumber", "nationalregisternumber", "numeronational", "nnational",
        "numeroderegistrenational", "numeroregistrenational", "nationalnummer",
        "nationalregisternummer", "bisnummer", "numerobis", "bisnumber", "inssnummer",
        "insznummer", "numeroniss",
    ),
    "limosa": (
        "limosa", "limosaid", "limosanummer", "limosanr", "numerolimosa", "limosanumber",
        "limosanummer", "l1", "limosadeclaratie", "declarationlimosa",
    ),
    "name": (
        "name", "naam", "nom", "achternaam", "familienaam", "nomdefamille", "surname",
        "lastname", "familyname", "nachname", "familienname", "volledigenaam", "fullname",
        "nomcomplet", "vollstandigername",
    ),
    "first_name": (
        "voornaam", "prenom", "vorname", "firstname", "givenname", "forename",
    ),
    "employer": (
        "employer", "ondernemingsnummer", "ondernemingsnr", "kbo", "kbonummer", "kbonr", "bce",
        "numerobce", "numerodentreprise", "numeroentreprise", "unternehmensnummer",
        "enterprisenumber", "companynumber", "companyid", "btw", "btwnummer", "tva",
        "numerotva", "vat", "vatnumber", "employerid",
    ),
    "employer_name": (
        "werkgever", "employeur", "arbeitgeber", "company", "firma", "bedrijf", "entreprise",
        "societe",
    ),
    "valid_from": (
        "validfrom", "geldigvan", "geldigvanaf", "vanaf", "van", "begindatum", "startdatum",
        "datumvan", "begin", "start", "startdate", "from", "valabledu", "valableapartirde",
        "du", "apartirde", "datededebut", "debut", "gultigab", "gultigvon", "ab", "von",
        "beginn", "anfangsdatum",
    ),
    "valid_to": (
        "validto", "validuntil", "geldigtot", "geldigtotenmet", "tot", "totenmet", "einddatum",
        "datumtot", "eind", "end", "enddate", "until", "to", "valableau", "valablejusqua", "au",
        "jusqua", "jusque", "datedefin", "fin", "gultigbis", "bis", "enddatum",
    ),
}  # fmt: skip
_FIELD_OF = {title: name for name, titles in _TITLES.items() for title in titles}
_EITHER_PERSON = ("person", "persoon", "personne")  # a national number or a Limosa id
_SEPARATORS = " .-/"


@dataclass(frozen=True, slots=True)
class Upload:
    """A roster file's name and bytes (a page's upload, or a file read from disk)."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class RosterRow:
    person_kind: str
    person_id: str
    company_id: str
    valid_from: date | None
    valid_to: date | None
    name: str | None = None
    limosa_id: str | None = None
    # The optional fields the file had a column for: the others keep the roster's value.
    carried: frozenset[str] = frozenset()


class BadRow(ValueError):
    """A row that cannot be imported; ``code`` is stable, the message says why in words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class Table:
    """A roster file read into rows of text keyed by our field names."""

    file_format: str
    columns: dict[str, str]  # field -> the file's title
    ignored: list[str]
    header_line: int
    rows: list[tuple[int, dict[str, Any], tuple[str, str] | None]] = field(default_factory=list)


def normalise_title(title: str) -> str:
    text = unicodedata.normalize("NFKD", str(title)).lower()
    return "".join(c for c in text if c.isascii() and c.isalnum())


def compact_digits(text: str) -> str | None:
    """The digits of ``text`` if it holds only digits and separators, else None."""
    text = text.strip()
    if not text or any(not (c.isdigit() or c in _SEPARATORS) for c in text):
        return None
    digits = "".join(c for c in text if c.isdigit())
    return digits if digits.isascii() and digits else None


# --- reading ---------------------------------------------------------------------------------


def read_upload(upload: Upload) -> Table:
    """Read a CSV or XLSX roster. ``RosterError`` codes: ``too_large``, ``empty``,
    ``not_a_table`` (neither CSV nor XLSX), ``unreadable``, ``header`` (no person column),
    ``too_many_rows``."""
    data = upload.data
    if len(data) > MAX_UPLOAD_BYTES:
        raise RosterError(
            "too_large", f"{upload.name}: {len(data)} bytes, at most {MAX_UPLOAD_BYTES}"
        )
    if not data.strip():
        raise RosterError("empty", f"{upload.name}: the file is empty")
    if data.startswith(b"PK\x03\x04"):
        return _table(upload.name, "xlsx", _xlsx_lines(upload))
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise RosterError(
            "not_a_table",
            f"{upload.name}: an Excel 97-2003 (.xls) file: save it as .xlsx or CSV",
        )
    return _table(upload.name, "csv", _csv_lines(upload))


def _text(upload: Upload) -> str:
    if b"\x00" in upload.data:
        raise RosterError("not_a_table", f"{upload.name}: not a CSV or XLSX file")
    try:
        return upload.data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return upload.data.decode("cp1252")
    except UnicodeDecodeError:
        raise RosterError(
            "unreadable", f"{upload.name}: text neither UTF-8 nor Windows-1252"
        ) from None


def _csv_lines(upload: Upload) -> list[tuple[int, list[Any]]]:
    text = _text(upload)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((";", ",", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    lines: list[tuple[int, list[Any]]] = []
    try:
        for values in reader:
            lines.append((reader.line_num, values))
            if len(lines) > MAX_ROWS + HEADER_SEARCH_LINES:
                raise RosterError("too_many_rows", f"{upload.name}: more than {MAX_ROWS} rows")
    except csv.Error as exc:
        raise RosterError(
            "unreadable", f"{upload.name}: line {reader.line_num}: unreadable CSV ({exc})"
        ) from None
    return lines


def _xlsx_lines(upload: Upload) -> list[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    lines: list[tuple[int, list[Any]]] = []
    try:
        book = load_workbook(io.BytesIO(upload.data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl and zipfile raise many kinds on a broken file
        raise RosterError(
            "unreadable", f"{upload.name}: not a readable XLSX file ({type(exc).__name__})"
        ) from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise RosterError("empty", f"{upload.name}: the workbook has no sheet")
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            lines.append((number, list(values)))
            if len(lines) > MAX_ROWS + HEADER_SEARCH_LINES:
                raise RosterError("too_many_rows", f"{upload.name}: more than {MAX_ROWS} rows")
    except RosterError:
        raise
    except Exception as exc:  # a sheet whose XML is broken
        raise RosterError(
            "unreadable", f"{upload.name}: not a readable XLSX file ({type(exc).__name__})"
        ) from None
    finally:
        book.close()
    return lines


def _table(name: str, file_format: str, lines: list[tuple[int, list[Any]]]) -> Table:
    for position, (line, values) in enumerate(lines[:HEADER_SEARCH_LINES]):
        titles = ["" if v is None else str(v).strip() for v in values]
        mapping, ignored = _map_columns(titles)
        if "person" in mapping or "limosa" in mapping:
            return _rows(file_format, line, titles, mapping, ignored, lines[position + 1 :])
    found = next((v for _l, v in lines if any(_cell(c) for c in v)), [])
    raise RosterError(
        "header",
        f"{name}: line 1: no column names a person (rijksregisternummer, INSZ, NISS, "
        "numéro national, person, limosa...); found "
        + (", ".join(_cell(c) for c in found if _cell(c)) or "nothing"),
    )


def _map_columns(titles: list[str]) -> tuple[dict[str, int], list[str]]:
    mapping: dict[str, int] = {}
    ignored: list[str] = []
    for index, title in enumerate(titles):
        name = _FIELD_OF.get(normalise_title(title))
        if name is None or name in mapping:
            if title:
                ignored.append(title)
            continue
        mapping[name] = index
    if "employer_name" in mapping:
        index = mapping.pop("employer_name")
        if "employer" in mapping:
            ignored.append(titles[index])
        else:
            mapping["employer"] = index
    return mapping, ignored


def _rows(
    file_format: str,
    header_line: int,
    titles: list[str],
    mapping: dict[str, int],
    ignored: list[str],
    lines: list[tuple[int, list[Any]]],
) -> Table:
    table = Table(
        file_format,
        {name: titles[index] for name, index in mapping.items()},
        ignored,
        header_line,
    )
    width = len(titles)
    while width and not titles[width - 1]:
        width -= 1
    for line, values in lines:
        if not any(_cell(v) for v in values):
            continue
        extra = [v for v in values[width:] if _cell(v)]
        if extra and file_format == "csv":
            table.rows.append((line, {}, ("extra_fields", "more fields than the header")))
            continue
        cells = {
            name: values[index] if index < len(values) else None for name, index in mapping.items()
        }
        cells["_carried"] = frozenset(mapping)
        cells["_inss_only"] = normalise_title(table.columns.get("person", "")) not in _EITHER_PERSON
        table.rows.append((line, cells, None))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# --- checking one row -----------------------------------------------------------------------


def _number_cell(value: Any, what: str) -> str:
    """A cell holding an identifier: text as it is; a number only if Excel kept it whole."""
    if isinstance(value, bool):
        raise BadRow("bad_value", f"{what} is not a number")
    if isinstance(value, int | float):
        if isinstance(value, float) and not value.is_integer():
            raise BadRow("bad_identifier", f"{what} is not a whole number")
        digits = str(int(value))
        if len(digits) > EXCEL_DIGITS:
            raise BadRow(
                "excel_rounded",
                (
                    f"{what} was stored by Excel as a number and lost its last digits: "
                    "format the column as text and type it again"
                ),
            )
        return digits
    return _cell(value)


def parse_row(values: dict[str, Any]) -> RosterRow:
    """One row of text (keyed by field) into a ``RosterRow``; raises ``BadRow``."""
    person = _number_cell(values.get("person"), "person")
    limosa = _number_cell(values.get("limosa"), "Limosa id")
    employer = _number_cell(values.get("employer"), "employer")
    try:
        if person:
            digits = compact_digits(person) or person
            cell = values.get("person")
            if isinstance(cell, int | float) and len(digits) == 10:
                digits = "0" + digits  # a number cell dropped a national number's leading 0
            if len(digits) == 11 or values.get("_inss_only"):
                kind, person_id = "inss", parse_inss(digits).digits
            else:
                kind, person_id = "limosa", parse_limosa_id(person).digits
        elif limosa:
            kind, person_id = "limosa", parse_limosa_id(limosa).digits
        else:
            raise BadRow("no_person", "no national number and no Limosa id")
        linked = parse_limosa_id(limosa).digits if limosa and kind == "inss" else None
        if not employer and kind == "inss":
            raise BadRow("no_employer", "employer is empty (required for a national number)")
        company = parse_company_id(employer).digits if employer else ""
    except InvalidIdentifier as exc:
        raise BadRow("bad_identifier", str(exc)) from None
    valid_from = _date(values.get("valid_from"), "valid_from")
    valid_to = _date(values.get("valid_to"), "valid_to")
    if valid_from and valid_to and valid_to < valid_from:
        raise BadRow("bad_dates", "valid_to is before valid_from")
    carried = values.get("_carried", frozenset(values))
    fields_carried = {"valid_from", "valid_to"} & carried
    if {"name", "first_name"} & carried:
        fields_carried.add("name")
    if "limosa" in carried and kind == "inss":
        fields_carried.add("limosa_id")
    return RosterRow(
        kind,
        person_id,
        company,
        valid_from,
        valid_to,
        name=_name(values.get("first_name"), values.get("name")),
        limosa_id=linked,
        carried=frozenset(fields_carried),
    )


def _name(first: Any, last: Any) -> str | None:
    parts = [" ".join(_cell(p).split()) for p in (first, last)]
    text = " ".join(p for p in parts if p)
    return text[:200] or None


def _date(value: Any, what: str) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _cell(value)
    if not text:
        return None
    try:
        if len(text) == 10 and text[4] == "-":
            return date.fromisoformat(text)
        day, month, year = (int(p) for p in text.replace(".", "/").replace("-", "/").split("/"))
        if year < 1000:
            raise ValueError("two-digit year")
        return date(year, month, day)
    except ValueError:
        raise BadRow(
            "bad_date", f"{what} is not a date dd/mm/yyyy or yyyy-mm-dd: {text[:20]!r}"
        ) from None
