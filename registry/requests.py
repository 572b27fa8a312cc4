"""Request payloads of the four operations: built by the client, read by the stand-in."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from lxml import etree

from registry import xmlread as rd
from registry.errors import InvalidRequest, MalformedResponse
from registry.soap import NS_OPS, NS_TYPES, envelope_text, xml_text
from registry.wire import (
    MAX_ITEMS_PER_CALL,
    MAX_PERIODS_PER_SEARCH,
    CancelRequest,
    PresenceItem,
    SearchQuery,
    check_receipt_id,
)

_O = f"{{{NS_OPS}}}"
_T = f"{{{NS_TYPES}}}"
_NSMAP = {"pr": NS_OPS, "prt": NS_TYPES}
Sub = etree.SubElement


def register_document(items: Sequence[PresenceItem]) -> bytes:
    """The whole registerPresences request document, written as text (the client's path).

    The same document as ``serialize(envelope(encode_register(items)))`` without building a
    tree: the envelope and tags are fixed text, the values go through ``xml_text``. Tests hold
    it to the XSD and to the element form.
    """
    _check_batch(items)
    body = "".join([item_text(item) for item in items])
    return envelope_text(f"<pr:RegisterPresencesRequest>{body}</pr:RegisterPresencesRequest>")


def item_text(item: PresenceItem) -> str:
    """One ``PresenceRegistrationRequest`` (a SubmitType) as XML text, fields in XSD order."""
    return (
        f"<pr:PresenceRegistrationRequest>{_day_text(item.registration_date)}{_person_text(item)}"
        f"<prt:WorkPlaceId>{xml_text(item.workplace_id)}</prt:WorkPlaceId>"
        f"{_reference_text(item)}</pr:PresenceRegistrationRequest>"
    )


@functools.lru_cache(maxsize=64)
def _day_text(day: date | None) -> str:  # a batch's items share one or two days
    return "" if day is None else f"<prt:RegistrationDate>{day.isoformat()}</prt:RegistrationDate>"


def _person_text(item: PresenceItem) -> str:
    if item.limosa_id is not None:
        return f"<prt:LimosaId>{xml_text(item.limosa_id)}</prt:LimosaId>"
    # PresenceItem holds an INSS of 11 digits and an int company: nothing to escape
    return f"<prt:INSS>{item.inss}</prt:INSS><prt:CompanyID>{item.company_id:d}</prt:CompanyID>"


def _reference_text(item: PresenceItem) -> str:
    reference = item.client_reference
    if reference is None:
        return ""
    return (
        "<prt:ClientPresenceRegistrationReference>"
        f"{xml_text(reference)}</prt:ClientPresenceRegistrationReference>"
    )


def _check_batch(items: Sequence[PresenceItem]) -> None:
    if not 1 <= len(items) <= MAX_ITEMS_PER_CALL:
        raise InvalidRequest("batch_size", f"1 to {MAX_ITEMS_PER_CALL} items per call")


def encode_register(items: Sequence[PresenceItem]) -> etree._Element:
    _check_batch(items)
    root = etree.Element(_O + "RegisterPresencesRequest", nsmap=_NSMAP)
    for item in items:
        submit_type(Sub(root, _O + "PresenceRegistrationRequest"), item)
    return root


def submit_type(parent: etree._Element, item: PresenceItem) -> etree._Element:
    """Fill ``parent`` with the children of a ``PresenceRegistrationSubmitType``."""
    if item.registration_date is not None:
        Sub(parent, _T + "RegistrationDate").text = item.registration_date.isoformat()
    if item.limosa_id is not None:
        Sub(parent, _T + "LimosaId").text = item.limosa_id
    else:
        Sub(parent, _T + "INSS").text = item.inss
        Sub(parent, _T + "CompanyID").text = str(item.company_id)
    Sub(parent, _T + "WorkPlaceId").text = item.workplace_id
    if item.client_reference is not None:
        Sub(parent, _T + "ClientPresenceRegistrationReference").text = item.client_reference
    return parent


def encode_cancel(requests: Sequence[CancelRequest]) -> etree._Element:
    if not 1 <= len(requests) <= MAX_ITEMS_PER_CALL:
        raise InvalidRequest("batch_size", f"1 to {MAX_ITEMS_PER_CALL} cancellations per call")
    root = etree.Element(_O + "CancelPresencesRequest", nsmap=_NSMAP)
    for request in requests:
        cancel_type(Sub(root, _O + "CancelPresenceRequest"), request)
    return root


def cancel_type(parent: etree._Element, request: CancelRequest) -> etree._Element:
    Sub(parent, _T + "PresenceRegistrationId").text = request.receipt_id
    Sub(parent, _T + "CancellationReason").text = request.reason
    return parent


def encode_search(query: SearchQuery) -> etree._Element:
    root = etree.Element(_O + "SearchPresencesRequest", nsmap=_NSMAP)
    search_request_type(Sub(root, _O + "SearchPresenceRequest"), query)
    return root


def search_request_type(parent: etree._Element, query: SearchQuery) -> etree._Element:
    if not 1 <= len(query.periods) <= MAX_PERIODS_PER_SEARCH:
        raise InvalidRequest("search_periods", f"1 to {MAX_PERIODS_PER_SEARCH} periods per call")
    criteria = Sub(parent, _T + "SearchPresenceRegistrationCriteria")
    if query.inss is not None:
        Sub(criteria, _T + "INSS").text = query.inss
    if query.company_id is not None:
        Sub(criteria, _T + "CompanyID").text = str(query.company_id)
    if query.workplace_id is not None:
        Sub(criteria, _T + "WorkPlaceId").text = query.workplace_id
    if query.statuses:
        statuses = Sub(criteria, _T + "StatusList")
        for status in query.statuses:
            Sub(statuses, _T + "Status").text = status
    if query.remarks:
        remarks = Sub(criteria, _T + "RemarkList")
        for remark in query.remarks:
            Sub(remarks, _T + "Remark").text = remark
    periods = Sub(criteria, _T + "RegistrationPeriodList")
    for start, end in query.periods:
        period = Sub(periods, _T + "RegistrationPeriod")
        Sub(period, _T + "RegistrationPeriodStartDate").text = start.isoformat()
        Sub(period, _T + "RegistrationPeriodEndDate").text = end.isoformat()
    if query.first_row is not None or query.fetch_size is not None:
        paging = Sub(parent, _T + "PaginationProperties")
        Sub(paging, _T + "FirstRow").text = str(query.first_row or 0)
        Sub(paging, _T + "FetchSize").text = str(query.fetch_size or 50)
    return parent


def encode_get(receipt_id: str) -> etree._Element:
    root = etree.Element(_O + "GetPresenceRegistrationRequest", nsmap=_NSMAP)
    get_request_type(Sub(root, _O + "GetPresenceRegistrationRequest"), receipt_id)
    return root


def get_request_type(parent: etree._Element, receipt_id: str) -> etree._Element:
    Sub(parent, _T + "PresenceRegistrationId").text = check_receipt_id(receipt_id)
    return parent


# --- reading (the stand-in's side) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Submitted:
    """A ``PresenceRegistrationSubmitType`` as read, before any business check."""

    workplace_id: str
    inss: str | None
    company_id: int | None
    limosa_id: str | None
    registration_date: date | None
    client_reference: str | None

    def item(self) -> PresenceItem:
        """As a ``PresenceItem``; raises ``InvalidRequest`` when our type refuses it."""
        return PresenceItem(
            workplace_id=self.workplace_id,
            inss=self.inss,
            company_id=self.company_id,
            limosa_id=self.limosa_id,
            registration_date=self.registration_date,
            client_reference=self.client_reference,
        )


def read_submitted(element: etree._Element) -> Submitted:
    """A SubmitType (or ConsultSubmitType) element; ``MalformedResponse`` on bad shape."""
    return Submitted(*submitted_fields(element))


SubmittedFields = tuple[str, str | None, int | None, str | None, date | None, str | None]


def submitted_fields(element: etree._Element) -> SubmittedFields:
    """The values of a SubmitType in ``Submitted``'s field order, without building one."""
    day, inss, company, limosa, workplace, reference = _SUBMITTED.read(element)
    client_reference = None
    if reference is not None:  # kept as sent, spaces included: it is compared to ours
        if len(reference):
            raise MalformedResponse("ClientPresenceRegistrationReference must hold text")
        client_reference = reference.text or ""
    return submitted_values(day, inss, company, limosa, workplace, client_reference)


def submitted_values(
    day: str | None,
    inss: str | None,
    company: str | None,
    limosa: str | None,
    workplace: str | None,
    client_reference: str | None,
) -> SubmittedFields:
    """A SubmitType's values from its texts (stripped; the reference as sent; None: absent)."""
    return (
        rd.need_text(workplace, "WorkPlaceId"),
        inss,
        None if company is None else rd.to_int(company, "CompanyID"),
        limosa,
        None if day is None else rd.to_date(day, "RegistrationDate"),
        client_reference,
    )


_SUBMITTED = rd.Shape(
    NS_TYPES,
    leaves=("RegistrationDate", "INSS", "CompanyID", "LimosaId", "WorkPlaceId"),
    nested=("ClientPresenceRegistrationReference",),
)


def read_register(payload: etree._Element) -> list[etree._Element]:
    """The ``PresenceRegistrationRequest`` elements of a RegisterPresencesRequest."""
    return rd.elements(payload, NS_OPS, "PresenceRegistrationRequest")


def read_cancel(payload: etree._Element) -> list[tuple[str, str]]:
    out = []
    for element in rd.elements(payload, NS_OPS, "CancelPresenceRequest"):
        receipt = rd.text(rd.one(element, NS_TYPES, "PresenceRegistrationId"))
        reason = rd.text(rd.one(element, NS_TYPES, "CancellationReason"))
        out.append((str(rd.to_int(receipt, "PresenceRegistrationId")), reason))
    return out


def read_search(payload: etree._Element) -> SearchQuery:
    request = rd.one(payload, NS_OPS, "SearchPresenceRequest")
    return read_search_request_type(request)


def read_search_request_type(request: etree._Element) -> SearchQuery:
    criteria = rd.one(request, NS_TYPES, "SearchPresenceRegistrationCriteria")
    periods = []
    for period in rd.elements(
        rd.one(criteria, NS_TYPES, "RegistrationPeriodList"), NS_TYPES, "RegistrationPeriod"
    ):
        start = rd.text(rd.one(period, NS_TYPES, "RegistrationPeriodStartDate"))
        end = rd.text(rd.one(period, NS_TYPES, "RegistrationPeriodEndDate"))
        periods.append((rd.to_date(start, "start date"), rd.to_date(end, "end date")))
    company = rd.opt_text(criteria, NS_TYPES, "CompanyID")
    first_row = fetch_size = None
    paging = rd.optional(request, NS_TYPES, "PaginationProperties")
    if paging is not None:
        first_row = rd.to_int(rd.text(rd.one(paging, NS_TYPES, "FirstRow")), "FirstRow")
        fetch_size = rd.to_int(rd.text(rd.one(paging, NS_TYPES, "FetchSize")), "FetchSize")
    return SearchQuery(
        periods=tuple(periods),
        inss=rd.opt_text(criteria, NS_TYPES, "INSS"),
        company_id=None if company is None else rd.to_int(company, "CompanyID"),
        workplace_id=rd.opt_text(criteria, NS_TYPES, "WorkPlaceId"),
        statuses=_list(criteria, "StatusList", "Status"),
        remarks=_list(criteria, "RemarkList", "Remark"),
        first_row=first_row,
        fetch_size=fetch_size,
    )


def _list(parent: etree._Element, outer: str, inner: str) -> tuple[str, ...]:
    container = rd.optional(parent, NS_TYPES, outer)
    if container is None:
        return ()
    return tuple(rd.text(e) for e in rd.elements(container, NS_TYPES, inner))


def read_get(payload: etree._Element) -> str:
    request = rd.one(payload, NS_OPS, "GetPresenceRegistrationRequest")
    receipt = rd.text(rd.one(request, NS_TYPES, "PresenceRegistrationId"))
    return str(rd.to_int(receipt, "PresenceRegistrationId"))
