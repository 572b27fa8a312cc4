"""The SOAP codec: every document we emit validates against the official XSDs, and the
parser reads everything the XSD allows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from lxml import etree

from registry import requests, responses, soap, xsd
from registry.errors import InvalidRequest, MalformedResponse
from registry.wire import (
    CancelRequest,
    ErrorDetail,
    PresenceItem,
    RegistrationResult,
    SearchQuery,
    Validation,
)
from tests.registry.conftest import COMPANY, INSS, LIMOSA, WORKPLACE

DAY = date(2026, 3, 2)
CREATED = datetime(2026, 3, 2, 6, 30, 1, tzinfo=UTC)


def _payload(doc: etree._Element) -> etree._Element:
    """Serialize and parse back, as the other side would, then take the Body's payload."""
    parsed = soap.parse_envelope(soap.serialize(doc))
    assert isinstance(parsed, soap.Envelope)
    return parsed.payload


def _result(**changes: object) -> RegistrationResult:
    values: dict[str, object] = dict(
        receipt_id="123456789012345",
        status=xsd.status("FAILED"),
        workplace_id=WORKPLACE,
        registration_date=DAY,
        inss=INSS,
        company_id=COMPANY,
        limosa_id=None,
        client_reference="ref-1",
        remarks=(xsd.remark("RELATED DIMONA NOT OK"),),
        history=(
            Validation(xsd.status("SUCCESSFULLY REGISTERED")),
            Validation(xsd.status("FAILED"), CREATED, (xsd.remark("RELATED DIMONA NOT OK"),)),
        ),
        created_at=CREATED,
        sector=1,
    )
    values.update(changes)
    return RegistrationResult(**values)  # type: ignore[arg-type]


ITEMS = [
    PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY),
    PresenceItem(WORKPLACE, limosa_id=LIMOSA, registration_date=DAY, client_reference="x" * 24),
]


@pytest.mark.parametrize(
    "payload",
    [
        requests.encode_register(ITEMS),
        requests.encode_register(ITEMS * 100),
        requests.encode_cancel([CancelRequest("123456789012345", "HOLIDAY")]),
        requests.encode_search(SearchQuery(periods=((DAY, DAY),))),
        requests.encode_search(
            SearchQuery(
                periods=tuple((DAY, DAY) for _ in range(31)),
                inss=INSS,
                company_id=COMPANY,
                workplace_id=WORKPLACE,
                statuses=xsd.statuses(),
                remarks=xsd.remarks(),
                first_row=50,
                fetch_size=500,
            )
        ),
        requests.encode_get("100000000000000"),
    ],
    ids=["register", "register-200", "cancel", "search", "search-full", "get"],
)
def test_requests_validate_against_the_xsd(payload: etree._Element) -> None:
    xsd.validate(_payload(soap.envelope(payload)))


def test_responses_validate_against_the_xsd() -> None:
    refused = (ITEMS[0], [ErrorDetail("INSS_INVALID", "bad")] * 12)
    query = SearchQuery(periods=((DAY, DAY),), first_row=0, fetch_size=2)
    docs = [
        responses.encode_register([_result(), refused, _result(history=(), remarks=())]),
        responses.encode_register([_result(inss=None, company_id=None, limosa_id=LIMOSA)]),
        responses.encode_cancel(
            [
                (CancelRequest("123456789012345", "HOLIDAY"), _result()),
                (CancelRequest("123456789012346", "NOPE"), [ErrorDetail("X", "y")]),
            ]
        ),
        responses.encode_search(query, 7, [_result(), _result(receipt_id="1")]),
        responses.encode_search(query, 0, []),
        responses.encode_search(query, 0, [], [ErrorDetail("PERIOD_INVALID", "no")]),
        responses.encode_get("123456789012345", _result()),
        responses.encode_get("123456789012345", None),
    ]
    for doc in docs:
        xsd.validate(_payload(soap.envelope(doc)))


