"""The enrolment code in the QR and the messages on the wire: what a camera read either is an
enrolment code, or is not one (ignored), or is a broken one (``malformed_code``)."""

from __future__ import annotations

import secrets
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from presence.enrolment import (
    BadEnrolment,
    Enrolled,
    EnrolmentCode,
    NotAnEnrolmentCode,
    decode_answer,
    decode_refusal,
    decode_request,
    encode_answer,
    encode_refusal,
    encode_request,
    parse_code,
)

TOKEN = secrets.token_urlsafe(32)
FINGERPRINT = "0f" * 32
CODE = EnrolmentCode("https://controller.site.lan:8444/v1/enrol", "gate-3", TOKEN, FINGERPRINT)


def test_a_code_reads_back_as_written() -> None:
    assert parse_code(CODE.text()) == CODE


@pytest.mark.parametrize(
    "text", ["https://www.limosa.be/q.html?id=1", "", "SITEGATE-ENROL:1?url=x", "85073003328"]
)
def test_another_qr_code_is_not_an_enrolment_code(text: str) -> None:
    with pytest.raises(NotAnEnrolmentCode):
        parse_code(text)


def code_text(url: str = CODE.url, terminal: str = "gate-3", token: str = TOKEN,
              ca: str = FINGERPRINT) -> str:  # fmt: skip
    return f"sitegate-enrol:1?url={quote(url, safe='')}&terminal={terminal}&token={token}&ca={ca}"


@pytest.mark.parametrize(
    "change",
    [
        {"url": "http://controller.site.lan:8444/v1/enrol"},
        {"url": "https://controller.site.lan:0/v1/enrol"},
        {"url": "https://controller.site.lan:8444/v1/enrol?x=1"},
        {"terminal": "Gate 3"},
        {"token": "short"},
        {"ca": "AB" * 32},
        {"ca": "ab" * 31},
    ],
    ids=["plain-http", "port-0", "query", "bad-terminal", "short-token", "upper-hex",
         "short-fingerprint"],
)  # fmt: skip
def test_a_broken_enrolment_code_is_malformed(change: dict[str, str]) -> None:
    assert parse_code(code_text()) == CODE

    with pytest.raises(BadEnrolment) as raised:
        parse_code(code_text(**change))
    assert raised.value.code == "malformed_code"


def test_a_code_with_an_extra_field_is_malformed() -> None:
    with pytest.raises(BadEnrolment) as raised:
        parse_code(CODE.text() + "&more=1")
    assert raised.value.code == "malformed_code"


@given(st.text(max_size=600))
def test_any_text_is_a_code_or_says_why_not(text: str) -> None:
    try:
        parse_code("sitegate-enrol:1?" + text)
    except (NotAnEnrolmentCode, BadEnrolment):
        pass


def test_the_request_and_answer_read_back() -> None:
    answer = Enrolled("gate-3", "CERT", "CA", "config_version = 1\n")

    assert decode_request(encode_request(TOKEN, "CSR")) == (TOKEN, "CSR")
    assert decode_answer(encode_answer(answer)) == answer
    assert decode_refusal(encode_refusal("used_token", "used")) == ("used_token", "used")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[]", "bad_request"),
        (b'{"token": "x"}', "bad_request"),
        (b'{"token": "short", "csr": "CSR"}', "malformed_token"),
        (b"\xff", "bad_request"),
        (b" " * (64 * 1024 + 1), "too_large"),
    ],
)
def test_a_bad_request_says_why(body: bytes, code: str) -> None:
    with pytest.raises(BadEnrolment) as raised:
        decode_request(body)
    assert raised.value.code == code


def test_a_refusal_with_an_unknown_code_is_an_unreadable_answer() -> None:
    assert decode_refusal(b'{"error": "whatever", "message": ""}')[0] == "bad_answer"
    assert decode_refusal(b"<html>")[0] == "bad_answer"
