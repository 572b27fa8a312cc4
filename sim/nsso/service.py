"""The stand-in's business side: one method per operation, payload element in, payload out.

Validation is asynchronous as at NSSO: a registration answers ``SUCCESSFULLY REGISTERED`` at
once and becomes ``VALIDATED`` or ``FAILED`` once ``validation_delay_s`` has passed on the
injected clock. Pending validations are caught up before every operation, so what a caller
observes depends only on the clock, never on a background thread's timing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

from lxml import etree

from presence.clock import Clock, SystemClock, brussels_date
from registry import requests, responses, xsd
from registry.errors import InvalidRequest, MalformedResponse
from registry.requests import Submitted
from registry.soap import NS_OPS
from registry.wire import (
    DEFAULT_FETCH_SIZE,
    MAX_FETCH_SIZE,
    CancelRequest,
    ErrorDetail,
    RegistrationResult,
    SearchQuery,
    Validation,
)
from sim.nsso import rules
from sim.nsso.store import NewRegistration, Row, Step, Store
from sim.nsso.works import WorksRegister

log = logging.getLogger(__name__)

DEFAULT_VALIDATION_DELAY_S = 2.0
CHANNEL = "WEBSERVICE"


class ServiceFault(Exception):
    """Answer the whole call with a SOAP fault (``SystemError`` or ``BusinessError``)."""

    def __init__(self, kind: str, code: str, message: str, retry: bool | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.retry = retry


class PresenceService:
    def __init__(
        self,
        store: Store,
        works: WorksRegister,
        *,
        clock: Clock | None = None,
        validation_delay_s: float = DEFAULT_VALIDATION_DELAY_S,
        today: date | None = None,
        check_answers: bool = False,
    ) -> None:
        self.store = store
        self.check_answers = check_answers
        self.works = works
        self.clock = clock or SystemClock()
        self.validation_delay_s = validation_delay_s
        self.today_override = today
        self._handlers: dict[str, Callable[[etree._Element], etree._Element]] = {
            f"{{{NS_OPS}}}RegisterPresencesRequest": self.register,
            f"{{{NS_OPS}}}CancelPresencesRequest": self.cancel,
            f"{{{NS_OPS}}}SearchPresencesRequest": self.search,
            f"{{{NS_OPS}}}GetPresenceRegistrationRequest": self.get,
        }

    def today(self) -> date:
        """The service's day: its clock in Europe/Brussels, unless overridden."""
        return self.today_override or brussels_date(self.clock.now())

    def handle(self, payload: etree._Element) -> etree._Element:
        """Check the payload against the XSD, catch up validations, run the operation."""
        handler = self._handlers.get(str(payload.tag))
        if handler is None:
            raise ServiceFault(
                "BusinessError",
                "UNKNOWN_OPERATION",
                f"no operation for {etree.QName(payload).localname}",
                False,
            )
        try:
            xsd.validate(payload)
        except xsd.SchemaViolation as exc:
            raise ServiceFault(
                "BusinessError",
                "MESSAGE_NOT_CONFORM",
                f"the request does not validate: {exc}",
                False,
            ) from None
        with self.store.transaction():
            self.validate_due()
            try:
                answer = handler(payload)
            except MalformedResponse as exc:
                raise ServiceFault(
                    "BusinessError", "MESSAGE_NOT_CONFORM", str(exc), False
                ) from None
            if self.check_answers:
                self.check(answer)
        return answer

    def check(self, answer: etree._Element) -> None:
        """Validate what we are about to send; a failure here is a bug of the stand-in."""
        try:
            xsd.validate(answer)
        except xsd.SchemaViolation as exc:
            log.error("the stand-in built an answer the XSD refuses: %s", exc)
            raise ServiceFault("SystemError", "INTERNAL_ERROR", "invalid answer", False) from None

    # --- operations ------------------------------------------------------------------

    def register(self, payload: etree._Element) -> etree._Element:
        today, now_ts = self.today(), self.clock.now().timestamp()
        answers: list[RegistrationResult | responses.Refusal] = []
        for element in requests.read_register(payload):
            errors = self._item_errors(element, today)
            if errors:
                answers.append((element, errors))
                continue
            submitted = requests.read_submitted(element)
            works = self.works.works[submitted.workplace_id]
            new = NewRegistration(
                workplace_id=submitted.workplace_id,
                inss=submitted.inss,
                company_id=submitted.company_id,
                limosa_id=submitted.limosa_id,
                registration_date=submitted.registration_date or today,
                client_reference=submitted.client_reference,
                sector=works.sector_code,
            )
            answers.append(result_of(self.store.insert(new, rules.registered(), now_ts)))
        log.info("answered %d items", len(answers))
        return responses.encode_register(answers)

    def _item_errors(self, element: etree._Element, today: date) -> list[ErrorDetail]:
        try:
            submitted: Submitted = requests.read_submitted(element)
            submitted.item()
        except (MalformedResponse, InvalidRequest) as exc:
            return [ErrorDetail(rules.ITEM_INVALID, str(exc))]
        return rules.check_item(submitted, self.works, today)

    def cancel(self, payload: etree._Element) -> etree._Element:
        reasons = xsd.cancellation_reasons()
        now_ts = self.clock.now().timestamp()
        answers: list[tuple[CancelRequest, RegistrationResult | list[ErrorDetail]]] = []
        for receipt, reason in requests.read_cancel(payload):
            request = CancelRequest(receipt, reason)
            row = self.store.get(receipt)
            if reason not in reasons:
                answers.append(
                    (
                        request,
                        [
                            ErrorDetail(
                                rules.CANCELLATION_REASON_INVALID,
                                f"reason must be one of {', '.join(reasons)}",
                            )
                        ],
                    )
                )
            elif row is None:
                answers.append(
                    (
                        request,
                        [ErrorDetail(rules.REGISTRATION_UNKNOWN, "no such presence registration")],
                    )
                )
            elif row.status == rules.cancelled():
                answers.append(
                    (
                        request,
                        [
                            ErrorDetail(
                                rules.ALREADY_CANCELLED, "the registration is already cancelled"
                            )
                        ],
                    )
                )
            else:
                row = self.store.update(row, Step(rules.cancelled(), now_ts, ()), reason)
                answers.append((request, result_of(row)))
        return responses.encode_cancel(answers)

    def search(self, payload: etree._Element) -> etree._Element:
        query = requests.read_search(payload)
        errors = _search_errors(query)
        if errors:
            return responses.encode_search(query, 0, (), errors)
        rows = self.store.search(
            query.periods, query.inss, query.company_id, query.workplace_id, query.statuses
        )
        if query.remarks:
            wanted = set(query.remarks)
            rows = [r for r in rows if wanted.intersection(r.history[-1].remarks)]
        first = query.first_row or 0
        size = min(query.fetch_size or DEFAULT_FETCH_SIZE, MAX_FETCH_SIZE)
        page = [result_of(r) for r in rows[first : first + size]]
        return responses.encode_search(query, len(rows), page)

    def get(self, payload: etree._Element) -> etree._Element:
        receipt = requests.read_get(payload)
        row = self.store.get(receipt)
        return responses.encode_get(receipt, None if row is None else result_of(row))

    # --- asynchronous validation -----------------------------------------------------

    def validate_due(self, *, force: bool = False) -> int:
        """Validate every registration older than the delay (all of them with ``force``)."""
        now_ts = self.clock.now().timestamp()
        cutoff = now_ts if force else now_ts - self.validation_delay_s
        done = 0
        for row in self.store.pending(rules.registered(), cutoff):
            duplicate = self.store.same_declaration_before(row, rules.cancelled())
            remarks = rules.remarks_for(row, self.works, duplicate)
            status = rules.failed() if remarks else rules.validated()
            when = min(now_ts, row.created_ts + self.validation_delay_s)
            self.store.update(row, Step(status, when, remarks))
            done += 1
        if done:
            log.info("validated %d registrations", done)
        return done


def _search_errors(query: SearchQuery) -> list[ErrorDetail]:
    errors = []
    if any(start > end for start, end in query.periods):
        errors.append(ErrorDetail(rules.PERIOD_INVALID, "a period ends before it starts"))
    if (query.first_row or 0) < 0 or (query.fetch_size is not None and query.fetch_size < 1):
        errors.append(ErrorDetail(rules.PAGINATION_INVALID, "FirstRow >= 0 and FetchSize >= 1"))
    return errors


def result_of(row: Row) -> RegistrationResult:
    history = tuple(
        Validation(
            step.status,
            None if step.validated_ts is None else datetime.fromtimestamp(step.validated_ts, UTC),
            step.remarks,
        )
        for step in row.history
    )
    return RegistrationResult(
        receipt_id=row.receipt_id,
        status=row.status,
        workplace_id=row.workplace_id,
        registration_date=row.registration_date,
        inss=row.inss,
        company_id=row.company_id,
        limosa_id=row.limosa_id,
        client_reference=row.client_reference,
        remarks=history[-1].remarks,
        history=history,
        created_at=row.created_at,
        sector=row.sector,
        channel=CHANNEL,
    )
