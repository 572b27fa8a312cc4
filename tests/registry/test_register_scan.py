"""The register answer's scan reads the usual shape from the text, leaves every other shape to
the tree reader, and never answers differently from it."""

from __future__ import annotations

import inspect
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from registry import register_scan, responses, soap, xsd
from registry.client import RegistryClient
from registry.errors import MalformedResponse
from registry.wire import ErrorDetail, PresenceItem, RegistrationResult, Validation
from sim.nsso.server import StandIn
from tests.registry.conftest import COMPANY, INSS, INSS_2, LIMOSA, WORKPLACE

DAY = date(2026, 3, 2)
CREATED = datetime(2026, 3, 2, 6, 30, 1, 250000, tzinfo=UTC)
NS_TYPES = "http://socialsecurity.be/presenceregistration/schemas/v1"


def _result(**changes: object) -> RegistrationResult:
    values: dict[str, object] = dict(
        receipt_id="123456789012345",
        status="SUCCESSFULLY REGISTERED",
        workplace_id=WORKPLACE,
        registration_date=DAY,
        inss=INSS,
        company_id=COMPANY,
        limosa_id=None,
        client_reference="ref-1",
        created_at=CREATED,
        sector=1,
    )
    values.update(changes)
    return RegistrationResult(**values)  # type: ignore[arg-type]


ANSWERS: list[RegistrationResult | responses.Refusal] = [
    _result(),
    _result(
        receipt_id="7",
        inss=None,
        company_id=None,
        limosa_id=LIMOSA,
        client_reference=None,
        sector=None,
        history=(Validation("VALIDATED", CREATED),),
        status="VALIDATED",
    ),
    (PresenceItem(WORKPLACE, inss=INSS_2, company_id=COMPANY), [ErrorDetail("E1", "one")]),
    (
        PresenceItem(WORKPLACE, limosa_id=LIMOSA, registration_date=DAY, client_reference=""),
        [ErrorDetail(f"E{n}", f"error {n}") for n in range(10)],
    ),
]


def _document(answers: list[RegistrationResult | responses.Refusal] = ANSWERS) -> bytes:
    """An answer as the stand-in writes it."""
    return soap.serialize(soap.envelope(responses.encode_register(answers)))


def _tree_reads(data: bytes) -> list[responses.RegisterAnswer]:
    parsed = soap.parse_envelope(data)
    assert isinstance(parsed, soap.Envelope)
    return responses.decode_register(parsed.payload)


def _agreeing_scan(data: bytes) -> list[responses.RegisterAnswer] | None:
    """The scan's answers, after checking that the tree reader reads the same from ``data``."""
    scanned = register_scan.read(data)
    if scanned is not None:
        assert scanned == _tree_reads(data)
    return scanned


def test_the_stand_ins_answer_is_scanned_as_the_tree_reads_it() -> None:
    scanned = _agreeing_scan(_document())
    assert scanned is not None
    first, second, third, fourth = scanned
    assert isinstance(first, RegistrationResult) and isinstance(second, RegistrationResult)
    assert (first.receipt_id, first.inss, first.company_id, first.sector) == (
        "123456789012345",
        INSS,
        COMPANY,
        1,
    )
    assert (second.limosa_id, second.client_reference, second.status) == (LIMOSA, None, "VALIDATED")
    assert second.history == (Validation("VALIDATED", CREATED),)
    assert isinstance(third, responses.RefusedItem) and isinstance(fourth, responses.RefusedItem)
    assert third.errors == (ErrorDetail("E1", "one"),)
    assert len(fourth.errors) == 10
    assert fourth.submitted.client_reference == ""


def _re_prefixed(data: bytes, prefix: str) -> bytes:
    """The same answer with the types namespace under another prefix ("" = the default).

    A raw ``<`` only starts markup, so replacing ``<prt:`` and ``</prt:`` renames tags only."""
    text = data.decode()
    declaration = f"xmlns:{prefix}=" if prefix else "xmlns="
    tag = f"{prefix}:" if prefix else ""
    text = text.replace("xmlns:prt=", declaration, 1)
    return text.replace("<prt:", f"<{tag}").replace("</prt:", f"</{tag}").encode()


