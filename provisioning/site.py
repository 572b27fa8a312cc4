"""Is presence registration mandatory for a site? The threshold rules of DOMAIN.md section 1.

- construction: the total contract amount must reach EUR 800,000 for works begun from
  2014-04-01 to 2016-02-29, EUR 500,000 for works begun from 2016-03-01. A site below the
  threshold becomes subject on the day the declared amount reaches it.
- concrete: deliveries of ready-mixed concrete are in scope of the construction rules. Our
  decision: they follow the construction threshold of the works they deliver to, so the
  contract amount asked is that of those works.
- meat: slaughter, cutting and meat preparation in FAVV/AFSCA-approved facilities; no
  threshold, always subject.

Works begun before 2014-04-01 are outside the rules DOMAIN.md states (the duty starts with
works begun on that day), so the answer for them is "not mandatory", with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal

from provisioning.errors import ProvisioningError

Sector = Literal["construction", "meat", "concrete"]
SECTORS: tuple[Sector, ...] = ("construction", "meat", "concrete")

DUTY_START = date(2014, 4, 1)
LOWER_THRESHOLD_FROM = date(2016, 3, 1)
THRESHOLD_2014 = Decimal(800_000)
THRESHOLD_2016 = Decimal(500_000)


@dataclass(frozen=True, slots=True)
class Obligation:
    mandatory: bool
    reason: str
    threshold: Decimal | None = None


def threshold_for(works_start: date) -> Decimal | None:
    """The construction threshold in EUR for works begun on ``works_start`` (None: no duty)."""
    if works_start < DUTY_START:
        return None
    return THRESHOLD_2014 if works_start < LOWER_THRESHOLD_FROM else THRESHOLD_2016


def obligation(sector: Sector, works_start: date, contract_amount: Decimal | None) -> Obligation:
    if sector == "meat":
        return Obligation(True, "meat sector: registration is mandatory whatever the amount")
    scope = (
        "construction works"
        if sector == "construction"
        else ("ready-mixed concrete deliveries (construction rules apply)")
    )
    threshold = threshold_for(works_start)
    if threshold is None:
        return Obligation(
            False,
            f"{scope} begun on {works_start}, before {DUTY_START}: "
            "outside the presence registration rules",
        )
    if contract_amount is None:
        raise ProvisioningError("missing_amount", f"--contract-amount is needed for {sector}")
    begun = f"{scope} begun on {works_start}: threshold EUR {_eur(threshold)}"
    if contract_amount >= threshold:
        return Obligation(
            True,
            f"{begun}, contract amount EUR {_eur(contract_amount)} reaches it",
            threshold,
        )
    return Obligation(
        False,
        f"{begun}, contract amount EUR {_eur(contract_amount)} is below it; the site becomes "
        "subject on the day the declared amount reaches the threshold",
        threshold,
    )


def parse_amount(text: str) -> Decimal:
    """An amount in EUR: digits with an optional decimal point; spaces and ``_`` ignored."""
    compact = text.replace(" ", "").replace("_", "")
    try:
        amount = Decimal(compact)
    except InvalidOperation:
        raise ProvisioningError("bad_amount", f"contract amount {text!r} is not a number") from None
    if not amount.is_finite() or amount < 0 or not compact.replace(".", "", 1).isdigit():
        raise ProvisioningError(
            "bad_amount", f"contract amount {text!r}: write digits in EUR, e.g. 650000"
        )
    return amount


def parse_date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ProvisioningError("bad_date", f"{what} {text!r} is not a date YYYY-MM-DD") from None


def _eur(amount: Decimal) -> str:
    whole = f"{amount:,.2f}"
    return whole[:-3] if whole.endswith(".00") else whole
