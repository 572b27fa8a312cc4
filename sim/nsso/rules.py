"""What the stand-in checks: per item when it arrives, and later during validation.

Item errors (the item is refused, no receipt) use the stand-in's own codes: NSSO's list is
not public (DOMAIN.md section 4), so they are opaque strings to the client. Statuses and
remarks are the XSD's own enumeration values, looked up and checked in ``registry.xsd``.
"""

from __future__ import annotations

from datetime import date, timedelta

from presence.errors import PresenceError
from presence.ids import parse_company_id, parse_inss
from registry import xsd
from registry.requests import Submitted
from registry.wire import ErrorDetail
from sim.nsso.store import Row
from sim.nsso.works import WorksRegister

INSS_INVALID = "INSS_INVALID"
COMPANY_ID_INVALID = "COMPANY_ID_INVALID"
WORKPLACE_UNKNOWN = "WORKPLACE_UNKNOWN"
REGISTRATION_DATE_INVALID = "REGISTRATION_DATE_INVALID"
LIMOSA_ID_UNKNOWN = "LIMOSA_ID_UNKNOWN"
LIMOSA_ID_INACTIVE = "LIMOSA_ID_INACTIVE"
ITEM_INVALID = "ITEM_INVALID"
REGISTRATION_UNKNOWN = "REGISTRATION_UNKNOWN"
ALREADY_CANCELLED = "ALREADY_CANCELLED"
CANCELLATION_REASON_INVALID = "CANCELLATION_REASON_INVALID"
PERIOD_INVALID = "PERIOD_INVALID"
PAGINATION_INVALID = "PAGINATION_INVALID"


def registered() -> str:
    return xsd.status("SUCCESSFULLY REGISTERED")


def cancelled() -> str:
    return xsd.status("SUCCESSFULLY CANCELLED")


def validated() -> str:
    return xsd.status("VALIDATED")


def failed() -> str:
    return xsd.status("FAILED")


def check_item(item: Submitted, works: WorksRegister, today: date) -> list[ErrorDetail]:
    """Everything wrong with one submitted item (empty when it can be registered)."""
    errors: list[ErrorDetail] = []
    if item.inss is not None:
        try:
            parse_inss(item.inss)
        except PresenceError as exc:
            errors.append(ErrorDetail(INSS_INVALID, f"INSS is not valid ({exc.code})"))
    if item.company_id is not None:
        try:
            parse_company_id(f"{item.company_id:010d}")
        except (PresenceError, ValueError):
            errors.append(ErrorDetail(COMPANY_ID_INVALID, "CompanyID is not a valid KBO number"))
    if item.workplace_id not in works.works:
        errors.append(ErrorDetail(WORKPLACE_UNKNOWN, "WorkPlaceId is not a declared workplace"))
    day = item.registration_date or today
    if day not in (today, today + timedelta(days=1)):
        errors.append(
            ErrorDetail(REGISTRATION_DATE_INVALID, "RegistrationDate must be today or tomorrow")
        )
    if item.limosa_id is not None:
        declaration = works.limosa.get(item.limosa_id)
        if declaration is None:
            errors.append(ErrorDetail(LIMOSA_ID_UNKNOWN, "LimosaId is not known"))
        elif not declaration.active_on(day):
            errors.append(ErrorDetail(LIMOSA_ID_INACTIVE, "LimosaId is not active at this date"))
    return errors


def remarks_for(row: Row, works: WorksRegister, duplicate: bool) -> tuple[str, ...]:
    """The validation remarks of a registration; none means VALIDATED."""
    found: list[str] = []
    declared = works.works.get(row.workplace_id)
    if declared is None:
        found.append(xsd.remark("DUC IS NOT EXISTING"))
    else:
        if not declared.active_on(row.registration_date):
            found.append(xsd.remark("DUC IS NOT ACTIVE AT THIS DATE"))
        if not declared.subject:
            found.append(xsd.remark("SITE IS NOT SUBJECT TO PRESENCE REGISTRATION"))
        if row.company_id is not None and row.company_id not in declared.companies:
            found.append(
                xsd.remark("COMPANY IS NOT KNOWN  AS BUILDER OR  SUBCONTRACTOR IN THIS DUC")
            )
    if row.limosa_id is not None:
        declaration = works.limosa.get(row.limosa_id)
        if declaration is None:
            found.append(xsd.remark("LIMOSA ID IS NOT KNOWN"))
        elif not declaration.active_on(row.registration_date):
            found.append(xsd.remark("LIMOSA ID IS NOT ACTIVE AT DATE"))
    if duplicate:
        found.append(xsd.remark("SAME DECLARATION HAS ALREADY BEEN REGISTERED"))
    return tuple(found)