def _declared_on_the_payload(data: bytes) -> bytes:
    """Both payload namespaces declared on the payload instead of the envelope."""
    text = data.decode()
    declarations = f' xmlns:pr="{soap.NS_OPS}" xmlns:prt="{NS_TYPES}"'
    text = text.replace(declarations, "", 1)
    return text.replace(
        "<pr:RegisterPresencesResponse>", f"<pr:RegisterPresencesResponse{declarations}>", 1
    ).encode()


def _pretty(data: bytes) -> bytes:
    """Indented (lxml writes an element whose text is empty as ``<x/>`` then)."""
    return bytes(
        etree.tostring(
            etree.fromstring(data), pretty_print=True, xml_declaration=True, encoding="UTF-8"
        )
    )


def _without_declaration(data: bytes) -> bytes:
    return data.split(b"?>", 1)[1]


@pytest.mark.parametrize(
    "variant",
    [
        lambda d: _re_prefixed(d, "t"),
        lambda d: _re_prefixed(d, ""),
        _declared_on_the_payload,
        _pretty,
        _without_declaration,
        lambda d: d.replace(b"encoding='UTF-8'", b'encoding="utf-8"', 1),
        lambda d: d.replace(b"<soapenv:Body>", b'<soapenv:Body  soapenv:id="b" >', 1),
    ],
    ids=[
        "other-prefix",
        "default-namespace",
        "declared-on-payload",
        "indented",
        "no-xml-decl",
        "lowercase-encoding",
        "body-attribute",
    ],
)
def test_other_prefixes_declarations_and_whitespace_are_scanned(variant) -> None:
    refusal = (PresenceItem(WORKPLACE, limosa_id=LIMOSA, client_reference="r"), ANSWERS[3][1])
    data = variant(_document([*ANSWERS[:3], refusal]))
    assert _agreeing_scan(data) is not None


