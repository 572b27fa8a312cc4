"""registerPresences answers of the usual shape, read from their text without building a tree.

An answer to 200 items is a 155 KB document of 3,000 elements; building its lxml tree and
touching every element from Python cost more than everything else the client does
(docs/performance.md). Answers nearly always come in one shape: an envelope without header or
comments, and a flat run of ``PresenceRegistrationResponse`` elements without attributes,
each a registration (echo, receipt, status) or a refusal (echo, errors). For such an answer
one regular expression per item takes the texts out, and the texts go through the same
conversions as the tree reader's (``responses.registration`` and its neighbours).

Well-formedness, checked in two parts. The item patterns fix every tag of an item and allow
no attribute, markup, reference or character XML forbids in a value; what they leave open is
``]]>`` in a value (looked for) and whatever sits around the items: the XML declaration and
the envelope, body and payload tags with their attributes and namespace declarations. libxml2
checks those on the document with its run of items cut out (a few hundred bytes): that and a
well-formed run make the whole document well-formed.

The scan only ever declines: a document of another shape (a fault, a header, a remark list,
an attribute or an entity reference below the payload, another encoding...) or one whose
values a conversion refuses gives None, and the caller reads the tree, which accepts or
refuses it with its own message. So what the scan returns is what the tree reader would
return; the tests compare the two on generated, re-prefixed and mutated answers.
"""

from __future__ import annotations

import functools
import re

from lxml import etree

from registry.errors import MalformedResponse
from registry.requests import Submitted, SubmittedFields, submitted_values
from registry.responses import (
    RefusedItem,
    RegisterAnswer,
    error_detail,
    registration,
    validation,
)
from registry.soap import MAX_DOCUMENT_BYTES, NS_OPS, NS_SOAP, NS_TYPES
from registry.wire import RegistrationResult

_WS = r"[ \t\r\n]*"
# Text of XML characters without markup, reference or CR: the raw text is the parsed value.
_VALUE = r"([^<&\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*)"
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


class _NoEvents:
    """A parser target that wants no events: libxml2 checks the document, builds nothing."""

    def close(self) -> None:
        return None


def read(data: bytes) -> list[RegisterAnswer] | None:
    """The answers of a registerPresences answer of the usual shape, or None (read the tree)."""
    if len(data) > MAX_DOCUMENT_BYTES:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head = _HEAD.match(text)
    if head is None or not _utf8(head["declaration"]):
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
                answers.append(_registration(found.groups()))
            elif found := refused.match(text, position):
                answers.append(_refusal(found.groups(), error))
            else:
                break
            position = found.end()
    except MalformedResponse:
        return None
    tail = _tail(
        head["RegisterPresencesResponse_prefix"], head["Body_prefix"], head["Envelope_prefix"]
    )
    if not answers or not tail.match(text, position):
        return None
    if text.find("]]>", items_start, position) != -1:
        return None
    if not _well_formed((text[:items_start] + text[position:]).encode()):
        return None
    return answers


def _utf8(declaration: str | None) -> bool:
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


def _well_formed(data: bytes) -> bool:
    """What the tree parser would accept: well-formed XML and namespaces. A parser of our own
    for each call (1 us to make): its error log, where libxml2 notes namespace errors without
    stopping a parse that builds nothing, is then this call's."""
    parser = etree.XMLParser(
        # the stubs ask for every event method; lxml delivers those a target has methods for
        target=_NoEvents(),  # type: ignore[arg-type]
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    try:
        etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError):
        return False
    return not parser.error_log.filter_from_errors()


@functools.lru_cache(maxsize=16)
def _item_patterns(ops: str, types: str) -> tuple[re.Pattern[str], ...]:
    """A registration, a refusal and one of a refusal's errors, written with these prefixes.

    Groups, in order: the echo's RegistrationDate, INSS, CompanyID, LimosaId, WorkPlaceId and
    ClientPresenceRegistrationReference, then a registration's Sector, INSS,
    PresenceRegistrationId, CreationDate, Channel, Status and ValidationDate, or a refusal's
    run of Error elements (read by the third pattern: ErrorCode, ErrorDescription)."""
    o = f"{ops}:" if ops else ""
    t = f"{types}:" if types else ""

    def leaf(name: str, value: str = _VALUE) -> str:
        return f"<{t}{name}>{value}</{t}{name}>{_WS}"

    def optional(name: str) -> str:
        return f"(?:{leaf(name)})?"

    def element(name: str, content: str) -> str:
        return f"<{t}{name}>{_WS}{content}</{t}{name}>{_WS}"

    def answer(content: str) -> re.Pattern[str]:
        tag = f"{o}PresenceRegistrationResponse"
        return re.compile(f"<{tag}>{_WS}{content}</{tag}>{_WS}")

    submitted = element(
        "PresenceRegistrationSubmitted",
        optional("RegistrationDate")
        + f"(?:{leaf('INSS')}{leaf('CompanyID')}|{leaf('LimosaId')})"
        + leaf("WorkPlaceId")
        + optional("ClientPresenceRegistrationReference"),
    )
    registered = element(
        "PresenceRegistration",
        submitted
        + optional("Sector")
        + optional("INSS")
        + leaf("PresenceRegistrationId")
        + leaf("CreationDate")
        + leaf("Channel")
        + element("LastValidation", leaf("Status") + optional("ValidationDate")),
    )
    uncaptured = _VALUE.replace("(", "(?:")
    any_error = element(
        "Error", leaf("ErrorCode", uncaptured) + leaf("ErrorDescription", uncaptured)
    )
    refused = element(
        "PresenceRegistrationError",
        submitted + element("ErrorList", f"((?:{any_error})+)"),
    )
    error = element("Error", leaf("ErrorCode") + leaf("ErrorDescription"))
    return answer(registered), answer(refused), re.compile(error)


@functools.lru_cache(maxsize=16)
def _tail(payload: str | None, body: str | None, envelope: str | None) -> re.Pattern[str]:
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


def _registration(texts: tuple[str | None, ...]) -> RegistrationResult:
    day, inss, company, limosa, workplace, reference = texts[:6]
    sector, latest_inss, receipt, created, channel, status, validated = texts[6:]
    assert workplace is not None and status is not None  # mandatory in the pattern
    return registration(
        _echo(day, inss, company, limosa, workplace, reference),
        sector and sector.strip(),
        latest_inss and latest_inss.strip(),
        receipt and receipt.strip(),
        created and created.strip(),
        channel and channel.strip(),
        validation(status.strip(), validated and validated.strip(), ()),
        (),
    )


def _refusal(texts: tuple[str | None, ...], error: re.Pattern[str]) -> RefusedItem:
    day, inss, company, limosa, workplace, reference, errors = texts
    assert workplace is not None and errors is not None  # mandatory in the pattern
    details = tuple(
        error_detail(code.strip(), description.strip())
        for code, description in error.findall(errors)
    )
    return RefusedItem(Submitted(*_echo(day, inss, company, limosa, workplace, reference)), details)
