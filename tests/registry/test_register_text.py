"""The registerPresences request written as text, and the register answer's fast reader.

The text path must make the same document as the element path (which lxml escapes), stay
valid against the official XSD, and carry any character XML can carry.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from registry import requests, responses, soap, xsd
from registry.client import RegistryClient
from registry.errors import InvalidRequest, MalformedResponse
from registry.wire import MAX_ITEMS_PER_CALL, PresenceItem, RegistrationResult
from sim.nsso.server import StandIn
from tests.registry.conftest import COMPANY, INSS, LIMOSA, START, WORKPLACE

DAY = date(2026, 3, 2)
NASTY = "&<>\"'"
NON_ASCII = "éßЖ中𝄞"


def _element_form(items: list[PresenceItem]) -> bytes:
    return soap.serialize(soap.envelope(requests.encode_register(items)))


def _payload(document: bytes) -> etree._Element:
    parsed = soap.parse_envelope(document)
    assert isinstance(parsed, soap.Envelope)
    return parsed.payload


def _read_back(document: bytes) -> list[requests.Submitted]:
    """What the stand-in reads from the document."""
    return [requests.read_submitted(e) for e in requests.read_register(_payload(document))]


def test_xml_text_escapes_markup_and_carriage_returns_only() -> None:
    assert soap.xml_text("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d\"e'f"
    assert soap.xml_text("x\r\ny\t") == "x&#13;\ny\t"
    assert soap.xml_text("&amp;") == "&amp;amp;"
    assert soap.xml_text(NON_ASCII) == NON_ASCII
    assert soap.xml_text("") == ""


@pytest.mark.parametrize("bad", ["\x00", "a\x1fb", "\x7f\x08", "\ud800", "\ufffe", "\uffff"])
def test_xml_text_refuses_what_xml_cannot_carry(bad: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        soap.xml_text(bad)
    assert caught.value.code == "xml_char"


SPECIAL_ITEMS = [
    PresenceItem(NASTY + "é", inss=INSS, company_id=COMPANY, client_reference=NASTY + NON_ASCII),
    PresenceItem(NON_ASCII, limosa_id=NASTY + "\u00a0" + NON_ASCII, registration_date=DAY),
    PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY, client_reference=" a\r\n\tb "),
    PresenceItem(WORKPLACE, limosa_id=LIMOSA, client_reference=""),
    PresenceItem("W&amp;", inss=INSS, company_id=COMPANY, client_reference="<x/>]]>&#1;"),
]


@pytest.mark.parametrize(
    "items",
    [SPECIAL_ITEMS, SPECIAL_ITEMS * 40, [SPECIAL_ITEMS[3]]],
    ids=["special", "special-200", "one"],
)
def test_register_document_validates_against_the_xsd(items: list[PresenceItem]) -> None:
    document = requests.register_document(items)
    xsd.validate(_payload(document))
    assert document == _element_form(items)


def test_special_characters_reach_the_reader_unchanged() -> None:
    read = _read_back(requests.register_document(SPECIAL_ITEMS))
    assert [s.item() for s in read] == SPECIAL_ITEMS


def test_register_document_keeps_the_batch_limits() -> None:
    for items in ([], SPECIAL_ITEMS[:1] * (MAX_ITEMS_PER_CALL + 1)):
        with pytest.raises(InvalidRequest) as caught:
            requests.register_document(items)
        assert caught.value.code == "batch_size"


XML_CHAR = st.characters().filter(
    lambda c: (
        c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff" and not "\ud800" <= c <= "\udfff")
    )
)
TEXT_ITEMS = st.builds(
    PresenceItem,
    workplace_id=st.text(XML_CHAR, min_size=1, max_size=13),
    inss=st.just(INSS),
    company_id=st.integers(1, 9_999_999_999),
    registration_date=st.none() | st.dates(),
    client_reference=st.none() | st.text(XML_CHAR, max_size=24),
) | st.builds(
    PresenceItem,
    workplace_id=st.text(XML_CHAR, min_size=1, max_size=13),
    limosa_id=st.text(XML_CHAR, min_size=1, max_size=30).filter(str.strip),
    registration_date=st.none() | st.dates(),
    client_reference=st.none() | st.text(XML_CHAR, max_size=24),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT_ITEMS, min_size=1, max_size=5))
def test_any_text_makes_the_element_form_and_validates(items: list[PresenceItem]) -> None:
    document = requests.register_document(items)
    assert document == _element_form(items)
    xsd.validate(_payload(document))
    read = _read_back(document)
    assert [s.client_reference for s in read] == [i.client_reference for i in items]
    assert [s.workplace_id for s in read] == [i.workplace_id.strip() for i in items]
    assert [s.registration_date for s in read] == [i.registration_date for i in items]


def test_client_sends_special_characters_intact(client: RegistryClient, stand_in: StandIn) -> None:
    item = PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY, client_reference=NASTY + "é ")
    (answer,) = client.register([item])
    assert isinstance(answer, RegistrationResult)
    assert answer.client_reference == NASTY + "é "


def test_client_refuses_an_unencodable_item_before_sending(
    client: RegistryClient, stand_in: StandIn
) -> None:
    item = PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY, client_reference="a\x00b")
    with pytest.raises(InvalidRequest) as caught:
        client.register([item])
    assert caught.value.code == "xml_char"
    assert client.stats.calls == 0
    assert stand_in.registrations() == []


REGISTER_ANSWER = """<?xml version="1.0"?>
<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/">
  <S:Body>
    <o:RegisterPresencesResponse xmlns:o="http://socialsecurity.be/presenceregistration/v1">
      <o:PresenceRegistrationResponse>
        <PresenceRegistration xmlns="http://socialsecurity.be/presenceregistration/schemas/v1">
          <PresenceRegistrationSubmitted>
            <INSS>85073003328</INSS>
            <CompanyID>403170701</CompanyID>
            <WorkPlaceId>1Y102M7NZF7PZ</WorkPlaceId>
            <ClientPresenceRegistrationReference>&amp;&lt;&gt;"'</ClientPresenceRegistrationReference>
          </PresenceRegistrationSubmitted>
          <PresenceRegistrationId> 000123
          </PresenceRegistrationId>
          <CreationDate>2026-03-02T07:30:00</CreationDate>
          <Channel>WEBSERVICE</Channel>
          <LastValidation><Status>SUCCESSFULLY REGISTERED</Status></LastValidation>
        </PresenceRegistration>
      </o:PresenceRegistrationResponse>
      <o:PresenceRegistrationResponse>
        <t:PresenceRegistrationError xmlns:t="http://socialsecurity.be/presenceregistration/schemas/v1">
          <t:PresenceRegistrationSubmitted>
            <t:LimosaId>24912345678901234</t:LimosaId><t:WorkPlaceId>W</t:WorkPlaceId>
          </t:PresenceRegistrationSubmitted>
          <t:ErrorList><t:Error>
            <t:ErrorCode>LIMOSA_ID_UNKNOWN</t:ErrorCode><t:ErrorDescription>x</t:ErrorDescription>
          </t:Error></t:ErrorList>
        </t:PresenceRegistrationError>
      </o:PresenceRegistrationResponse>
    </o:RegisterPresencesResponse>
  </S:Body>
