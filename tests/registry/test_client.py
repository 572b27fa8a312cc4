"""RegistryClient against the stand-in over real HTTP on loopback."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from presence.clock import ManualClock
from registry import xsd
from registry.client import RegistryClient
from registry.errors import RegistryRejected
from registry.wire import ItemError, PresenceItem, RegistrationResult, SearchCriteria
from sim.nsso.server import StandIn
from tests.registry.conftest import COMPANY, DELAY_S, INSS, INSS_2, LIMOSA, STRANGER, WORKPLACE

TODAY = date(2026, 3, 2)


def _items(count: int) -> list[PresenceItem]:
    return [
        PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY, client_reference=f"ref-{i}")
        for i in range(count)
    ]


def test_register_answers_each_item_in_order(client: RegistryClient) -> None:
    items = [
        PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY, client_reference="a"),
        PresenceItem(WORKPLACE, inss="85073003329", company_id=COMPANY, client_reference="b"),
        PresenceItem(WORKPLACE, limosa_id=LIMOSA, registration_date=TODAY + timedelta(days=1)),
    ]
    first, second, third = client.register(items)
    assert isinstance(first, RegistrationResult)
    assert first.status == "SUCCESSFULLY REGISTERED"
    assert len(first.receipt_id) == 15 and first.receipt_id.isdigit()
    assert (first.client_reference, first.registration_date) == ("a", TODAY)
    assert isinstance(second, ItemError)
    assert second.item is items[1]
    assert [e.code for e in second.errors] == ["INSS_INVALID"]
    assert isinstance(third, RegistrationResult)
    assert third.limosa_id == LIMOSA
    assert third.registration_date == TODAY + timedelta(days=1)


def test_register_splits_into_calls_of_200_and_keeps_order(client: RegistryClient) -> None:
    items = _items(450)
    answers = client.register(items)
    assert client.stats.calls == 3
    assert [a.client_reference for a in answers if isinstance(a, RegistrationResult)] == [
        i.client_reference for i in items
    ]
    assert len({a.receipt_id for a in answers if isinstance(a, RegistrationResult)}) == 450


def test_validation_becomes_visible_through_get(client: RegistryClient, clock: ManualClock) -> None:
    ok, stranger = client.register(
        [
            PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY),
            PresenceItem(WORKPLACE, inss=INSS_2, company_id=STRANGER),
        ]
    )
    assert isinstance(ok, RegistrationResult) and isinstance(stranger, RegistrationResult)
    assert client.get(ok.receipt_id).status == "SUCCESSFULLY REGISTERED"
    clock.advance(DELAY_S + 1)
    validated = client.get(ok.receipt_id)
    assert validated.status == "VALIDATED"
    assert [v.status for v in validated.history] == ["SUCCESSFULLY REGISTERED", "VALIDATED"]
    assert validated.history[-1].validated_at is not None
    failed = client.get(stranger.receipt_id)
    assert failed.status == "FAILED"
    assert failed.remarks == ("COMPANY IS NOT KNOWN  AS BUILDER OR  SUBCONTRACTOR IN THIS DUC",)


def test_get_of_an_unknown_receipt_is_rejected(client: RegistryClient) -> None:
    with pytest.raises(RegistryRejected) as caught:
        client.get("123456789012345")
    assert caught.value.code == "not_found"


def test_search_follows_pages_and_combinations(client: RegistryClient, clock: ManualClock) -> None:
    registered = client.register(_items(620))
    other = client.register([PresenceItem(WORKPLACE, inss=INSS_2, company_id=COMPANY)])
    calls = client.stats.calls
    everything = client.search(SearchCriteria(periods=((TODAY, TODAY),)))
    assert client.stats.calls - calls == 2  # 500 + 120
    assert {r.receipt_id for r in everything} == {
        r.receipt_id for r in [*registered, *other] if isinstance(r, RegistrationResult)
    }
    both = client.search(SearchCriteria(periods=((TODAY, TODAY),), inss=(INSS, INSS_2)))
    assert len(both) == 621
    only_second = client.search(SearchCriteria(periods=((TODAY, TODAY),), inss=(INSS_2,)))
    assert [r.inss for r in only_second] == [INSS_2]
    none = client.search(
        SearchCriteria(periods=((TODAY - timedelta(days=40), TODAY - timedelta(days=1)),))
    )
    assert none == []


def test_search_filters_on_status(client: RegistryClient, clock: ManualClock) -> None:
    client.register(_items(2))
    clock.advance(DELAY_S + 1)
    periods = ((TODAY, TODAY),)
    failed = client.search(SearchCriteria(periods=periods, statuses=("FAILED",)))
    validated = client.search(SearchCriteria(periods=periods, statuses=("VALIDATED",)))
    # the second registration of the same person, site and day is flagged
    assert [r.remarks for r in failed] == [("SAME DECLARATION HAS ALREADY BEEN REGISTERED",)]
    assert len(validated) == 1


def test_search_with_more_than_31_periods_takes_several_calls(client: RegistryClient) -> None:
    client.register(_items(1))
    days = tuple((TODAY - timedelta(days=n), TODAY - timedelta(days=n)) for n in range(40))
    calls = client.stats.calls
    assert len(client.search(SearchCriteria(periods=days))) == 1
    assert client.stats.calls - calls == 2


def test_cancel_reports_each_receipt(client: RegistryClient) -> None:
    (result,) = client.register(_items(1))
    assert isinstance(result, RegistrationResult)
    done, again, unknown, bad_reason = client.cancel(
        [
            (result.receipt_id, "HOLIDAY"),
            (result.receipt_id, "DISEASE"),
            ("999999999999999", "PLANNING"),
            (result.receipt_id, "BORED"),
        ]
    )
    assert (done.receipt_id, done.status, done.errors) == (
        result.receipt_id,
        "SUCCESSFULLY CANCELLED",
        (),
    )
    assert [e.code for e in again.errors] == ["ALREADY_CANCELLED"]
    assert [e.code for e in unknown.errors] == ["REGISTRATION_UNKNOWN"]
    assert [e.code for e in bad_reason.errors] == ["CANCELLATION_REASON_INVALID"]
    assert client.get(result.receipt_id).status == xsd.status("SUCCESSFULLY CANCELLED")


def test_admin_lists_registrations(client: RegistryClient, stand_in: StandIn) -> None:
    client.register(_items(3))
    listed = httpx.get(stand_in.base_url + "/admin/registrations").json()
    assert [r["client_reference"] for r in listed] == ["ref-0", "ref-1", "ref-2"]
    assert httpx.post(stand_in.base_url + "/admin/reset").status_code == 200
    assert httpx.get(stand_in.base_url + "/admin/registrations").json() == []
