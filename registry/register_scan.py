"""registerPresences answers of the usual shape, read from their text without building a tree.

An answer to 200 items is a 155 KB document of 3,000 elements; building its lxml tree and
touching every element from Python cost more than everything else the client does
(docs/performance.md). Answers nearly always come in one shape: an envelope without header or
comments, and a flat run of ``PresenceRegistrationResponse`` elements without attributes,
each a registration (echo, receipt, status) or a refusal (echo, errors). For such an answer
one regular expression per item takes the texts out, and the texts go through the same
conversions as the tree reader's (``responses.registration`` and its neighbours).

What the tree parser would accept is checked in two parts. The item patterns fix every tag of
an item and allow no attribute, markup character, reference or character XML forbids in a
value. What they leave open sits around the items: the XML declaration, and the envelope, body
and payload tags with their attributes and namespace declarations. The tree path's own parser
reads the document with its run of items cut out (a few hundred bytes). Documents large
enough to reach one of libxml2's size limits are not scanned: those do not add up over parts.

The scan only ever declines: a document of another shape (a fault, a header, a remark list,
an attribute or an entity reference below the payload, another encoding...) or one whose
values a conversion refuses gives None, and the caller reads the tree, which accepts or
refuses it with its own message. So what the scan returns is what the tree reader would
return; the tests compare the two on generated, re-prefixed and mutated answers.
"""

from __future__ import annotations

import functools
import re

from registry.errors import MalformedResponse
from registry.requests import Submitted, SubmittedFields, submitted_values
from registry.responses import (
    RefusedItem,
    RegisterAnswer,
    error_detail,
    registration,
    validation,
)
from registry.soap import NS_OPS, NS_SOAP, NS_TYPES, parse_document
from registry.wire import ErrorDetail, RegistrationResult

# libxml2 refuses a text node over 10,000,000 bytes (no huge_tree); a smaller document has none
MAX_SCANNED_BYTES = 10_000_000
_WS = r"[ \t\r\n]*"
# XML characters but < > & and CR: no markup, reference, "]]>" or line end to normalise, so
# the raw text is the value as parsed.
_TEXT = r"[^<>&\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*"
_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
_ATTRIBUTE = rf"({_NAME}(?::{_NAME})?){_WS}={_WS}(?:\"([^\"<&\t\n\r]*)\"|'([^'<&\t\n\r]*)')"


def _start_tag(local: str) -> str:
    """A start tag with any prefix (group ``<local>_prefix``) and attributes (``<local>_attrs``)."""
    return (
        rf"<(?:(?P<{local}_prefix>{_NAME}):)?{local}"
        rf"(?P<{local}_attrs>(?:[ \t\r\n]+{_ATTRIBUTE})*){_WS}>{_WS}"
    )


_HEAD = re.compile(
    r"(?:<\?xml(?P<declaration>[ \t\r\n][^?<>]*)\?>)?"
    + _WS
    + _start_tag("Envelope")
    + _start_tag("Body")
    + _start_tag("RegisterPresencesResponse")
)
_OUTER_ELEMENTS = (
    ("Envelope", NS_SOAP),
    ("Body", NS_SOAP),
    ("RegisterPresencesResponse", NS_OPS),
)
_ATTRIBUTES = re.compile(_ATTRIBUTE)
_ENCODING = re.compile(rf"encoding{_WS}={_WS}[\"']([^\"']*)[\"']")


def read(data: bytes) -> list[RegisterAnswer] | None:
    """The answers of a registerPresences answer of the usual shape, or None (read the tree)."""
    if len(data) >= MAX_SCANNED_BYTES:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head = _HEAD.match(text)
    if head is None or not _declares_utf8(head["declaration"]):
        return None
    prefixes = _item_prefixes(head)
    if prefixes is None:
        return None
    registered, refused, error = _item_patterns(*prefixes)
    answers: list[RegisterAnswer] = []
    position = items_start = head.end()
    try:
        while True:
            if found := registered.match(text, position):
                answers.append(_registration(*found.groups()))
            elif found := refused.match(text, position):
                answers.append(_refusal(error, *found.groups()))
            else:
                break
            position = found.end()
    except MalformedResponse:
        return None
    tail = _tail(
        head["Envelope_prefix"], head["Body_prefix"], head["RegisterPresencesResponse_prefix"]
    )
    if not answers or not tail.match(text, position):
        return None
    if not _tree_parser_accepts((text[:items_start] + text[position:]).encode()):
        return None
    return answers


def _declares_utf8(declaration: str | None) -> bool:
    """Whether an XML declaration's content leaves the document in UTF-8 (None: none)."""
    if declaration is None:
        return True
    encoding = _ENCODING.search(declaration)
    return encoding is None or encoding[1].lower() == "utf-8"