@pytest.mark.parametrize("kind", ["SystemError", "BusinessError"])
@pytest.mark.parametrize("retry", [True, False, None])
def test_faults_validate_and_parse_back(kind: str, retry: bool | None) -> None:
    doc = soap.fault_envelope(kind, "CODE-1", "Something broke", retry=retry)
    fault_detail = doc.find(f".//{{{soap.NS_ERRORS}}}{kind}")
    assert fault_detail is not None
    xsd.validate(fault_detail)
    parsed = soap.parse_envelope(soap.serialize(doc))
    assert isinstance(parsed, soap.Fault)
    assert parsed.detail is not None
    assert (parsed.detail.kind, parsed.detail.code, parsed.detail.retry) == (kind, "CODE-1", retry)
    assert parsed.detail.message == "Something broke"


def test_register_answer_round_trips() -> None:
    refused = (ITEMS[1], [ErrorDetail("LIMOSA_ID_UNKNOWN", "unknown")])
    payload = _payload(soap.envelope(responses.encode_register([_result(), refused])))
    first, second = responses.decode_register(payload)
    assert first == _result()
    assert isinstance(second, responses.RefusedItem)
    assert second.submitted.limosa_id == LIMOSA
    assert second.errors == (ErrorDetail("LIMOSA_ID_UNKNOWN", "unknown"),)


HAND_WRITTEN_ANSWER = b"""<?xml version="1.0"?>
<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/">
  <S:Header/>
  <S:Body>
    <ns2:GetPresenceRegistrationResponse xmlns:ns2="http://socialsecurity.be/presenceregistration/v1">
      <ns2:GetPresenceRegistrationResponseType>
        <GetPresenceRegistrationRequest xmlns="http://socialsecurity.be/presenceregistration/schemas/v1">
          <PresenceRegistrationId> 123456789012345 </PresenceRegistrationId>
        </GetPresenceRegistrationRequest>
        <t:GetPresenceRegistrationType xmlns:t="http://socialsecurity.be/presenceregistration/schemas/v1">
          <t:PresenceRegistrationType>
            <t:PresenceRegistrationConsultSubmitted>
              <t:LimosaId>24912345678901234</t:LimosaId>
              <t:WorkPlaceId>1Y102M7NZF7PZ</t:WorkPlaceId>
            </t:PresenceRegistrationConsultSubmitted>
            <t:PresenceRegistrationId>123456789012345</t:PresenceRegistrationId>
            <t:CreationDate>2026-03-02T07:30:00</t:CreationDate>
            <t:Channel>ONLINE</t:Channel>
            <t:LastValidation>
              <t:Status>VALIDATED</t:Status>
              <t:ValidationDate>2026-03-02T07:31:00.5+01:00</t:ValidationDate>
            </t:LastValidation>
          </t:PresenceRegistrationType>
        </t:GetPresenceRegistrationType>
      </ns2:GetPresenceRegistrationResponseType>
    </ns2:GetPresenceRegistrationResponse>
  </S:Body>
</S:Envelope>"""


def test_parser_accepts_other_prefixes_whitespace_and_absent_optionals() -> None:
    parsed = soap.parse_envelope(HAND_WRITTEN_ANSWER)
    assert isinstance(parsed, soap.Envelope)
    xsd.validate(parsed.payload)
    result = responses.decode_get(parsed.payload)
    assert result is not None
    assert result.receipt_id == "123456789012345"
    assert result.workplace_id == WORKPLACE
    assert result.limosa_id == LIMOSA
    assert result.status == "VALIDATED"
    assert result.remarks == ()
    assert result.history[-1].validated_at == datetime(2026, 3, 2, 6, 31, 0, 500000, tzinfo=UTC)
    # RegistrationDate absent: the day of creation in Brussels (no offset = Brussels time)
    assert result.registration_date == DAY
    assert result.created_at == datetime(2026, 3, 2, 6, 30, tzinfo=UTC)


