"""Response payloads of the four operations: built by the stand-in, read by the client."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from presence.clock import brussels_date
from registry import xmlread as rd
from registry.errors import MalformedResponse
from registry.requests import (
    Submitted,
    SubmittedFields,
    cancel_type,
    get_request_type,
    read_search_request_type,
    read_submitted,
    search_request_type,
    submit_type,
    submitted_fields,
)
from registry.soap import NS_OPS, NS_TYPES
from registry.wire import (
    CancelRequest,
    CancelResult,
    ErrorDetail,
    PresenceItem,
    RegistrationResult,
    SearchPage,
    SearchQuery,
    Validation,
)

_O = f"{{{NS_OPS}}}"
_T = f"{{{NS_TYPES}}}"
_NSMAP = {"pr": NS_OPS, "prt": NS_TYPES}
Sub = etree.SubElement
_REGISTRATION = rd.Shape(
    NS_TYPES,
    leaves=("Sector", "INSS", "PresenceRegistrationId", "CreationDate", "Channel"),
    nested=(
        "PresenceRegistrationSubmitted",
        "PresenceRegistrationConsultSubmitted",
        "LastValidation",
        "ValidationHistory",
    ),
)
_VALIDATION = rd.Shape(NS_TYPES, leaves=("Status", "ValidationDate"), nested=("RemarkList",))
_ERROR = rd.Shape(NS_TYPES, leaves=("ErrorCode", "ErrorDescription"))
_REGISTER_ANSWER = _O + "PresenceRegistrationResponse"
_REGISTRATION_TAG = _T + "PresenceRegistration"
_REFUSAL_TAG = _T + "PresenceRegistrationError"
_REMARK_TAG = _T + "Remark"
_VALIDATION_TAG = _T + "Validation"
_ERROR_TAG = _T + "Error"


@dataclass(frozen=True, slots=True)
class RefusedItem:
    """A register answer that is an error: what the service echoed, and why."""

    submitted: Submitted
    errors: tuple[ErrorDetail, ...]


RegisterAnswer = RegistrationResult | RefusedItem


# --- building (the stand-in's side) ------------------------------------------------------


Refusal = tuple[PresenceItem | etree._Element, Sequence[ErrorDetail]]


def encode_register(answers: Sequence[RegistrationResult | Refusal]) -> etree._Element:
    """One answer per item: a result, or (the item as submitted, its errors)."""
    root = etree.Element(_O + "RegisterPresencesResponse", nsmap=_NSMAP)
    for answer in answers:
        response = Sub(root, _O + "PresenceRegistrationResponse")
        if isinstance(answer, RegistrationResult):
            registration_type(Sub(response, _T + "PresenceRegistration"), answer)
        else:
            submitted, errors = answer
            error = Sub(response, _T + "PresenceRegistrationError")
            _echo(Sub(error, _T + "PresenceRegistrationSubmitted"), submitted)
            error_list(Sub(error, _T + "ErrorList"), errors)
    return root


def _echo(parent: etree._Element, submitted: PresenceItem | etree._Element) -> None:
    if isinstance(submitted, PresenceItem):
        submit_type(parent, submitted)
    else:
        for child in submitted:
            parent.append(_copy(child))


def _copy(element: etree._Element) -> etree._Element:
    clone = etree.Element(element.tag)
    clone.text = element.text
    for child in element:
        if isinstance(child.tag, str):
            clone.append(_copy(child))
    return clone


def error_list(parent: etree._Element, errors: Sequence[ErrorDetail]) -> None:
    for detail in errors[:10]:
        error = Sub(parent, _T + "Error")
        Sub(error, _T + "ErrorCode").text = detail.code
        Sub(error, _T + "ErrorDescription").text = detail.description


def registration_type(parent: etree._Element, result: RegistrationResult) -> etree._Element:
    """Fill a ``PresenceRegistrationType`` from ``result`` (``created_at`` is required)."""
    if result.created_at is None:
        raise ValueError("a registration to encode needs created_at")
    item = PresenceItem(
        workplace_id=result.workplace_id,
        inss=result.inss,
        company_id=result.company_id,
        limosa_id=result.limosa_id,
        registration_date=result.registration_date,
        client_reference=result.client_reference,
    )
    submit_type(Sub(parent, _T + "PresenceRegistrationSubmitted"), item)
    if result.sector is not None:
        Sub(parent, _T + "Sector").text = str(result.sector)
    if result.inss is not None:
        Sub(parent, _T + "INSS").text = result.inss
    Sub(parent, _T + "PresenceRegistrationId").text = result.receipt_id
    Sub(parent, _T + "CreationDate").text = _datetime(result.created_at)
    Sub(parent, _T + "Channel").text = result.channel
    history = result.history or (Validation(result.status, None, result.remarks),)
    validation_type(Sub(parent, _T + "LastValidation"), history[-1])
    if len(result.history) > 1:  # the history is sent once a validation has happened
        container = Sub(parent, _T + "ValidationHistory")
        for step in history:
            validation_type(Sub(container, _T + "Validation"), step)
    return parent


def validation_type(parent: etree._Element, step: Validation) -> None:
    Sub(parent, _T + "Status").text = step.status
    if step.validated_at is not None:
        Sub(parent, _T + "ValidationDate").text = _datetime(step.validated_at)
    if step.remarks:
        remarks = Sub(parent, _T + "RemarkList")
        for remark in step.remarks[:10]:
            Sub(remarks, _T + "Remark").text = remark


def _datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_cancel(
    answers: Sequence[tuple[CancelRequest, RegistrationResult | Sequence[ErrorDetail]]],
) -> etree._Element:
    root = etree.Element(_O + "CancelPresencesResponse", nsmap=_NSMAP)
    for request, outcome in answers:
        response = Sub(root, _O + "CancelPresenceResponse")
        if isinstance(outcome, RegistrationResult):
            registration_type(Sub(response, _T + "PresenceRegistration"), outcome)
        else:
            error = Sub(response, _T + "PresenceRegistrationError")
            cancel_type(Sub(error, _T + "CancelPresenceRequest"), request)
            error_list(Sub(error, _T + "ErrorList"), outcome)
    return root


def encode_search(
    query: SearchQuery,
    total: int,
    results: Sequence[RegistrationResult],
    errors: Sequence[ErrorDetail] = (),
) -> etree._Element:
    root = etree.Element(_O + "SearchPresencesResponse", nsmap=_NSMAP)
    response = Sub(root, _O + "SearchPresencesResponseType")
    search_request_type(Sub(response, _T + "SearchPresencesRequest"), query)
    if errors:
        error = Sub(response, _T + "PresenceRegistrationError")
        error_list(Sub(error, _T + "ErrorList"), errors)
        return root
    found = Sub(response, _T + "PresenceRegistrationList")
    Sub(found, _T + "PresenceRegistrationResultCount").text = str(total)
    for result in results:
        registration_type(Sub(found, _T + "PresenceRegistration"), result)
    return root


def encode_get(receipt_id: str, result: RegistrationResult | None) -> etree._Element:
    root = etree.Element(_O + "GetPresenceRegistrationResponse", nsmap=_NSMAP)
    response = Sub(root, _O + "GetPresenceRegistrationResponseType")
    get_request_type(Sub(response, _T + "GetPresenceRegistrationRequest"), receipt_id)
    found = Sub(response, _T + "GetPresenceRegistrationType")
    if result is not None:
        registration_type(Sub(found, _T + "PresenceRegistrationType"), result)
    return root


# --- reading (the client's side) ---------------------------------------------------------


def _expect(payload: etree._Element, name: str) -> None:
    if payload.tag != _O + name:
        raise MalformedResponse(f"expected {name}, got {etree.QName(payload).localname}")


def decode_register(payload: etree._Element) -> list[RegisterAnswer]:
    _expect(payload, "RegisterPresencesResponse")
    answers: list[RegisterAnswer] = []
    for response in payload[:]:  # type: ignore[index]
        if response.tag != _REGISTER_ANSWER:
            continue
        if len(response) != 1:
            raise MalformedResponse("an answer must be a registration or an error")
        child = response[0]
        tag = child.tag
        if tag == _REGISTRATION_TAG:
            answers.append(read_registration(child))
        elif tag == _REFUSAL_TAG:
            submitted = read_submitted(rd.one(child, NS_TYPES, "PresenceRegistrationSubmitted"))
            answers.append(RefusedItem(submitted, read_errors(child)))
        else:
            raise MalformedResponse("an answer must be a registration or an error")
    if not answers:
        raise MalformedResponse("RegisterPresencesResponse holds no answer")
    return answers


def read_errors(parent: etree._Element) -> tuple[ErrorDetail, ...]:
    container = rd.one(parent, NS_TYPES, "ErrorList")
    details = [error_detail(*_ERROR.read(error)) for error in container if error.tag == _ERROR_TAG]
    if not details:
        raise MalformedResponse("an ErrorList holds no Error")
    return tuple(details)


def error_detail(code: str | None, description: str | None) -> ErrorDetail:
    return ErrorDetail(
        rd.need_text(code, "ErrorCode"), rd.need_text(description, "ErrorDescription")
    )


def read_registration(element: etree._Element) -> RegistrationResult:
    """A ``PresenceRegistrationType`` element as a result."""
    (sector, latest_inss, receipt, created, channel, submit, consult, last_el, history_el) = (
        _REGISTRATION.read(element)
    )
    if (submit is None) == (consult is None):
        raise MalformedResponse("a registration needs exactly one submitted item")
    echo = submit if submit is not None else consult  # not `or`: a childless element is falsy
    last = read_validation(rd.need(last_el, "LastValidation"))
    history: tuple[Validation, ...] = ()
    if history_el is not None:
        history = tuple(read_validation(v) for v in history_el if v.tag == _VALIDATION_TAG)
    return registration(
        submitted_fields(echo), sector, latest_inss, receipt, created, channel, last, history
    )


def registration(
    echo: SubmittedFields,
    sector: str | None,
    latest_inss: str | None,
    receipt: str | None,
    created: str | None,
    channel: str | None,
    last: Validation,
    history: tuple[Validation, ...],
) -> RegistrationResult:
    """A result from a registration's read echo and validations and the (stripped) texts of
    its leaves, None when absent: the conversions every reader of answers shares."""
    workplace, inss, company_id, limosa, day, reference = echo
    created_at = rd.to_datetime(rd.need_text(created, "CreationDate"), "CreationDate")
    receipt_id = rd.to_int(
        rd.need_text(receipt, "PresenceRegistrationId"), "PresenceRegistrationId"
    )
    return RegistrationResult(
        receipt_id=str(receipt_id),
        status=last.status,
        workplace_id=workplace,
        registration_date=day or brussels_date(created_at),
        inss=inss or latest_inss,
        company_id=company_id,
        limosa_id=limosa,
        client_reference=reference,
        remarks=last.remarks,
        history=history or (last,),
        created_at=created_at,
        sector=None if sector is None else rd.to_int(sector, "Sector"),
        channel=rd.need_text(channel, "Channel"),
    )


def read_validation(element: etree._Element) -> Validation:
    status, raw_date, container = _VALIDATION.read(element)
    remarks: tuple[str, ...] = ()
    if container is not None:
        remarks = tuple(rd.text(r) for r in container if r.tag == _REMARK_TAG)
    return validation(status, raw_date, remarks)


@functools.lru_cache(maxsize=1024)
def validation(status: str | None, raw_date: str | None, remarks: tuple[str, ...]) -> Validation:
    """A validation step from its (stripped) texts; None when absent. Cached: a batch's
    answers share a handful of steps, and a ``Validation`` is immutable."""
    if not status:
        raise MalformedResponse("Status is missing" if status is None else "empty Status")
    validated = None if raw_date is None else rd.to_datetime(raw_date, "ValidationDate")
    return Validation(status, validated, remarks)


def decode_cancel(payload: etree._Element) -> list[CancelResult]:
    _expect(payload, "CancelPresencesResponse")
    results = []
    for response in rd.elements(payload, NS_OPS, "CancelPresenceResponse"):
        ok = rd.optional(response, NS_TYPES, "PresenceRegistration")
        error = rd.optional(response, NS_TYPES, "PresenceRegistrationError")
        if (ok is None) == (error is None):
            raise MalformedResponse("a cancel answer must be a registration or an error")
        if ok is not None:
            result = read_registration(ok)
            results.append(CancelResult(result.receipt_id, result.status))
        else:
            assert error is not None
            request = rd.one(error, NS_TYPES, "CancelPresenceRequest")
            receipt = rd.text(rd.one(request, NS_TYPES, "PresenceRegistrationId"))
            receipt = str(rd.to_int(receipt, "PresenceRegistrationId"))
            results.append(CancelResult(receipt, None, read_errors(error)))
    if not results:
        raise MalformedResponse("CancelPresencesResponse holds no answer")
    return results


def decode_search(payload: etree._Element) -> SearchPage:
    _expect(payload, "SearchPresencesResponse")
    response = rd.one(payload, NS_OPS, "SearchPresencesResponseType")
    query = read_search_request_type(rd.one(response, NS_TYPES, "SearchPresencesRequest"))
    error = rd.optional(response, NS_TYPES, "PresenceRegistrationError")
    found = rd.optional(response, NS_TYPES, "PresenceRegistrationList")
    if error is not None and found is not None:
        raise MalformedResponse("a search answer holds both a list and an error")
    if error is not None:
        return SearchPage(query, 0, (), read_errors(error))
    if found is None:
        return SearchPage(query, 0, ())
    count = rd.text(rd.one(found, NS_TYPES, "PresenceRegistrationResultCount"))
    total = rd.to_int(count, "PresenceRegistrationResultCount")
    results = tuple(
        read_registration(r) for r in rd.elements(found, NS_TYPES, "PresenceRegistration")
    )
    if total < len(results):
        raise MalformedResponse("the result count is smaller than the page")
    return SearchPage(query, total, results)


def decode_get(payload: etree._Element) -> RegistrationResult | None:
    _expect(payload, "GetPresenceRegistrationResponse")
    response = rd.one(payload, NS_OPS, "GetPresenceRegistrationResponseType")
    found = rd.one(response, NS_TYPES, "GetPresenceRegistrationType")
    element = rd.optional(found, NS_TYPES, "PresenceRegistrationType")
    return None if element is None else read_registration(element)