def _item_prefixes(head: re.Match[str]) -> tuple[str, str] | None:
    """The prefixes the items use for the operations and types namespaces, once the envelope,
    body and payload are found in theirs; None when a namespace has no or several prefixes."""
    bindings: dict[str, str] = {}
    for element, namespace in _OUTER_ELEMENTS:  # outermost first: each sees its ancestors'
        for name, double_quoted, single_quoted in _ATTRIBUTES.findall(head[f"{element}_attrs"]):
            if name == "xmlns" or name.startswith("xmlns:"):
                bindings[name[6:]] = double_quoted or single_quoted
        if bindings.get(head[f"{element}_prefix"] or "") != namespace:
            return None
    ops = [prefix for prefix, ns in bindings.items() if ns == NS_OPS]
    types = [prefix for prefix, ns in bindings.items() if ns == NS_TYPES]
    if len(ops) != 1 or len(types) != 1:
        return None
    return ops[0], types[0]


def _tree_parser_accepts(document: bytes) -> bool:
    try:
        parse_document(document)
    except MalformedResponse:
        return False
    return True


@functools.lru_cache(maxsize=16)
def _item_patterns(ops: str, types: str) -> tuple[re.Pattern[str], ...]:
    """A registration, a refusal and one of a refusal's errors, written with these prefixes.
    Their groups, in order, are the parameters of ``_registration``, ``_refusal`` (after the
    error pattern) and ``_error``, by name (a test holds them to it)."""
    o = f"{ops}:" if ops else ""
    t = f"{types}:" if types else ""

    def leaf(name: str, group: str | None) -> str:
        text = f"(?P<{group}>{_TEXT})" if group else _TEXT
        return f"<{t}{name}>{text}</{t}{name}>{_WS}"

    def optional(name: str, group: str) -> str:
        return f"(?:{leaf(name, group)})?"

    def element(name: str, content: str) -> str:
        return f"<{t}{name}>{_WS}{content}</{t}{name}>{_WS}"

    def answer(content: str) -> re.Pattern[str]:
        tag = f"{o}PresenceRegistrationResponse"
        return re.compile(f"<{tag}>{_WS}{content}</{tag}>{_WS}")

    submitted = element(
        "PresenceRegistrationSubmitted",
        optional("RegistrationDate", "day")
        + f"(?:{leaf('INSS', 'inss')}{leaf('CompanyID', 'company')}|{leaf('LimosaId', 'limosa')})"
        + leaf("WorkPlaceId", "workplace")
        + optional("ClientPresenceRegistrationReference", "reference"),
    )
    registered = element(
        "PresenceRegistration",
        submitted
        + optional("Sector", "sector")
        + optional("INSS", "latest_inss")
        + leaf("PresenceRegistrationId", "receipt")
        + leaf("CreationDate", "created")
        + leaf("Channel", "channel")
        + element(
            "LastValidation", leaf("Status", "status") + optional("ValidationDate", "validated")
        ),
    )
    any_error = element("Error", leaf("ErrorCode", None) + leaf("ErrorDescription", None))
    refused = element(
        "PresenceRegistrationError",
        submitted + element("ErrorList", f"(?P<errors>(?:{any_error})+)"),
    )
    error = element("Error", leaf("ErrorCode", "code") + leaf("ErrorDescription", "description"))
    return answer(registered), answer(refused), re.compile(error)


@functools.lru_cache(maxsize=16)
def _tail(envelope: str | None, body: str | None, payload: str | None) -> re.Pattern[str]:
    """The end tags of the payload, body and envelope (given outermost first), then the end."""

    def end(prefix: str | None, local: str) -> str:
        return re.escape(f"</{prefix}:{local}>" if prefix else f"</{local}>") + _WS

    return re.compile(
        end(payload, "RegisterPresencesResponse")
        + end(body, "Body")
        + end(envelope, "Envelope")
        + r"\Z"
    )


def _echo(
    day: str | None,
    inss: str | None,
    company: str | None,
    limosa: str | None,
    workplace: str,
    reference: str | None,
) -> SubmittedFields:
    """Leaves are read stripped, the reference as sent, as the tree reader reads them.

    (``x and x.strip()`` keeps None for an absent element and "" for an empty one.)"""
    return submitted_values(
        day and day.strip(),
        inss and inss.strip(),
        company and company.strip(),
        limosa and limosa.strip(),
        workplace.strip(),
        reference,
    )


def _registration(
    day: str | None,
    inss: str | None,
    company: str | None,
    limosa: str | None,
    workplace: str,
    reference: str | None,
    sector: str | None,
    latest_inss: str | None,
    receipt: str,
    created: str,
    channel: str,
    status: str,
    validated: str | None,
) -> RegistrationResult:
    return registration(
        _echo(day, inss, company, limosa, workplace, reference),
        sector and sector.strip(),
        latest_inss and latest_inss.strip(),
        receipt.strip(),
        created.strip(),
        channel.strip(),
        validation(status.strip(), validated and validated.strip(), ()),
        (),
    )


def _refusal(
    error: re.Pattern[str],
    day: str | None,
    inss: str | None,
    company: str | None,
    limosa: str | None,
    workplace: str,
    reference: str | None,
    errors: str,
) -> RefusedItem:
    details = tuple(_error(*found.groups()) for found in error.finditer(errors))
    echo = _echo(day, inss, company, limosa, workplace, reference)
    return RefusedItem(Submitted(*echo), details)


def _error(code: str, description: str) -> ErrorDetail:
    return error_detail(code.strip(), description.strip())