def test_an_empty_get_answer_means_not_found() -> None:
    payload = _payload(soap.envelope(responses.encode_get("123456789012345", None)))
    assert responses.decode_get(payload) is None


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "well-formed"),
        (b"<a/>", "not a SOAP 1.1 Envelope"),
        (b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"/>', "SOAP 1.1"),
        (HAND_WRITTEN_ANSWER.replace(b"VALIDATED</t:Status>", b"</t:Status>"), "empty Status"),
        (HAND_WRITTEN_ANSWER.replace(b"2026-03-02T07:30:00", b"yesterday"), "xs:dateTime"),
        (HAND_WRITTEN_ANSWER.replace(b"<t:Channel>ONLINE</t:Channel>", b""), "Channel"),
    ],
)
def test_parser_turns_surprises_into_malformed_response(data: bytes, fragment: str) -> None:
    with pytest.raises(MalformedResponse, match=fragment):
        parsed = soap.parse_envelope(data)
        assert isinstance(parsed, soap.Envelope)
        responses.decode_get(parsed.payload)


def test_parser_refuses_entities() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
        b"<x>&b;</x></S:Body></S:Envelope>"
    )
    parsed = soap.parse_envelope(bomb)
    assert isinstance(parsed, soap.Envelope)
    assert "aaaa" not in (parsed.payload.text or "")


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"inss": INSS}, "item_person"),
        ({"inss": INSS, "company_id": COMPANY, "limosa_id": LIMOSA}, "item_person"),
        ({}, "item_person"),
        ({"inss": "8507300332", "company_id": COMPANY}, "item_inss"),
        ({"inss": INSS, "company_id": 10**10}, "item_company_id"),
        ({"limosa_id": LIMOSA, "client_reference": "x" * 25}, "item_reference"),
        ({"limosa_id": LIMOSA, "workplace_id": "X" * 14}, "item_workplace_id"),
    ],
)
def test_presence_item_refuses_what_the_xsd_cannot_carry(kwargs: dict, code: str) -> None:
    kwargs = {"workplace_id": WORKPLACE, **kwargs}
    with pytest.raises(InvalidRequest) as caught:
        PresenceItem(**kwargs)
    assert caught.value.code == code


def test_masked_item_hides_the_person() -> None:
    text = PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY).masked()
    assert INSS not in text
    assert LIMOSA not in PresenceItem(WORKPLACE, limosa_id=LIMOSA).masked()


def test_enumerations_come_from_the_xsd() -> None:
    assert set(xsd.statuses()) == {
        "SUCCESSFULLY REGISTERED",
        "SUCCESSFULLY CANCELLED",
        "VALIDATED",
        "FAILED",
    }
    assert len(xsd.remarks()) == 17
    assert "COMPANY IS NOT KNOWN  AS BUILDER OR  SUBCONTRACTOR IN THIS DUC" in xsd.remarks()
    assert xsd.cancellation_reasons() == ("HOLIDAY", "DISEASE", "PLANNING", "C32A")
    with pytest.raises(xsd.SchemaUnavailable):
        xsd.remark("COMPANY IS NOT KNOWN AS BUILDER OR SUBCONTRACTOR IN THIS DUC")


def test_schema_location_can_be_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv(xsd.ENV_XSD_DIR, str(tmp_path))
    with pytest.raises(xsd.SchemaUnavailable, match=str(tmp_path)):
        xsd.xsd_dir()


def test_repr_of_items_and_results_never_shows_a_persons_number() -> None:
    item = PresenceItem("1Y102M7NZF7PZ", inss="85073003328", company_id=403170701)
    posted = PresenceItem("1Y102M7NZF7PZ", limosa_id="24912345678901234")
    result = RegistrationResult("123456789012345", "SUCCESSFULLY REGISTERED", "1Y102M7NZF7PZ",
                                date(2026, 3, 2), "85073003328", 403170701, None, None)  # fmt: skip
    for value in (item, posted, result):
        assert "85073003328" not in repr(value)
        assert "24912345678901234" not in repr(value)
