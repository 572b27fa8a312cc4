"""How the client classifies each fault the stand-in (or the network) can produce."""

from __future__ import annotations

import httpx
import pytest

from registry import soap
from registry.client import RegistryClient
from registry.errors import (
    MalformedResponse,
    RegistryRejected,
    RegistryUnavailable,
)
from registry.http import fault_error
from registry.wire import PresenceItem
from sim.nsso.server import StandIn
from sim.processes import free_port
from tests.registry.conftest import COMPANY, INSS, WORKPLACE

ITEM = PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY)


def _faults(stand_in: StandIn, **spec: float) -> None:
    answer = httpx.post(stand_in.base_url + "/admin/faults", json=spec)
    assert answer.status_code == 200, answer.text


def _registered(stand_in: StandIn) -> int:
    return len(httpx.get(stand_in.base_url + "/admin/registrations").json())


def test_503_is_unavailable_and_not_in_doubt(client: RegistryClient, stand_in: StandIn) -> None:
    _faults(stand_in, http_503_share=1.0)
    with pytest.raises(RegistryUnavailable) as caught:
        client.register([ITEM])
    assert (caught.value.code, caught.value.in_doubt) == ("http_503", False)
    assert _registered(stand_in) == 0


def test_system_error_with_retry_is_unavailable(client: RegistryClient, stand_in: StandIn) -> None:
    _faults(stand_in, system_error_retry=1)
    with pytest.raises(RegistryUnavailable) as caught:
        client.register([ITEM])
    assert caught.value.code == "system_error"
    assert caught.value.fault is not None and caught.value.fault.retry is True
    assert _registered(stand_in) == 0
    assert len(client.register([ITEM])) == 1  # only the next call was hit


def test_dropped_connection_after_processing_is_in_doubt(
    client: RegistryClient, stand_in: StandIn
) -> None:
    _faults(stand_in, drop_after_processing=1)
    with pytest.raises(RegistryUnavailable) as caught:
        client.register([ITEM])
    assert (caught.value.code, caught.value.in_doubt) == ("connection_lost", True)
    assert _registered(stand_in) == 1  # processed: the reason to search before resending


def test_malformed_answer_is_malformed_response(client: RegistryClient, stand_in: StandIn) -> None:
    _faults(stand_in, malformed=1)
    with pytest.raises(MalformedResponse):
        client.register([ITEM])
    assert _registered(stand_in) == 1


def test_read_timeout_is_unavailable_and_in_doubt(stand_in: StandIn) -> None:
    _faults(stand_in, latency_s=0.3)
    with (
        RegistryClient(stand_in.endpoint, read_timeout=0.05) as impatient,
        pytest.raises(RegistryUnavailable) as caught,
    ):
        impatient.get("123456789012345")
    assert (caught.value.code, caught.value.in_doubt) == ("timeout", True)


def test_nobody_listening_is_unavailable_and_not_in_doubt() -> None:
    with (
        RegistryClient(f"http://127.0.0.1:{free_port()}/PresenceRegistration/v1") as client,
        pytest.raises(RegistryUnavailable) as caught,
    ):
        client.get("123456789012345")
    assert (caught.value.code, caught.value.in_doubt) == ("connect", False)


def test_wrong_path_is_rejected(stand_in: StandIn) -> None:
    with (
        RegistryClient(stand_in.base_url + "/nowhere") as client,
        pytest.raises(RegistryRejected) as caught,
    ):
        client.get("123456789012345")
    assert caught.value.code == "http_404"


def test_faults_admin_refuses_nonsense(stand_in: StandIn) -> None:
    for spec in ({"http_503_share": 2}, {"explode": 1}, {"malformed": -1}, {"latency_s": "x"}):
        answer = httpx.post(stand_in.base_url + "/admin/faults", json=spec)
        assert answer.status_code == 400, spec


@pytest.mark.parametrize(
    ("kind", "retry", "expected"),
    [
        ("SystemError", None, RegistryUnavailable),
        ("SystemError", True, RegistryUnavailable),
        ("SystemError", False, RegistryRejected),
        ("BusinessError", None, RegistryRejected),
        ("BusinessError", False, RegistryRejected),
        ("BusinessError", True, RegistryUnavailable),
    ],
)
def test_fault_classification(kind: str, retry: bool | None, expected: type) -> None:
    parsed = soap.parse_envelope(soap.serialize(soap.fault_envelope(kind, "C", "m", retry=retry)))
    assert isinstance(parsed, soap.Fault)
    error = fault_error(parsed)
    assert type(error) is expected
    assert error.code == {"SystemError": "system_error", "BusinessError": "business_error"}[kind]


@pytest.mark.parametrize(
    ("fault_code", "expected"),
    [("soap:Server", RegistryUnavailable), ("soap:Client", RegistryRejected)],
)
def test_fault_without_detail_is_classified_by_faultcode(fault_code: str, expected: type) -> None:
    data = (
        '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault>'
        f"<faultcode>{fault_code}</faultcode><faultstring>no</faultstring>"
        "</e:Fault></e:Body></e:Envelope>"
    ).encode()
    parsed = soap.parse_envelope(data)
    assert isinstance(parsed, soap.Fault)
    assert type(fault_error(parsed)) is expected


def test_a_failure_after_the_first_call_keeps_the_answers_already_given(
    client: RegistryClient, stand_in: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = iter([False, True])  # the stand-in answers 503 to the second call only
    monkeypatch.setattr(stand_in.faults, "answer_503", lambda: next(calls))
    items = [
        PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY, client_reference=str(i))
        for i in range(250)
    ]
    with pytest.raises(RegistryUnavailable) as caught:
        client.register(items)
    assert len(caught.value.partial_results) == 200
    assert _registered(stand_in) == 200