BASE = _document([_result()])
LEFT_TO_THE_TREE = {
    "header": BASE.replace(b"<soapenv:Body>", b"<soapenv:Header/><soapenv:Body>"),
    "comment": BASE.replace(b"<prt:Sector>", b"<!-- c --><prt:Sector>"),
    "entity-in-value": BASE.replace(b">ref-1<", b">a&amp;b<"),
    "character-reference": BASE.replace(b">ref-1<", b">&#65;<"),
    "cdata": BASE.replace(b">ref-1<", b"><![CDATA[ref-1]]><"),
    "carriage-return": BASE.replace(b">ref-1<", b">a\rb<"),
    "attribute-on-item": BASE.replace(b"<prt:Sector>", b'<prt:Sector id="1">'),
    "redeclared-in-item": BASE.replace(
        b"<prt:Sector>", f'<prt:Sector xmlns:prt="{NS_TYPES}">'.encode()
    ),
    "empty-element-tag": BASE.replace(
        b"<prt:ClientPresenceRegistrationReference>ref-1</prt:ClientPresenceRegistrationReference>",
        b"<prt:ClientPresenceRegistrationReference/>",
    ),
    "remarks": _document([_result(remarks=("RELATED DIMONA NOT OK",), status="FAILED")]),
    "history": _document(
        [_result(history=(Validation("SUCCESSFULLY REGISTERED"), Validation("VALIDATED", CREATED)))]
    ),
    "unknown-element": BASE.replace(b"<prt:Channel>", b"<prt:Sender>x</prt:Sender><prt:Channel>"),
    "consult-echo": BASE.replace(
        b"PresenceRegistrationSubmitted>", b"PresenceRegistrationConsultSubmitted>"
    ),
    "two-types-prefixes": BASE.replace(
        b"<soapenv:Body>", f'<soapenv:Body xmlns:t2="{NS_TYPES}">'.encode()
    ),
    "latin-1": BASE.replace(b"UTF-8", b"ISO-8859-1").replace(b">ref-1<", b">r\xe9f<"),
    "byte-order-mark": b"\xef\xbb\xbf" + BASE,
    "doctype": BASE.replace(b"?>\n", b"?>\n<!DOCTYPE x>"),
    "after-the-envelope": BASE + b"<!-- trailer -->",
    "no-item": BASE.split(b"<pr:PresenceRegistrationResponse>")[0]
    + b"</pr:RegisterPresencesResponse></soapenv:Body></soapenv:Envelope>",
    "fault": soap.serialize(soap.fault_envelope("SystemError", "C", "down", retry=True)),
    "wrong-envelope-namespace": BASE.replace(
        soap.NS_SOAP.encode(), b"http://www.w3.org/2003/05/soap-envelope"
    ),
    "prefix-bound-only-inside": BASE.replace(
        b"<soapenv:Envelope", b'<soapenv:Envelope xmlns:soapenv="urn:other"', 1
    ).replace(b"<soapenv:Body>", f'<soapenv:Body xmlns:soapenv="{soap.NS_SOAP}">'.encode()),
    "control-character": BASE.replace(b">ref-1<", b">a\x01b<"),
    "cdata-end-in-text": BASE.replace(b">ref-1<", b">a]]>b<"),
    "non-character": BASE.replace(b">ref-1<", ">a\ufffeb<".encode()),
    "undeclared-attribute-prefix": BASE.replace(b"<soapenv:Body>", b'<soapenv:Body q:x="1">'),
    "repeated-attribute": BASE.replace(b"<soapenv:Body>", b'<soapenv:Body a="1" a="2">'),
    "bad-declaration": BASE.replace(b"version='1.0'", b"version='one'"),
    "xml-prefix-rebound": BASE.replace(b"<soapenv:Body>", b'<soapenv:Body xmlns:xml="urn:x">'),
    "empty-namespace": BASE.replace(b"<soapenv:Body>", b'<soapenv:Body xmlns:q="">'),
    "raw-greater-than": BASE.replace(b">ref-1<", b">a>b<"),
    "xml-id-not-a-name": BASE.replace(b"<soapenv:Body>", b'<soapenv:Body xml:id="1 2">'),
    "xml-id-twice": BASE.replace(b"<soapenv:Body>", b'<soapenv:Body xml:id="a">').replace(
        b"<pr:RegisterPresencesResponse>", b'<pr:RegisterPresencesResponse xml:id="a">'
    ),
    "text-node-over-libxml2-limit": BASE.replace(b">ref-1<", b">" + b"r" * 10_000_001 + b"<"),
    "moment-out-of-range": BASE.replace(b">2026-03-02T06:30:01.250Z<", b">0001-01-01T00:00:00<"),
    "day-out-of-range": BASE.replace(
        b"<prt:RegistrationDate>2026-03-02</prt:RegistrationDate>", b""
    ).replace(b">2026-03-02T06:30:01.250Z<", b">9999-12-31T23:30:00Z<"),
    "not-an-integer": BASE.replace(b">123456789012345<", b">12a<"),
    "not-a-date": BASE.replace(b">2026-03-02<", b">2026-13-02<"),
    "empty-status": BASE.replace(b">SUCCESSFULLY REGISTERED<", b"><"),
}


@pytest.mark.parametrize("data", LEFT_TO_THE_TREE.values(), ids=LEFT_TO_THE_TREE.keys())
def test_other_shapes_are_left_to_the_tree(data: bytes) -> None:
    assert data != BASE
    assert register_scan.read(data) is None


def test_the_tree_reads_what_the_scan_leaves_of_the_usual_kind() -> None:
    for name in ("header", "comment", "entity-in-value", "remarks", "history", "unknown-element"):
        (answer,) = _tree_reads(LEFT_TO_THE_TREE[name])
        assert isinstance(answer, RegistrationResult)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("not-an-integer", "not an integer"),
        ("not-a-date", "not a real date"),
        ("empty-status", "empty Status"),
        ("control-character", "well-formed"),
        ("xml-id-not-a-name", "well-formed"),
        ("xml-id-twice", "well-formed"),
        ("text-node-over-libxml2-limit", "well-formed"),
        ("moment-out-of-range", "out of range"),
        ("day-out-of-range", "out of range"),
        ("no-item", "no answer"),
    ],
)
def test_what_the_scan_refuses_to_read_the_tree_refuses_with_its_reason(
    name: str, fragment: str
) -> None:
    with pytest.raises(MalformedResponse, match=fragment):
        _tree_reads(LEFT_TO_THE_TREE[name])


