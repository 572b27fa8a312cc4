"""Value types of the PresenceRegistration v1 contract (frozen dataclasses).

The SOAP codec lives beside this module: ``registry.soap`` (envelope, faults),
``registry.requests`` and ``registry.responses`` (the payloads of the four operations).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from registry.errors import InvalidRequest

MAX_ITEMS_PER_CALL = 200  # registerPresences / cancelPresences: maxOccurs="200"
MAX_PERIODS_PER_SEARCH = 31  # DOMAIN.md section 4
MAX_FETCH_SIZE = 500
DEFAULT_FETCH_SIZE = 50
MAX_REFERENCE_LENGTH = 24  # ClientReferenceType maxLength
MAX_WORKPLACE_LENGTH = 13  # WorkPlaceIdType maxLength
MAX_REASON_LENGTH = 15  # CancelReasonType maxLength
MAX_COMPANY_ID = 9_999_999_999  # CompanyIDType: xs:long, totalDigits 10
_INSS = re.compile(r"[0-9]{11}")
_RECEIPT = re.compile(r"[1-9][0-9]{0,14}")


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One ``Error{ErrorCode, ErrorDescription}`` of an item; codes are opaque strings."""

    code: str
    description: str


@dataclass(frozen=True, slots=True)
class PresenceItem:
    """One registration to send: a person (INSS + employer, or a Limosa id), a site, a day.

    ``registration_date`` None means "today" at the service. Shape is checked here so that a
    request we build always validates against the XSD.
    """

    workplace_id: str
    # People's numbers stay out of repr (tracebacks, assertion messages): see masked().
    inss: str | None = field(default=None, repr=False)
    company_id: int | None = None
    limosa_id: str | None = field(default=None, repr=False)
    registration_date: date | None = None
    client_reference: str | None = None

    def __post_init__(self) -> None:
        by_inss = self.inss is not None or self.company_id is not None
        if by_inss == (self.limosa_id is not None):
            raise InvalidRequest("item_person", "give either inss and company_id, or limosa_id")
        if by_inss and (self.inss is None or self.company_id is None):
            raise InvalidRequest("item_person", "inss and company_id go together")
        if self.inss is not None and not _INSS.fullmatch(self.inss):
            raise InvalidRequest("item_inss", "inss must be 11 digits")
        if self.company_id is not None and not (
            isinstance(self.company_id, int) and 0 < self.company_id <= MAX_COMPANY_ID
        ):
            raise InvalidRequest("item_company_id", "company_id must be a positive 10-digit int")
        if self.limosa_id is not None and not self.limosa_id.strip():
            raise InvalidRequest("item_limosa_id", "limosa_id is empty")
        if not self.workplace_id or len(self.workplace_id) > MAX_WORKPLACE_LENGTH:
            raise InvalidRequest("item_workplace_id", "workplace_id must be 1 to 13 characters")
        if self.client_reference is not None and len(self.client_reference) > MAX_REFERENCE_LENGTH:
            raise InvalidRequest("item_reference", "client_reference is longer than 24")

    def masked(self) -> str:
        """A log-safe description (never the full INSS or Limosa id)."""
        if self.inss is not None:
            who = f"inss {self.inss[:6]}*****"
        else:
            limosa = self.limosa_id or ""
            who = f"limosa {limosa[:3]}***"
        return f"{who} @ {self.workplace_id} on {self.registration_date or 'today'}"


@dataclass(frozen=True, slots=True)
class Validation:
    """One validation attempt: a status, when it was treated, and its remarks."""

    status: str
    validated_at: datetime | None = None
    remarks: tuple[str, ...] = ()


@dataclass(slots=True)
class RegistrationResult:
    """A registration as the service knows it: its receipt, status and remarks.

    Read-only by convention, not frozen: answers make these by the thousand, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) took a quarter of the
    client's time reading an answer (docs/performance.md).
    """

    receipt_id: str
    status: str
    workplace_id: str
    registration_date: date
    inss: str | None = field(repr=False)
    company_id: int | None
    limosa_id: str | None = field(repr=False)
    client_reference: str | None
    remarks: tuple[str, ...] = ()
    history: tuple[Validation, ...] = ()
    created_at: datetime | None = None
    sector: int | None = None
    channel: str = "WEBSERVICE"


@dataclass(frozen=True, slots=True)
class ItemError:
    """The service refused one item; it was not registered."""

    item: PresenceItem
    errors: tuple[ErrorDetail, ...]


@dataclass(frozen=True, slots=True)
class CancelResult:
    """The answer to one cancellation: the new status, or errors."""

    receipt_id: str
    status: str | None
    errors: tuple[ErrorDetail, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchCriteria:
    """What to search for; ``periods`` (inclusive date ranges) is mandatory.

    The service takes one INSS, CompanyID and WorkPlaceId per call: the client runs one
    search per combination of the values given here, at most 31 periods each.
    """

    periods: tuple[tuple[date, date], ...]
    inss: tuple[str, ...] = ()
    company_ids: tuple[int, ...] = ()
    workplace_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.periods:
            raise InvalidRequest("search_periods", "at least one registration period is required")
        for start, end in self.periods:
            if start > end:
                raise InvalidRequest("search_periods", "a period ends before it starts")
        if len(self.statuses) > 4:
            raise InvalidRequest("search_statuses", "at most 4 statuses")
        for inss in self.inss:
            if not _INSS.fullmatch(inss):
                raise InvalidRequest("item_inss", "inss must be 11 digits")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One searchPresences call as it goes on the wire (one page)."""

    periods: tuple[tuple[date, date], ...]
    inss: str | None = None
    company_id: int | None = None
    workplace_id: str | None = None
    statuses: tuple[str, ...] = ()
    remarks: tuple[str, ...] = ()
    first_row: int | None = None
    fetch_size: int | None = None


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of search results: the total count and the rows of this page."""

    query: SearchQuery
    total: int
    results: tuple[RegistrationResult, ...]
    errors: tuple[ErrorDetail, ...] = ()


@dataclass(frozen=True, slots=True)
class CancelRequest:
    receipt_id: str
    reason: str

    def __post_init__(self) -> None:
        if not _RECEIPT.fullmatch(self.receipt_id):
            raise InvalidRequest("cancel_receipt", "receipt id must be 1 to 15 digits")
        if not self.reason or len(self.reason) > MAX_REASON_LENGTH:
            raise InvalidRequest("cancel_reason", "reason must be 1 to 15 characters")


def check_receipt_id(receipt_id: str) -> str:
    if not isinstance(receipt_id, str) or not _RECEIPT.fullmatch(receipt_id):
        raise InvalidRequest("receipt_id", "receipt id must be 1 to 15 digits")
    return receipt_id


@dataclass(frozen=True, slots=True)
class Operation:
    """A WSDL operation: its name, SOAPAction and payload element names."""

    name: str
    request: str
    response: str
    soap_action: str = field(init=False)

    def __post_init__(self) -> None:
        action = f"http://socialsecurity.be/presenceregistration/v1/{self.name}"
        object.__setattr__(self, "soap_action", action)


REGISTER = Operation("registerPresences", "RegisterPresencesRequest", "RegisterPresencesResponse")
CANCEL = Operation("cancelPresences", "CancelPresencesRequest", "CancelPresencesResponse")
SEARCH = Operation("searchPresences", "SearchPresencesRequest", "SearchPresencesResponse")
GET = Operation(
    "getPresenceRegistration", "GetPresenceRegistrationRequest", "GetPresenceRegistrationResponse"
)
OPERATIONS = (REGISTER, CANCEL, SEARCH, GET)
