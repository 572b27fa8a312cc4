"""Limosa L1 QR codes: real-shaped URLs parse, everything else is refused with a stable code."""

from __future__ import annotations

import logging
import random
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from presence.l1 import MAX_L1_LENGTH, BadL1Code, L1Credential, NotAnL1Code, parse_l1
from sim.identifiers import with_inss_check

LIMOSA_ID = "24912345678901234"
INSS = "85073003328"
SURNAME = "Wiśniewski-Nowak"
FIRST_NAME = "Zoë Ágota"
EMPLOYER = "Budimex S.A. & Synowie"


def bis_number(yy: int, mm: int, dd: int, serial: int) -> str:
    """A BIS number of someone born in the 1900s whose sex is known (month + 40)."""
    body = f"{yy:02d}{mm + 40:02d}{dd:02d}{serial:03d}"
    return with_inss_check(body)


def l1_url(
    params: dict[str, str],
    *,
    scheme: str = "http",
    host: str = "limosa.be",
    quoting=quote_plus,
    shuffle_seed: int | None = None,
) -> str:
    """An L1 URL the way the certificates print them: percent-encoded, parameters in order."""
    items = list(params.items())
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(items)
    query = "&".join(f"{k}={quoting(v, safe='')}" for k, v in items)
    return f"{scheme}://{host}/q.html?{query}"


def full_params(**overrides: str) -> dict[str, str]:
    params = {
        "id": LIMOSA_ID,
        "1": "L1",
        "2": INSS,
        "3": SURNAME,
        "4": FIRST_NAME,
        "5": "20260301",
        "6": "PL5260250274",
        "7": EMPLOYER,
        "8": "A",
        "9": "403170701",
    }
    params.update(overrides)
    return params


# --- real-shaped L1 URLs ------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "https", "HTTPS"])
@pytest.mark.parametrize("host", ["limosa.be", "LIMOSA.BE", "Limosa.Be", "www.limosa.be"])
def test_full_l1_url_gives_every_field(scheme: str, host: str) -> None:
    credential = parse_l1(l1_url(full_params(), scheme=scheme, host=host))

    assert str(credential.limosa_id) == LIMOSA_ID
    assert credential.inss is not None and credential.inss.digits == INSS
    assert credential.surname == SURNAME
    assert credential.first_name == FIRST_NAME
    assert credential.employer_name == EMPLOYER
    assert credential.foreign_vat == "PL5260250274"


@pytest.mark.parametrize("quoting", [quote, quote_plus], ids=["pct20", "plus"])
@pytest.mark.parametrize("seed", range(6))
def test_parameter_order_and_space_encoding_do_not_matter(quoting, seed: int) -> None:
    url = l1_url(full_params(), quoting=quoting, shuffle_seed=seed)

    credential = parse_l1(url)

    assert (credential.surname, credential.first_name) == (SURNAME, FIRST_NAME)
    assert credential.employer_name == EMPLOYER


def test_pre_2017_code_with_raw_characters_parses() -> None:
    url = f"http://www.limosa.be/q.html?id={LIMOSA_ID}&3=Müller&4=Jürgen Otto&7=Bau GmbH"

    credential = parse_l1(url)

    assert (credential.surname, credential.first_name) == ("Müller", "Jürgen Otto")


def test_id_alone_is_enough() -> None:
    credential = parse_l1(f"https://limosa.be/q.html?id={LIMOSA_ID}")

    assert credential == L1Credential(limosa_id=credential.limosa_id)
    assert str(credential.limosa_id) == LIMOSA_ID


def test_empty_optional_parameters_read_as_absent() -> None:
    credential = parse_l1(l1_url(full_params(**{"2": "", "3": "", "4": " ", "7": ""})))

    assert credential.inss is None
    assert (credential.surname, credential.first_name, credential.employer_name) == (None,) * 3


def test_bis_number_in_parameter_2_is_kept() -> None:
    bis = bis_number(79, 4, 12, 121)

    credential = parse_l1(l1_url(full_params(**{"2": bis})))

    assert credential.inss is not None and credential.inss.is_bis


def test_invalid_inss_is_dropped_but_the_code_still_counts() -> None:
    credential = parse_l1(l1_url(full_params(**{"2": "85073003329"})))

    assert credential.inss is None
    assert str(credential.limosa_id) == LIMOSA_ID


def test_surrounding_whitespace_and_fragment_are_tolerated() -> None:
    credential = parse_l1(f"  http://limosa.be/q.html?id={LIMOSA_ID}#top\n")

    assert str(credential.limosa_id) == LIMOSA_ID


def test_repeated_identical_id_is_accepted() -> None:
    credential = parse_l1(f"http://limosa.be/q.html?id={LIMOSA_ID}&id={LIMOSA_ID}")

    assert str(credential.limosa_id) == LIMOSA_ID


def test_parameter_names_are_case_insensitive() -> None:
    assert str(parse_l1(f"http://limosa.be/Q.HTML?ID={LIMOSA_ID}").limosa_id) == LIMOSA_ID


names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=40
)