def test_the_patterns_groups_are_the_readers_parameters() -> None:
    registered, refused, error = register_scan._item_patterns("o", "")
    for pattern, reader, skipped in (
        (registered, register_scan._registration, 0),
        (refused, register_scan._refusal, 1),  # the error pattern comes first
        (error, register_scan._error, 0),
    ):
        parameters = list(inspect.signature(reader).parameters)[skipped:]
        assert list(pattern.groupindex) == parameters
        assert pattern.groups == len(parameters)


XML_CHAR = st.characters().filter(
    lambda c: (
        c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff" and not "\ud800" <= c <= "\udfff")
    )
)
TEXT = st.text(XML_CHAR, max_size=13)
# what lxml writes as it is (no reference) and keeps as text when indenting (not empty)
PLAIN = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="<>&")
    | st.sampled_from("\t\néßЖ中𝄞\u00a0\u2003"),
    min_size=1,
    max_size=13,
)
MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


def _results(text: st.SearchStrategy[str]) -> st.SearchStrategy[RegistrationResult]:
    person = st.tuples(st.just(INSS), st.integers(1, 9_999_999_999), st.none()) | st.tuples(
        st.none(), st.none(), text.filter(str.strip)
    )
    return st.builds(
        lambda who, **kw: RegistrationResult(
            inss=who[0], company_id=who[1], limosa_id=who[2], **kw
        ),
        person,
        receipt_id=st.integers(1, 10**15 - 1).map(str),
        status=st.sampled_from(xsd.statuses()),
        workplace_id=text.filter(str.strip),
        registration_date=st.dates(),
        client_reference=st.none() | text,
        created_at=MOMENTS,
        sector=st.none() | st.integers(0, 99),
        channel=text.filter(str.strip),
        history=st.just(()) | MOMENTS.map(lambda m: (Validation("VALIDATED", m),)),
    )


def _refusals(text: st.SearchStrategy[str]) -> st.SearchStrategy[responses.Refusal]:
    item = st.builds(
        PresenceItem,
        workplace_id=text.filter(lambda t: t.strip() and len(t) <= 13),
        inss=st.just(INSS),
        company_id=st.integers(1, 9_999_999_999),
        registration_date=st.none() | st.dates(),
        client_reference=st.none() | text,
    )
    errors = st.lists(
        st.builds(ErrorDetail, text.filter(str.strip), text.filter(str.strip)),
        min_size=1,
        max_size=10,
    )
    return st.tuples(item, errors)


VARIANTS = st.sampled_from(
    [lambda d: d, _pretty, _without_declaration, lambda d: _re_prefixed(d, "x")]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_results(PLAIN) | _refusals(PLAIN), min_size=1, max_size=6), VARIANTS)
def test_generated_answers_of_the_usual_shape_are_scanned(answers, variant) -> None:
    assert _agreeing_scan(variant(_document(answers))) is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_results(TEXT) | _refusals(TEXT), min_size=1, max_size=4), VARIANTS)
def test_any_text_in_any_answer_is_read_as_the_tree_reads_it(answers, variant) -> None:
    _agreeing_scan(variant(_document(answers)))


def test_the_client_scans_the_stand_ins_answers(client: RegistryClient, stand_in: StandIn) -> None:
    items = [
        PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY, client_reference="a"),
        PresenceItem(WORKPLACE, limosa_id=LIMOSA),
        PresenceItem(
            WORKPLACE, inss=INSS_2, company_id=COMPANY, registration_date=date(2025, 1, 1)
        ),
    ]
    first, second, third = client.register(items)
    assert client.stats.scanned_calls == 1
    assert isinstance(first, RegistrationResult) and first.client_reference == "a"
    assert isinstance(second, RegistrationResult) and second.limosa_id == LIMOSA
    assert not isinstance(third, RegistrationResult)
    assert third.errors[0].code == "REGISTRATION_DATE_INVALID"
    assert len(stand_in.registrations()) == 2
