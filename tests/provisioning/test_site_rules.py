"""The threshold rules of DOMAIN.md section 1."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from provisioning.errors import ProvisioningError
from provisioning.site import obligation, parse_amount


@pytest.mark.parametrize(
    ("start", "amount", "mandatory"),
    [
        (date(2014, 4, 1), "800000", True),
        (date(2014, 4, 1), "799999.99", False),
        (date(2016, 2, 29), "500000", False),  # still the EUR 800,000 rule
        (date(2016, 2, 29), "800000", True),
        (date(2016, 3, 1), "500000", True),
        (date(2016, 3, 1), "499999.99", False),
        (date(2026, 1, 5), "2000000", True),
    ],
)
def test_construction_threshold_depends_on_when_works_began(
    start: date, amount: str, mandatory: bool
) -> None:
    assert obligation("construction", start, Decimal(amount)).mandatory is mandatory


def test_reason_names_threshold_and_amount() -> None:
    duty = obligation("construction", date(2015, 6, 1), Decimal("650000"))

    assert not duty.mandatory
    assert duty.threshold == Decimal(800_000)
    assert "EUR 800,000" in duty.reason and "EUR 650,000" in duty.reason
    assert "becomes subject on the day the declared amount reaches" in duty.reason


def test_meat_sector_has_no_threshold() -> None:
    duty = obligation("meat", date(2020, 1, 1), None)

    assert duty.mandatory
    assert "whatever the amount" in duty.reason
    assert obligation("meat", date(2020, 1, 1), Decimal(1)).mandatory


def test_concrete_deliveries_follow_the_construction_threshold() -> None:
    assert obligation("concrete", date(2017, 1, 1), Decimal(500_000)).mandatory
    below = obligation("concrete", date(2017, 1, 1), Decimal(100_000))
    assert not below.mandatory
    assert "concrete" in below.reason


def test_works_begun_before_april_2014_are_outside_the_rules() -> None:
    duty = obligation("construction", date(2014, 3, 31), Decimal(10_000_000))

    assert not duty.mandatory
    assert "before 2014-04-01" in duty.reason


def test_construction_needs_an_amount() -> None:
    with pytest.raises(ProvisioningError) as caught:
        obligation("construction", date(2017, 1, 1), None)
    assert caught.value.code == "missing_amount"


@pytest.mark.parametrize("text", ["", "-5", "1e6", "abc", "12,5", "NaN", "Infinity", "1.2.3"])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(ProvisioningError) as caught:
        parse_amount(text)
    assert caught.value.code == "bad_amount"


def test_amounts_accept_spaces_and_cents() -> None:
    assert parse_amount("1 250 000") == Decimal(1_250_000)
    assert parse_amount("499999.99") == Decimal("499999.99")
