"""Whatever bytes come back, the parser raises nothing but MalformedResponse, and the register
answer's scan either declines or reads what the tree reader reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from registry import register_scan, responses, soap
from registry.errors import MalformedResponse
from registry.http import fault_error
from registry.wire import CancelRequest, ErrorDetail, PresenceItem, RegistrationResult, SearchQuery

DAY = date(2026, 3, 2)
RESULT = RegistrationResult(
    receipt_id="123456789012345",
    status="FAILED",
    workplace_id="1Y102M7NZF7PZ",
    registration_date=DAY,
    inss="85073003328",
    company_id=403170701,
    limosa_id=None,
    client_reference="r",
    remarks=("RELATED DIMONA NOT OK",),
    created_at=datetime(2026, 3, 2, 6, 30, tzinfo=UTC),
    sector=1,
)
ITEM = PresenceItem("1Y102M7NZF7PZ", inss="85073003328", company_id=403170701)
QUERY = SearchQuery(periods=((DAY, DAY),), first_row=0, fetch_size=50)
DECODERS: list[Callable[[etree._Element], object]] = [
    responses.decode_register,
    responses.decode_cancel,
    responses.decode_search,
    responses.decode_get,
]
SCANNABLE = replace(RESULT, status="SUCCESSFULLY REGISTERED", remarks=())
SAMPLES = [
    soap.serialize(soap.envelope(doc))
    for doc in (
        responses.encode_register([RESULT, (ITEM, [ErrorDetail("E", "d")])]),
        responses.encode_register([SCANNABLE, (ITEM, [ErrorDetail("E", "d")]), SCANNABLE]),
        responses.encode_cancel([(CancelRequest("123456789012345", "HOLIDAY"), RESULT)]),
        responses.encode_search(QUERY, 3, [RESULT]),
        responses.encode_get("123456789012345", RESULT),
    )
] + [soap.serialize(soap.fault_envelope("SystemError", "C", "m", retry=True))]


def parse_everything(data: bytes) -> None:
    """What the client does with an answer: the scan, then envelope, fault or each decoder."""
    scanned = register_scan.read(data)
    if scanned is not None:  # then the tree reader must read the very same answers
        envelope = soap.parse_envelope(data)
        assert isinstance(envelope, soap.Envelope)
        assert responses.decode_register(envelope.payload) == scanned
    try:
        parsed = soap.parse_envelope(data)
    except MalformedResponse:
        return
    if isinstance(parsed, soap.Fault):
        fault_error(parsed)
        return
    for decode in DECODERS:
        try:
            decode(parsed.payload)
        except MalformedResponse:
            pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    parse_everything(data)


def _mutate(sample: bytes, position: int, cut: int, insert: bytes) -> bytes:
    position %= len(sample) + 1
    return sample[:position] + insert + sample[position + cut :]


FRAGMENTS = st.sampled_from(
    [
        b"",
        b"<",
        b">",
        b"</x>",
        b"<x>",
        b"&amp;",
        b"&undefined;",
        b"\x00",
        b"\xff\xfe",
        b"-1",
        b"99999999999999999999999999",
        b"2026-13-45",
        b"T25:61:00",
        b"true",
        b"yes",
        b"<![CDATA[x]]>",
        b"<!-- c -->",
        b'xmlns="urn:x"',
        b"<?pi x?>",
        b" ",
        b"\xc3\xa9",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SAMPLES),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 40), FRAGMENTS | st.binary(max_size=8)),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_envelopes(sample: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    data = sample
    for position, cut, insert in edits:
        data = _mutate(data, position, cut, insert)
    parse_everything(data)


TEXTS = st.text(max_size=30) | st.sampled_from(["", " ", "1e3", "+5", "٣", "2026-03-02Z", "x"])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_replaced_element_text(sample: bytes, data: st.DataObject) -> None:
    """Well-formed documents whose element values are anything at all."""
    root = etree.fromstring(sample)
    leaves = [e for e in root.iter() if isinstance(e.tag, str) and len(e) == 0]
    for leaf in data.draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=3)):
        leaf.text = data.draw(TEXTS.filter(lambda t: all(c.isprintable() for c in t)))
    parse_everything(etree.tostring(root))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_removed_or_duplicated_elements(sample: bytes, data: st.DataObject) -> None:
    root = etree.fromstring(sample)
    elements = [e for e in root.iter() if isinstance(e.tag, str) and e.getparent() is not None]
    target = data.draw(st.sampled_from(elements))
    parent = target.getparent()
    assert parent is not None
    if data.draw(st.booleans()):
        parent.remove(target)
    else:
        parent.append(etree.fromstring(etree.tostring(target)))
    parse_everything(etree.tostring(root))
