"""``parse_identity``: the identity file (4031) into an ``Identity``, by tag (DOMAIN.md 5).

Unknown tags are skipped, the file stops at padding, and anything truncated or inconsistent
raises ``BadCardData`` with a stable code; nothing else escapes, whatever the bytes. Error
messages name tags, never their content.
"""

from __future__ import annotations

import re
from datetime import date

from presence.ids import CompanyId, InvalidIdentifier, parse_company_id, parse_inss
from terminal.drivers.eid.birthdate import parse_birth_date
from terminal.drivers.eid.errors import BadCardData
from terminal.drivers.eid.identity import BirthDate, Identity
from terminal.drivers.eid.tlv import iter_tlv

TAG_CARD_NUMBER = 0x01
TAG_CHIP_NUMBER = 0x02
TAG_VALID_FROM = 0x03
TAG_VALID_UNTIL = 0x04
TAG_MUNICIPALITY = 0x05
TAG_NATIONAL_NUMBER = 0x06
TAG_SURNAME = 0x07
TAG_GIVEN_NAMES = 0x08
TAG_THIRD_INITIAL = 0x09
TAG_NATIONALITY = 0x0A
TAG_BIRTH_PLACE = 0x0B
TAG_BIRTH_DATE = 0x0C
TAG_SEX = 0x0D
TAG_DOCUMENT_TYPE = 0x0F
TAG_LABOUR_MARKET = 0x16
TAG_EMPLOYER_1 = 0x17
TAG_EMPLOYER_2 = 0x18

REQUIRED_TAGS = (
    TAG_CARD_NUMBER,
    TAG_VALID_FROM,
    TAG_VALID_UNTIL,
    TAG_NATIONAL_NUMBER,
    TAG_SURNAME,
    TAG_DOCUMENT_TYPE,
)

_CARD_DATE = re.compile(r"(\d{2})[.\-/ ](\d{2})[.\-/ ](\d{4})")
_EMPLOYER_SEPARATORS = re.compile(r"[,;]")


def _collect(data: bytes) -> dict[int, bytes]:
    fields: dict[int, bytes] = {}
    for tag, value in iter_tlv(data):
        if tag in fields:
            raise BadCardData("duplicate_tag", f"tag 0x{tag:02X} appears twice")
        fields[tag] = value
    missing = [f"0x{tag:02X}" for tag in REQUIRED_TAGS if tag not in fields]
    if missing:
        raise BadCardData("missing_field", "missing tags " + ", ".join(missing))
    return fields


def _text(fields: dict[int, bytes], tag: int) -> str:
    try:
        return fields.get(tag, b"").decode("utf-8").strip("\x00")
    except UnicodeDecodeError:
        raise BadCardData("bad_text", f"tag 0x{tag:02X} is not UTF-8") from None


def _card_date(fields: dict[int, bytes], tag: int) -> date:
    match = _CARD_DATE.fullmatch(_text(fields, tag).strip())
    if not match:
        raise BadCardData("bad_date", f"tag 0x{tag:02X} is not DD.MM.YYYY")
    try:
        return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        raise BadCardData("bad_date", f"tag 0x{tag:02X} is not a calendar date") from None


def _document_type(fields: dict[int, bytes]) -> int:
    text = _text(fields, TAG_DOCUMENT_TYPE).strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 3):
        raise BadCardData("bad_document_type", "tag 0x0F is not a number")
    return int(text)


def _employers(fields: dict[int, bytes]) -> tuple[CompanyId, ...]:
    numbers: list[CompanyId] = []
    for tag in (TAG_EMPLOYER_1, TAG_EMPLOYER_2):
        for part in _EMPLOYER_SEPARATORS.split(_text(fields, tag)):
            if not part.strip():
                continue
            try:
                numbers.append(parse_company_id(part))
            except InvalidIdentifier as exc:
                raise BadCardData("bad_employer_number", f"tag 0x{tag:02X}: {exc.code}") from None
    return tuple(numbers)


def _birth_date(fields: dict[int, bytes]) -> BirthDate:
    raw = _text(fields, TAG_BIRTH_DATE)
    return parse_birth_date(raw)


def parse_identity(data: bytes) -> Identity:
    """The ``Identity`` held by an identity file; ``BadCardData`` when it cannot be one."""
    fields = _collect(bytes(data))
    try:
        national_number = parse_inss(_text(fields, TAG_NATIONAL_NUMBER))
    except InvalidIdentifier as exc:
        raise BadCardData("invalid_national_number", f"tag 0x06: {exc.code}") from None
    valid_from = _card_date(fields, TAG_VALID_FROM)
    valid_until = _card_date(fields, TAG_VALID_UNTIL)
    if valid_until < valid_from:
        raise BadCardData("inconsistent", "validity ends before it begins")
    labour_market = _text(fields, TAG_LABOUR_MARKET).strip() or None
    return Identity(
        card_number=_text(fields, TAG_CARD_NUMBER).strip(),
        chip_number=fields.get(TAG_CHIP_NUMBER, b"").hex().upper(),
        valid_from=valid_from,
        valid_until=valid_until,
        national_number=national_number,
        surname=_text(fields, TAG_SURNAME).strip(),
        given_names=_text(fields, TAG_GIVEN_NAMES).strip(),
        third_initial=_text(fields, TAG_THIRD_INITIAL).strip(),
        nationality=_text(fields, TAG_NATIONALITY).strip(),
        birth_place=_text(fields, TAG_BIRTH_PLACE).strip(),
        birth_date=_birth_date(fields),
        sex=_text(fields, TAG_SEX).strip(),
        document_type=_document_type(fields),
        labour_market=labour_market,
        employer_numbers=_employers(fields),
    )
