"""parse_identity: the identity file, by tag, on every card type."""

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from presence.ids import parse_company_id, parse_inss
from sim.belpic import IdentityFields, build_identity_file
from terminal.drivers.eid import BadCardData, Identity, parse_identity
from terminal.drivers.eid.tlv import encode_tlv
from tests.terminal.drivers.eid import cards


def parsed(fields: IdentityFields) -> Identity:
    return parse_identity(build_identity_file(fields))


def test_belgian_citizen_card_fields() -> None:
    identity = parsed(cards.CITIZEN)
    assert identity.card_number == cards.CITIZEN.card_number
    assert identity.chip_number == "534C494E336600296CFF2723660B0826"
    assert (identity.valid_from, identity.valid_until) == (date(2022, 5, 10), date(2032, 5, 10))
    assert identity.national_number == parse_inss("85073003328")
    assert identity.surname == "Van den Broeck-D'Hondt"
    assert identity.given_names == "Zoë Françoise"
    assert identity.third_initial == "É"
    assert (identity.nationality, identity.birth_place) == ("Belg", "Antwerpen")
    assert identity.birth_date.value == date(1985, 7, 30)
    assert (identity.sex, identity.document_type) == ("M", 1)
    assert not identity.is_foreigner_card
    assert (identity.labour_market, identity.employer_numbers) == (None, ())


def test_kids_id_is_document_type_6_and_not_a_foreigner_card() -> None:
    identity = parsed(cards.KIDS_ID)
    assert identity.document_type == 6
    assert not identity.is_foreigner_card
    assert identity.birth_date.value == date(2015, 3, 12)


@pytest.mark.parametrize(
    ("fields", "doc_type"),
    [(cards.FOREIGNER_A, 11), (cards.FOREIGNER_WORKER, 12), (cards.FOREIGNER_YEAR_ONLY, 33)],
)
def test_foreigner_cards_of_several_types(fields: IdentityFields, doc_type: int) -> None:
    identity = parsed(fields)
    assert identity.document_type == doc_type
    assert identity.is_foreigner_card
    assert identity.national_number.digits == fields.national_number


def test_labour_market_mention_and_employer_numbers() -> None:
    identity = parsed(cards.FOREIGNER_WORKER)
    assert identity.labour_market == "8"
    assert identity.employer_numbers == (
        parse_company_id("0403170701"),
        parse_company_id("0403199702"),
    )
    assert identity.national_number.is_bis


def test_german_and_year_only_birth_dates() -> None:
    german = parsed(cards.FOREIGNER_A).birth_date
    assert (german.value, german.precision) == (date(1979, 2, 15), "day")
    year_only = parsed(cards.FOREIGNER_YEAR_ONLY).birth_date
    assert (year_only.value, year_only.precision, year_only.raw) == (
        date(1962, 1, 1),
        "year",
        "        1962",
    )


def test_names_with_diacritics_and_apostrophes_survive() -> None:
    identity = parsed(cards.FOREIGNER_YEAR_ONLY)
    assert (identity.surname, identity.nationality) == ("N'Diaye", "Sénégal")


def test_unknown_tags_are_skipped_and_padding_ends_the_file() -> None:
    fields = replace(cards.CITIZEN, extra=((0x42, b"\xff\x00\x01"), (0x99, b"")), padding=60)
    assert parsed(fields) == parsed(cards.CITIZEN)


def test_a_file_over_256_bytes() -> None:
    data = build_identity_file(cards.LONG_FILE)
    assert len(data) > 256
    assert parse_identity(data).surname == cards.LONG_FILE.surname.strip()


def test_member_of_family_tag_of_length_zero_is_accepted() -> None:
    assert parsed(replace(cards.CITIZEN, member_of_family=True)).document_type == 1


def code_of(data: bytes) -> str:
    with pytest.raises(BadCardData) as caught:
        parse_identity(data)
    return caught.value.code


def test_truncated_file() -> None:
    assert code_of(build_identity_file(cards.CITIZEN)[:-5]) == "truncated"


def test_bad_national_number_checksum_has_its_own_code() -> None:
    assert code_of(build_identity_file(cards.BAD_CHECKSUM)) == "invalid_national_number"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"national_number": "8507300332"}, "invalid_national_number"),
        ({"valid_until": date(2020, 1, 1)}, "inconsistent"),
        ({"document_type": "X1"}, "bad_document_type"),
        ({"employers": ("0403170702",)}, "bad_employer_number"),
        ({"extra": ((0x01, b"again"),)}, "duplicate_tag"),
    ],
)
def test_inconsistent_content_is_bad_card_data(change: dict[str, object], code: str) -> None:
    assert code_of(build_identity_file(replace(cards.CITIZEN, **change))) == code  # type: ignore[arg-type]


def test_missing_national_number_is_a_missing_field() -> None:
    data = encode_tlv([(0x01, b"591234567890"), (0x03, b"01.01.2020"), (0x04, b"01.01.2030")])
    assert code_of(data) == "missing_field"


def test_impossible_validity_date() -> None:
    data = build_identity_file(cards.CITIZEN).replace(b"10.05.2032", b"31.02.2032")
    assert code_of(data) == "bad_date"


def test_text_that_is_not_utf8() -> None:
    data = build_identity_file(cards.CITIZEN).replace(b"Antwerpen", b"Antw\xe9rpen")
    assert code_of(data) == "bad_text"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_an_identity_or_bad_card_data(data: bytes) -> None:
    try:
        parse_identity(data)
    except BadCardData as exc:
        assert exc.code


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_corrupted_real_files_give_an_identity_or_bad_card_data(data: st.DataObject) -> None:
    raw = bytearray(build_identity_file(cards.FOREIGNER_WORKER))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        parse_identity(bytes(raw))
    except BadCardData as exc:
        assert exc.code
