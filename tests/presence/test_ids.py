import pytest

from presence.ids import (
    CompanyId,
    Inss,
    InvalidIdentifier,
    parse_company_id,
    parse_inss,
    parse_limosa_id,
    parse_workplace_id,
)


@pytest.mark.parametrize(
    "text",
    ["85073003328", "85.07.30-033.28", " 85 07 30 033 28 ", "850730 033 28"],
)
def test_inss_accepts_the_usual_notations(text: str) -> None:
    assert parse_inss(text) == Inss("85073003328")


@pytest.mark.parametrize(
    ("text", "is_bis"),
    [
        ("01020300467", False),  # born in 2001: the '2' prefix before mod 97
        ("17010100369", False),
        ("85273000106", True),  # BIS, sex unknown (month + 20)
        ("85473000248", True),  # BIS, sex known (month + 40)
        ("85070000583", False),  # day unknown (00)
    ],
)
def test_inss_valid_numbers_of_both_centuries_and_bis(text: str, is_bis: bool) -> None:
    assert parse_inss(text).is_bis is is_bis


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("85073003329", "checksum"),
        ("01020300468", "checksum"),
        ("8507300332", "length"),
        ("850730033280", "length"),
        ("85O73003328", "format"),
        ("", "length"),
        ("85133000105", "format"),  # month 13, right check digits
    ],
)
def test_inss_invalid_numbers_have_a_code(text: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_inss(text)
    assert caught.value.code == code


def test_inss_error_message_never_repeats_the_number() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_inss("85073003329")
    assert "85073003329" not in str(caught.value)
    assert "033" not in str(caught.value)


def test_inss_canonical_and_masked_forms() -> None:
    inss = parse_inss("85073003328")
    assert str(inss) == "85.07.30-033.28"
    assert inss.masked() == "85.07.30-***.**"
    assert "033" not in repr(inss)


def test_inss_is_hashable_and_frozen() -> None:
    assert len({parse_inss("85073003328"), parse_inss("85.07.30-033.28")}) == 1
    with pytest.raises(AttributeError):
        parse_inss("85073003328").digits = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "text", ["0403170701", "403170701", "BE0403.170.701", "be 0403 170 701", "0403.170.701"]
)
def test_company_id_accepts_nine_ten_digits_dots_and_be(text: str) -> None:
    company = parse_company_id(text)
    assert company == CompanyId("0403170701")
    assert str(company) == "0403.170.701"
    assert company.wire == 403170701


@pytest.mark.parametrize(
    ("text", "code"),
    [("0403170702", "checksum"), ("04031707", "length"), ("BE04O3170701", "format"),
     ("2403170701", "format")],
)  # fmt: skip
def test_company_id_invalid(text: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_company_id(text)
    assert caught.value.code == code


def test_workplace_id_of_13_characters_is_upper_cased() -> None:
    assert str(parse_workplace_id("1y102m7nzf7pz")) == "1Y102M7NZF7PZ"


@pytest.mark.parametrize(
    ("text", "code"), [("1Y102M7NZF7PZA", "length"), ("", "length"), ("1Y-102", "format")]
)
def test_workplace_id_invalid(text: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_workplace_id(text)
    assert caught.value.code == code


def test_limosa_id_shape_and_mask() -> None:
    limosa = parse_limosa_id("24912345678901234")
    assert str(limosa) == "24912345678901234"
    assert limosa.masked() == "249************34"


@pytest.mark.parametrize(
    ("text", "code"), [("249x", "format"), ("123", "length"), ("1" * 21, "length")]
)
def test_limosa_id_invalid(text: str, code: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_limosa_id(text)
    assert caught.value.code == code
