"""Cards the eID tests present (valid checksums; names made up)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from presence.clock import ManualClock
from sim.belpic import BelpicCard, IdentityFields, Quirks, card_number

TODAY = date(2026, 3, 2)

CITIZEN = IdentityFields(
    surname="Van den Broeck-D'Hondt",
    given_names="Zoë Françoise ",
    third_initial="É",
    birth_date="30 JUL 1985",
)
WOMAN_NL = IdentityFields(
    card_number=card_number("5920000123"),
    national_number="92022812412",
    surname="Janssens",
    given_names="Marie",
    sex="V",
    birth_date="28 FEB 1992",
)
KIDS_ID = IdentityFields(
    card_number=card_number("6000000017"),
    national_number="15031212475",
    surname="Peeters",
    given_names="Lotte",
    birth_date="12 MAAR 2015",
    document_type="6",
    valid_until=date(2028, 1, 31),
)
# Foreigner cards: a German-language birth date, a year-only date, a BIS number.
FOREIGNER_A = IdentityFields(
    card_number="B01234567",
    national_number="79021543116",
    surname="Müller",
    given_names="Jürgen",
    nationality="Deutsch",
    birth_place="Köln",
    birth_date="15.FEB. 1979",
    document_type="11",
)
FOREIGNER_WORKER = IdentityFields(
    card_number="B98765432",
    national_number="01452003521",
    surname="Kowalski",
    given_names="Piotr",
    nationality="Pologne",
    birth_date="1962",
    document_type="12",
    labour_market="8",
    employers=("0403170701", "0403.199.702"),
)
FOREIGNER_YEAR_ONLY = IdentityFields(
    card_number="B55555555",
    national_number="62010100711",
    surname="N'Diaye",
    given_names="Aminata",
    nationality="Sénégal",
    birth_date="        1962",
    document_type="33",
    sex="F",
)
# Over 256 bytes: long names and tags a parser does not know, so several READ BINARY.
LONG_FILE = IdentityFields(
    card_number="B11111111",
    national_number="96010123314",
    surname="de Saint-Exupéry de la Tour d'Auvergne " * 3,
    given_names="Marie-Élisabeth Anne-Sophie",
    nationality="Française",
    birth_date="01 JANV 1996",
    document_type="34",
    extra=((0x1F, b"\x01" * 40), (0x30, "überlang".encode() * 5)),
)
EXPIRED = IdentityFields(valid_from=date(2015, 1, 1), valid_until=date(2025, 1, 1))
BAD_CHECKSUM = IdentityFields(national_number="85073003329")


def card(fields: IdentityFields = CITIZEN, **quirks: object) -> BelpicCard:
    return BelpicCard.from_fields(fields, quirks=Quirks(**quirks))  # type: ignore[arg-type]


def clock_on(day: date = TODAY) -> ManualClock:
    return ManualClock(datetime(day.year, day.month, day.day, 6, 30, tzinfo=UTC))