@settings(max_examples=150, deadline=None)
@given(
    surname=names,
    first=names,
    employer=names,
    seed=st.integers(0, 1000),
    plus=st.booleans(),
    https=st.booleans(),
)
def test_any_names_round_trip_through_the_url(
    surname: str, first: str, employer: str, seed: int, plus: bool, https: bool
) -> None:
    params = full_params(**{"3": surname, "4": first, "7": employer})
    url = l1_url(
        params, scheme="https" if https else "http", quoting=quote_plus if plus else quote,
        shuffle_seed=seed,
    )  # fmt: skip

    credential = parse_l1(url)

    assert credential.surname == (" ".join(surname.split()) or None)
    assert credential.first_name == (" ".join(first.split()) or None)
    assert credential.employer_name == (" ".join(employer.split()) or None)


# --- not L1 codes -------------------------------------------------------------------------

NOT_L1 = {
    "empty": "",
    "plain text": "Hello, site!",
    "digits only": LIMOSA_ID,
    "other host": f"https://example.com/q.html?id={LIMOSA_ID}",
    "look-alike host": f"http://limosa.be.example.com/q.html?id={LIMOSA_ID}",
    "host in userinfo": f"http://limosa.be@example.com/q.html?id={LIMOSA_ID}",
    "userinfo on the right host": f"http://user@limosa.be/q.html?id={LIMOSA_ID}",
    "other path": f"http://limosa.be/index.html?id={LIMOSA_ID}",
    "odd port": f"http://limosa.be:8080/q.html?id={LIMOSA_ID}",
    "ftp": f"ftp://limosa.be/q.html?id={LIMOSA_ID}",
    "no scheme": f"limosa.be/q.html?id={LIMOSA_ID}",
    "redirector": f"https://example.com/r?u=http://limosa.be/q.html?id={LIMOSA_ID}",
    "vcard": "BEGIN:VCARD\nVERSION:3.0\nN:Doe;John\nTEL:+32 3 123 45 67\nEND:VCARD",
    "wifi": "WIFI:S:site-office;T:WPA;P:secret;;",
    "mailto": "mailto:site@example.com",
    "geo": "geo:51.2194,4.4025",
    "workplace poster": "https://www.socialsecurity.be/checkinatwork?duc=1Y102M7NZF7PZ",
    "broken ipv6": "http://[limosa.be/q.html?id=1",
    "huge payload": l1_url(full_params(**{"7": "A" * (MAX_L1_LENGTH + 10)})),
}


@pytest.mark.parametrize("text", NOT_L1.values(), ids=NOT_L1.keys())
def test_other_codes_are_not_l1(text: str) -> None:
    with pytest.raises(NotAnL1Code) as caught:
        parse_l1(text)

    assert caught.value.code == "not_an_l1_code"


BAD_L1 = {
    "no id": ("http://limosa.be/q.html?3=Kowalski", "missing_id"),
    "no query": ("http://limosa.be/q.html", "missing_id"),
    "empty id": ("http://limosa.be/q.html?id=&3=Kowalski", "missing_id"),
    "letters in id": ("http://limosa.be/q.html?id=249ABC", "malformed_id"),
    "id too short": ("http://limosa.be/q.html?id=249", "malformed_id"),
    "id too long": ("http://limosa.be/q.html?id=" + "2" * 40, "malformed_id"),
    "two ids": (f"http://limosa.be/q.html?id={LIMOSA_ID}&id=249000000000", "duplicate_id"),
    "bad utf-8": ("http://limosa.be/q.html?id=24912345678901234&3=%FF%FE", "bad_query"),
    "too many parameters": ("http://limosa.be/q.html?" + "&".join(["x=1"] * 100), "bad_query"),
}  # fmt: skip


@pytest.mark.parametrize(("text", "code"), BAD_L1.values(), ids=BAD_L1.keys())
def test_l1_url_without_usable_id_is_bad(text: str, code: str) -> None:
    with pytest.raises(BadL1Code) as caught:
        parse_l1(text)

    assert caught.value.code == code


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_raises_only_l1_errors(text: str) -> None:
    try:
        parse_l1(text)
    except (NotAnL1Code, BadL1Code):
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["http://limosa.be/q.html?", "HTTPS://LIMOSA.BE/q.html?id=249"]),
    st.text(max_size=200),
)
def test_any_query_parses_or_raises_only_l1_errors(prefix: str, tail: str) -> None:
    try:
        credential = parse_l1(prefix + tail)
    except (NotAnL1Code, BadL1Code):
        return
    assert credential.limosa_id.digits.isdigit()


# --- privacy ------------------------------------------------------------------------------


def test_names_and_numbers_never_reach_the_log_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="presence")
    url = l1_url(full_params(**{"2": "85073003329"}))

    credential = parse_l1(url)
    for bad in (url.replace(LIMOSA_ID, "249X"), url.replace("limosa.be", "example.com")):
        with pytest.raises((NotAnL1Code, BadL1Code)) as caught:
            parse_l1(bad)
        assert "Wi" not in str(caught.value)

    shown = caplog.text + repr(credential) + str(credential)
    for secret in (LIMOSA_ID, "85073003329", INSS, "Wiśniewski", "Zoë", "Budimex"):
        assert secret not in shown
