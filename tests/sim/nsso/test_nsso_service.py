"""The stand-in's rules, seen from outside: raw SOAP over HTTP, as any client would send it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from presence.clock import ManualClock
from registry import soap, xsd
from registry.client import RegistryClient
from registry.wire import ItemError, PresenceItem, RegistrationResult
from sim.nsso.server import StandIn
from sim.nsso.service import ServiceFault
from tests.registry.conftest import (
    COMPANY,
    DELAY_S,
    INSS,
    LIMOSA,
    LIMOSA_EXPIRED,
    OTHER_WORKPLACE,
    WORKPLACE,
)

NS = {"t": soap.NS_TYPES, "e": soap.NS_ERRORS}

# Written by hand from the XSDs (not produced by our code): other prefixes, a default
# namespace, whitespace between elements, optional elements left out.
HAND_WRITTEN_REQUEST = """<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Header/>
  <soap:Body>
    <RegisterPresencesRequest xmlns="http://socialsecurity.be/presenceregistration/v1"
                              xmlns:ty="http://socialsecurity.be/presenceregistration/schemas/v1">
      <PresenceRegistrationRequest>
        <ty:INSS>85073003328</ty:INSS>
        <ty:CompanyID>0403170701</ty:CompanyID>
        <ty:WorkPlaceId>1Y102M7NZF7PZ</ty:WorkPlaceId>
      </PresenceRegistrationRequest>
      <PresenceRegistrationRequest>
        <ty:RegistrationDate>2026-03-03</ty:RegistrationDate>
        <ty:LimosaId>24912345678901234</ty:LimosaId>
        <ty:WorkPlaceId>1Y102M7NZF7PZ</ty:WorkPlaceId>
        <ty:ClientPresenceRegistrationReference>gate-1/42</ty:ClientPresenceRegistrationReference>
      </PresenceRegistrationRequest>
    </RegisterPresencesRequest>
  </soap:Body>