</S:Envelope>"""


def test_register_reader_accepts_prefixes_whitespace_and_absent_optionals() -> None:
    payload = _payload(REGISTER_ANSWER.encode())
    xsd.validate(payload)
    first, second = responses.decode_register(payload)
    assert isinstance(first, RegistrationResult)
    assert (first.receipt_id, first.inss, first.company_id) == ("123", INSS, COMPANY)
    assert first.client_reference == "&<>\"'"
    assert first.registration_date == DAY  # absent: the creation day in Brussels
    assert (first.sector, first.remarks, first.history[-1].validated_at) == (None, (), None)
    assert isinstance(second, responses.RefusedItem)
    assert (second.submitted.limosa_id, second.submitted.inss) == (LIMOSA, None)
    assert second.errors[0].code == "LIMOSA_ID_UNKNOWN"


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("<Channel>WEBSERVICE</Channel>", "<Channel>A</Channel><Channel>B</Channel>", "more than"),
        ("<CompanyID>403170701</CompanyID>", "<CompanyID><x/></CompanyID>", "must hold text"),
        ("<Status>SUCCESSFULLY REGISTERED</Status>", "", "Status is missing"),
        ("<PresenceRegistrationId> 000123", "<PresenceRegistrationId>12a", "not an integer"),
        ("T07:30:00<", "T25:30:00<", "not a real time"),
        ("<WorkPlaceId>1Y102M7NZF7PZ</WorkPlaceId>", "", "WorkPlaceId is missing"),
    ],
)
def test_register_reader_refuses_what_the_xsd_does_not_allow(
    old: str, new: str, fragment: str
) -> None:
    assert old in REGISTER_ANSWER
    payload = _payload(REGISTER_ANSWER.replace(old, new, 1).encode())
    with pytest.raises(MalformedResponse, match=fragment):
        responses.decode_register(payload)


def test_creation_times_are_read_in_brussels_time_when_they_carry_no_offset() -> None:
    payload = _payload(REGISTER_ANSWER.encode())
    first = responses.decode_register(payload)[0]
    assert isinstance(first, RegistrationResult)
    assert first.created_at == START  # 07:30 Brussels = 06:30 UTC


def test_an_absurdly_long_number_is_malformed_not_a_crash() -> None:
    payload = _payload(REGISTER_ANSWER.replace("000123", "1" * 5000, 1).encode())
    with pytest.raises(MalformedResponse, match="too long"):
        responses.decode_register(payload)
