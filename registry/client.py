"""``RegistryClient``: the four PresenceRegistration operations over SOAP 1.1 / HTTPS.

One pooled HTTP session per client. Every failure is a ``RegistryError``:
``RegistryUnavailable`` (retry may succeed), ``RegistryRejected`` (do not resend as is) or
``MalformedResponse``. ``stats`` counts where the time goes (our codec versus the wire).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

import httpx
from lxml import etree

from registry import http, register_scan, requests, responses
from registry.errors import InvalidRequest, MalformedResponse, RegistryError, RegistryRejected
from registry.signing import Signer
from registry.soap import Envelope, envelope, parse_document, serialize
from registry.wire import (
    CANCEL,
    GET,
    MAX_FETCH_SIZE,
    MAX_ITEMS_PER_CALL,
    MAX_PERIODS_PER_SEARCH,
    REGISTER,
    SEARCH,
    CancelRequest,
    CancelResult,
    ItemError,
    Operation,
    PresenceItem,
    RegistrationResult,
    SearchCriteria,
    SearchQuery,
    check_receipt_id,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
Answer = RegistrationResult | ItemError
MAX_SEARCH_PAGES = 1000  # a guard against a service whose count never ends


@dataclass
class ClientStats:
    """Seconds spent in our code (building, signing, parsing) and on the wire, and calls."""

    encode_s: float = 0.0
    wire_s: float = 0.0
    parse_s: float = 0.0
    calls: int = 0
    scanned_calls: int = 0  # register answers read from their text, without a tree


class RegistryClient:
    def __init__(
        self,
        endpoint: str,
        *,
        client_cert: tuple[str, str] | None = None,
        ca_file: str | None = None,
        signer: Signer | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise InvalidRequest("endpoint", "the endpoint must be an http(s) URL")
        self.endpoint = endpoint
        self._signer = signer
        self._session = http.make_session(
            endpoint, client_cert, ca_file, connect_timeout, read_timeout
        )
        self.stats = ClientStats()

    # --- operations ------------------------------------------------------------------

    def register(self, items: Sequence[PresenceItem]) -> list[RegistrationResult | ItemError]:
        """One answer per item, in order; calls of at most 200 items.

        If a later call fails, the exception's ``partial_results`` holds the answers of the
        calls that succeeded before it (those items are registered).
        """
        answers: list[RegistrationResult | ItemError] = []
        for chunk in _chunks(items, MAX_ITEMS_PER_CALL):
            try:
                answers.extend(self._register_chunk(chunk))
            except RegistryError as exc:
                exc.partial_results = list(answers)
                raise
        return answers

    def _register_chunk(self, chunk: Sequence[PresenceItem]) -> list[Answer]:
        started = time.perf_counter()
        response = self._post(REGISTER, self._signed(requests.register_document(chunk)), started)
        started = time.perf_counter()
        try:
            decoded = self._register_answers(response)
            if len(decoded) != len(chunk):
                raise MalformedResponse(f"{len(decoded)} answers for {len(chunk)} items")
            pairs = enumerate(zip(chunk, decoded, strict=True))
            return [_match(i, item, got) for i, (item, got) in pairs]
        finally:
            self.stats.parse_s += time.perf_counter() - started

    def cancel(self, items: Sequence[tuple[str, str]]) -> list[CancelResult]:
        """Cancel registrations, ``(receipt_id, reason)`` each; one result per item, in order."""
        wanted = [CancelRequest(receipt, reason) for receipt, reason in items]
        results: list[CancelResult] = []
        for chunk in _chunks(wanted, MAX_ITEMS_PER_CALL):
            started = time.perf_counter()
            answer = self._call(CANCEL, self._document(requests.encode_cancel(chunk)), started)
            decoded = self._parse(responses.decode_cancel, answer)
            got = [r.receipt_id for r in decoded]
            if got != [str(int(r.receipt_id)) for r in chunk]:
                raise MalformedResponse("cancel answers do not match the receipts sent")
            results.extend(decoded)
        return results

    def search(self, criteria: SearchCriteria) -> list[RegistrationResult]:
        """Every registration matching ``criteria``: all combinations, periods and pages."""
        found: dict[str, RegistrationResult] = {}
        for query in _queries(criteria):
            for result in self._search_all_pages(query):
                found.setdefault(result.receipt_id, result)
        return list(found.values())

    def _search_all_pages(self, query: SearchQuery) -> Iterator[RegistrationResult]:
        first_row = 0
        for _ in range(MAX_SEARCH_PAGES):
            page_query = _with_page(query, first_row)
            started = time.perf_counter()
            answer = self._call(SEARCH, self._document(requests.encode_search(page_query)), started)
            page = self._parse(responses.decode_search, answer)
            if page.errors:
                codes = ", ".join(e.code for e in page.errors)
                raise RegistryRejected("search_refused", f"search refused: {codes}")
            yield from page.results
            first_row += len(page.results)
            if not page.results or first_row >= page.total:
                return
        raise MalformedResponse("search results never end")

    def get(self, receipt_id: str) -> RegistrationResult:
        """The registration with its validation history; ``RegistryRejected`` if unknown."""
        started = time.perf_counter()
        payload = requests.encode_get(check_receipt_id(receipt_id))
        answer = self._call(GET, self._document(payload), started)
        result = self._parse(responses.decode_get, answer)
        if result is None:
            raise RegistryRejected("not_found", "the registry knows no such receipt")
        if result.receipt_id != str(int(receipt_id)):
            raise MalformedResponse("the registry answered about another receipt")
        return result

    # --- plumbing --------------------------------------------------------------------

    def _document(self, payload: etree._Element) -> bytes:
        """``payload`` in an envelope, signed when we sign, as bytes to send."""
        doc = envelope(payload)
        if self._signer is not None:
            doc = self._signer.sign(doc)
        return serialize(doc)

    def _signed(self, document: bytes) -> bytes:
        """A document written as text, signed when we sign (the signer works on a tree)."""
        if self._signer is None:
            return document
        return serialize(self._signer.sign(parse_document(document)))

    def _call(self, operation: Operation, body: bytes, started: float) -> Envelope:
        """POST ``body`` and parse the answer; faults and HTTP errors raise."""
        response = self._post(operation, body, started)
        parsing = time.perf_counter()
        try:
            return http.read_answer(response)
        finally:
            self.stats.parse_s += time.perf_counter() - parsing

    def _post(self, operation: Operation, body: bytes, started: float) -> httpx.Response:
        """POST ``body``; ``started`` is when encoding began (the time up to now is ours)."""
        sent = time.perf_counter()
        self.stats.encode_s += sent - started
        try:
            response = http.post(self._session, self.endpoint, operation.soap_action, body)
        finally:
            self.stats.wire_s += time.perf_counter() - sent
            self.stats.calls += 1
        log.debug("%s answered in %.3f s", operation.name, time.perf_counter() - started)
        return response

    def _register_answers(self, response: httpx.Response) -> list[responses.RegisterAnswer]:
        """An answer of the usual shape is scanned from its text; any other is read from its
        tree, where faults, HTTP errors and malformed answers raise."""
        if response.status_code == 200:
            scanned = register_scan.read(response.content)
            if scanned is not None:
                self.stats.scanned_calls += 1
                return scanned
        return responses.decode_register(http.read_answer(response).payload)

    def _parse(self, decode: Callable[[etree._Element], T], answer: Envelope) -> T:
        started = time.perf_counter()
        try:
            return decode(answer.payload)
        finally:
            self.stats.parse_s += time.perf_counter() - started

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _match(
    index: int, item: PresenceItem, got: RegistrationResult | responses.RefusedItem
) -> RegistrationResult | ItemError:
    echo = got.submitted if isinstance(got, responses.RefusedItem) else got
    same = (
        echo.workplace_id == item.workplace_id
        and echo.limosa_id == item.limosa_id
        and (item.limosa_id is not None or echo.inss == item.inss)
        and echo.company_id == item.company_id
        and echo.client_reference == item.client_reference
        and (item.registration_date is None or echo.registration_date == item.registration_date)
    )
    if not same:
        raise MalformedResponse(f"answer {index} is about another item than the one sent")
    if isinstance(got, responses.RefusedItem):
        return ItemError(item, got.errors)
    return got


def _queries(criteria: SearchCriteria) -> Iterator[SearchQuery]:
    periods = criteria.periods
    for inss, company, workplace in itertools.product(
        criteria.inss or (None,), criteria.company_ids or (None,), criteria.workplace_ids or (None,)
    ):
        for start in range(0, len(periods), MAX_PERIODS_PER_SEARCH):
            yield SearchQuery(
                periods=periods[start : start + MAX_PERIODS_PER_SEARCH],
                inss=inss,
                company_id=company,
                workplace_id=workplace,
                statuses=criteria.statuses,
            )


def _with_page(query: SearchQuery, first_row: int) -> SearchQuery:
    return SearchQuery(
        periods=query.periods,
        inss=query.inss,
        company_id=query.company_id,
        workplace_id=query.workplace_id,
        statuses=query.statuses,
        remarks=query.remarks,
        first_row=first_row,
        fetch_size=MAX_FETCH_SIZE,
    )