</soap:Envelope>
"""
ACTION = "http://socialsecurity.be/presenceregistration/v1/registerPresences"


def _post(stand_in: StandIn, body: str | bytes, action: str = ACTION) -> httpx.Response:
    return httpx.post(
        stand_in.endpoint,
        content=body if isinstance(body, bytes) else body.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'},
    )


def _payload(response: httpx.Response) -> etree._Element:
    parsed = soap.parse_envelope(response.content)
    assert isinstance(parsed, soap.Envelope)
    xsd.validate(parsed.payload)
    return parsed.payload


def _xpath(payload: etree._Element, expression: str) -> list[Any]:
    found = payload.xpath(expression, namespaces=NS)
    assert isinstance(found, list)
    return found


def _fault(response: httpx.Response) -> soap.Fault:
    assert response.status_code == 500
    parsed = soap.parse_envelope(response.content)
    assert isinstance(parsed, soap.Fault) and parsed.detail is not None
    detail = etree.fromstring(response.content).find(".//e:" + parsed.detail.kind, NS)
    assert detail is not None
    xsd.validate(detail)
    return parsed


def test_a_hand_written_request_is_accepted(stand_in: StandIn) -> None:
    response = _post(stand_in, HAND_WRITTEN_REQUEST)
    assert response.status_code == 200
    payload = _payload(response)
    ids = _xpath(payload, "//t:PresenceRegistration/t:PresenceRegistrationId/text()")
    statuses = _xpath(payload, "//t:LastValidation/t:Status/text()")
    assert len(ids) == 2 and all(len(i) == 15 for i in ids)
    assert statuses == ["SUCCESSFULLY REGISTERED"] * 2
    assert _xpath(payload, "//t:ClientPresenceRegistrationReference/text()") == ["gate-1/42"]
    dates = _xpath(payload, "//t:RegistrationDate/text()")
    assert dates == ["2026-03-02", "2026-03-03"]  # absent = today in Brussels


def test_a_request_that_does_not_validate_is_a_business_fault(stand_in: StandIn) -> None:
    broken = HAND_WRITTEN_REQUEST.replace("<ty:INSS>85073003328", "<ty:INSS>8507300332")
    fault = _fault(_post(stand_in, broken))
    assert fault.detail is not None
    assert (fault.detail.kind, fault.detail.code, fault.detail.retry) == (
        "BusinessError",
        "MESSAGE_NOT_CONFORM",
        False,
    )
    assert "ty:INSS" in fault.detail.message
    assert "8507300332" not in fault.detail.message  # never echo a national number
    assert stand_in.registrations() == []


@pytest.mark.parametrize(
    "body", [b"", b"not xml", b"<x/>", HAND_WRITTEN_REQUEST.replace("RegisterPresences", "Nope")]
)
def test_garbage_is_a_business_fault(stand_in: StandIn, body: str | bytes) -> None:
    assert _fault(_post(stand_in, body)).detail is not None


def test_soap_action_must_match_the_body(stand_in: StandIn) -> None:
    fault = _fault(_post(stand_in, HAND_WRITTEN_REQUEST, action=ACTION.replace("register", "x")))
    assert fault.detail is not None and fault.detail.code == "SOAP_ACTION_MISMATCH"


def _register_one(client: RegistryClient, **item: object) -> RegistrationResult | ItemError:
    values: dict[str, object] = {"workplace_id": WORKPLACE, "inss": INSS, "company_id": COMPANY}
    values.update(item)
    (answer,) = client.register([PresenceItem(**values)])  # type: ignore[arg-type]
    return answer


def _codes(answer: RegistrationResult | ItemError) -> list[str]:
    assert isinstance(answer, ItemError)
    return [e.code for e in answer.errors]


@pytest.mark.parametrize(
    ("item", "codes"),
    [
        ({"inss": "85073003329"}, ["INSS_INVALID"]),
        ({"company_id": 403170702}, ["COMPANY_ID_INVALID"]),
        ({"workplace_id": "NOSUCHSITE"}, ["WORKPLACE_UNKNOWN"]),
        ({"registration_date": date(2026, 3, 1)}, ["REGISTRATION_DATE_INVALID"]),
        ({"registration_date": date(2026, 3, 4)}, ["REGISTRATION_DATE_INVALID"]),
        (
            {"inss": None, "company_id": None, "limosa_id": "24999999999999999"},
            ["LIMOSA_ID_UNKNOWN"],
        ),
        ({"inss": None, "company_id": None, "limosa_id": LIMOSA_EXPIRED}, ["LIMOSA_ID_INACTIVE"]),
        (
            {"inss": "85073003329", "workplace_id": "NOSUCHSITE"},
            ["INSS_INVALID", "WORKPLACE_UNKNOWN"],
        ),
    ],
)
def test_items_are_checked_one_by_one(
    client: RegistryClient, stand_in: StandIn, item: dict, codes: list[str]
) -> None:
    assert _codes(_register_one(client, **item)) == codes
    assert stand_in.registrations() == []


def test_today_and_tomorrow_follow_brussels_time_not_utc(tmp_path: Path, works_file: Path) -> None:
    # 23:30 UTC on 2 March is already 3 March in Brussels
    late = ManualClock(datetime(2026, 3, 2, 23, 30, tzinfo=UTC))
    with (
        StandIn(tmp_path / "n.db", works_file, clock=late, check_answers=True) as nsso,
        RegistryClient(nsso.endpoint) as client,
    ):
        assert _codes(_register_one(client, registration_date=date(2026, 3, 2))) == [
            "REGISTRATION_DATE_INVALID"
        ]
        answer = _register_one(client)
        assert isinstance(answer, RegistrationResult)
        assert answer.registration_date == date(2026, 3, 3)
        assert isinstance(
            _register_one(client, registration_date=date(2026, 3, 4)), RegistrationResult
        )


def test_today_can_be_overridden(tmp_path: Path, works_file: Path) -> None:
    with (
        StandIn(tmp_path / "n.db", works_file, today=date(2026, 5, 1)) as nsso,
        RegistryClient(nsso.endpoint) as client,
    ):
        answer = _register_one(client)
        assert isinstance(answer, RegistrationResult)
        assert answer.registration_date == date(2026, 5, 1)
        assert httpx.post(nsso.base_url + "/admin/today", json={"today": "2026-05-02"}).json() == {
            "today": "2026-05-02"
        }
        later = _register_one(client)
        assert isinstance(later, RegistrationResult)
        assert later.registration_date == date(2026, 5, 2)


@pytest.mark.parametrize(
    ("item", "remarks"),
    [
        ({}, ()),
        (
            {"company_id": 202239951},
            ("COMPANY IS NOT KNOWN  AS BUILDER OR  SUBCONTRACTOR IN THIS DUC",),
        ),
        (
            {"workplace_id": OTHER_WORKPLACE},  # declared from 3 March, and below the threshold
            ("DUC IS NOT ACTIVE AT THIS DATE", "SITE IS NOT SUBJECT TO PRESENCE REGISTRATION"),
        ),
    ],
)
def test_validation_after_the_delay(
    client: RegistryClient, clock: ManualClock, item: dict, remarks: tuple[str, ...]
) -> None:
    answer = _register_one(client, **item)
    assert isinstance(answer, RegistrationResult)
    clock.advance(DELAY_S - 1)
    assert client.get(answer.receipt_id).status == "SUCCESSFULLY REGISTERED"
    clock.advance(2)
    result = client.get(answer.receipt_id)
    assert result.status == ("FAILED" if remarks else "VALIDATED")
    assert result.remarks == remarks
    assert all(r in xsd.remarks() for r in result.remarks)


def test_a_second_registration_is_registered_and_flagged(
    client: RegistryClient, clock: ManualClock
) -> None:
    first, second = (_register_one(client, client_reference=r) for r in ("a", "b"))
    assert isinstance(first, RegistrationResult) and isinstance(second, RegistrationResult)
    clock.advance(DELAY_S + 1)
    assert client.get(first.receipt_id).status == "VALIDATED"
    assert client.get(second.receipt_id).remarks == (
        "SAME DECLARATION HAS ALREADY BEEN REGISTERED",
    )


def test_a_registration_after_a_cancelled_one_is_not_a_duplicate(
    client: RegistryClient, clock: ManualClock
) -> None:
    first = _register_one(client)
    assert isinstance(first, RegistrationResult)
    client.cancel([(first.receipt_id, "PLANNING")])
    second = _register_one(client)
    assert isinstance(second, RegistrationResult)
    clock.advance(DELAY_S + 1)
    assert client.get(second.receipt_id).status == "VALIDATED"
    assert client.get(first.receipt_id).status == "SUCCESSFULLY CANCELLED"


def test_limosa_registrations_validate(client: RegistryClient, clock: ManualClock) -> None:
    answer = _register_one(client, inss=None, company_id=None, limosa_id=LIMOSA)
    assert isinstance(answer, RegistrationResult)
    clock.advance(DELAY_S + 1)
    assert client.get(answer.receipt_id).status == "VALIDATED"


def test_state_survives_a_restart(tmp_path: Path, works_file: Path, clock: ManualClock) -> None:
    db = tmp_path / "nsso.db"
    with (
        StandIn(db, works_file, clock=clock, validation_delay_s=DELAY_S) as nsso,
        RegistryClient(nsso.endpoint) as client,
    ):
        answer = _register_one(client)
    assert isinstance(answer, RegistrationResult)
    clock.advance(DELAY_S + 1)
    with (
        StandIn(db, works_file, clock=clock, validation_delay_s=DELAY_S) as nsso,
        RegistryClient(nsso.endpoint) as client,
    ):
        again = client.get(answer.receipt_id)
    assert again.status == "VALIDATED"
    assert again.created_at == answer.created_at


def test_search_pages_as_asked(stand_in: StandIn, client: RegistryClient) -> None:
    client.register(
        [
            PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY, client_reference=str(i))
            for i in range(7)
        ]
    )
    body = f"""<e:Envelope xmlns:e="{soap.NS_SOAP}"><e:Body>
      <SearchPresencesRequest xmlns="{soap.NS_OPS}"><SearchPresenceRequest>
        <c:SearchPresenceRegistrationCriteria xmlns:c="{soap.NS_TYPES}">
          <c:RegistrationPeriodList><c:RegistrationPeriod>
            <c:RegistrationPeriodStartDate>2026-03-01</c:RegistrationPeriodStartDate>
            <c:RegistrationPeriodEndDate>2026-03-02</c:RegistrationPeriodEndDate>
          </c:RegistrationPeriod></c:RegistrationPeriodList>
        </c:SearchPresenceRegistrationCriteria>
        <c:PaginationProperties xmlns:c="{soap.NS_TYPES}">
          <c:FirstRow>5</c:FirstRow><c:FetchSize>3</c:FetchSize>
        </c:PaginationProperties>
      </SearchPresenceRequest></SearchPresencesRequest></e:Body></e:Envelope>"""
    payload = _payload(
        _post(stand_in, body, ACTION.replace("registerPresences", "searchPresences"))
    )
    assert _xpath(payload, "//t:PresenceRegistrationResultCount/text()") == ["7"]
    assert len(_xpath(payload, "//t:PresenceRegistrationList/t:PresenceRegistration")) == 2


def test_an_invalid_answer_is_logged_and_becomes_a_system_error(
    stand_in: StandIn, logged_errors
) -> None:
    logged_errors.expect("the XSD refuses")
    with pytest.raises(ServiceFault) as caught:
        stand_in.service.check(etree.Element(f"{{{soap.NS_OPS}}}RegisterPresencesResponse"))
    assert caught.value.kind == "SystemError"


def test_the_wsdl_is_served(stand_in: StandIn) -> None:
    answer = httpx.get(stand_in.endpoint + "?wsdl")
    assert answer.status_code == 200
    assert b"PresenceRegistrationService" in answer.content


def test_admin_can_validate_at_once_and_show_the_fault_plan(
    stand_in: StandIn, client: RegistryClient
) -> None:
    answer = _register_one(client)
    assert isinstance(answer, RegistrationResult)
    assert httpx.post(stand_in.base_url + "/admin/validate").json() == {"validated": 1}
    assert client.get(answer.receipt_id).status == "VALIDATED"
    httpx.post(stand_in.base_url + "/admin/faults", json={"malformed": 2})
    assert httpx.get(stand_in.base_url + "/admin/faults").json()["malformed"] == 2
