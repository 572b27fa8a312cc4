"""SOAP 1.1 envelopes and faults around the PresenceRegistration payloads.

Parsing is defensive: a hardened lxml parser (no entities, no network), any prefixes, and
every surprise becomes ``MalformedResponse``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from registry.errors import FaultDetail, InvalidRequest, MalformedResponse

NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS_OPS = "http://socialsecurity.be/presenceregistration/v1"
NS_TYPES = "http://socialsecurity.be/presenceregistration/schemas/v1"
NS_ERRORS = "http://socialsecurity.be/errors/v1"
NS_XML = "http://www.w3.org/XML/1998/namespace"
NSMAP = {"soapenv": NS_SOAP, "pr": NS_OPS, "prt": NS_TYPES}
FAULT_KINDS = ("SystemError", "BusinessError")
CONTENT_TYPE = "text/xml; charset=utf-8"
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024

_XML_DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"
_ENVELOPE_OPEN = (
    f'<soapenv:Envelope xmlns:soapenv="{NS_SOAP}" xmlns:pr="{NS_OPS}" xmlns:prt="{NS_TYPES}">'
    "<soapenv:Body>"
)
_ENVELOPE_CLOSE = "</soapenv:Body></soapenv:Envelope>"
# what XML 1.0 cannot carry at all (controls, lone surrogates, U+FFFE/U+FFFF)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed envelope: its Header (or None) and the single payload element of its Body."""

    header: etree._Element | None
    payload: etree._Element


@dataclass(frozen=True, slots=True)
class Fault:
    """A SOAP fault; ``detail`` is None when it carries no NSSO error element."""

    fault_code: str
    fault_string: str
    detail: FaultDetail | None


def envelope(payload: etree._Element, header: etree._Element | None = None) -> etree._Element:
    """Wrap ``payload`` in a SOAP 1.1 Envelope/Body (and Header when given)."""
    env = etree.Element(f"{{{NS_SOAP}}}Envelope", nsmap=NSMAP)
    if header is not None:
        env.append(header)
    body = etree.SubElement(env, f"{{{NS_SOAP}}}Body")
    body.append(payload)
    return env


def envelope_text(payload: str) -> bytes:
    """A whole document around ``payload``, XML text that uses the ``pr``/``prt`` prefixes.

    The same bytes as ``serialize(envelope(...))`` of the element form, without building a
    tree; the caller answers for ``payload`` being well-formed (escaped with ``xml_text``).
    """
    return f"{_XML_DECLARATION}{_ENVELOPE_OPEN}{payload}{_ENVELOPE_CLOSE}".encode()


def xml_text(value: str) -> str:
    """``value`` escaped for element content, as lxml escapes it (``&``, ``<``, ``>``, CR).

    Quotes need no escaping outside attributes. A character XML cannot carry is an
    ``InvalidRequest`` (``xml_char``), where lxml would raise a bare ``ValueError``.
    """
    if value.isascii() and value.isprintable():  # the usual case: no control, no CR
        if "&" in value or "<" in value or ">" in value:
            return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return value
    if _NOT_XML.search(value):
        raise InvalidRequest("xml_char", "a text holds a character XML cannot carry")
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("\r", "&#13;")


def serialize(element: etree._Element) -> bytes:
    return bytes(etree.tostring(element, xml_declaration=True, encoding="UTF-8"))


def fault_envelope(
    kind: str,
    code: str,
    message: str,
    *,
    retry: bool | None = None,
    origin: str = "server",
    environment: str | None = "Simulation",
    lang: str = "en",
) -> etree._Element:
    """A SOAP fault whose detail holds an ``err:SystemError`` or ``err:BusinessError``."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
    env = etree.Element(f"{{{NS_SOAP}}}Envelope", nsmap={"soapenv": NS_SOAP})
    body = etree.SubElement(env, f"{{{NS_SOAP}}}Body")
    fault = etree.SubElement(body, f"{{{NS_SOAP}}}Fault")
    side = "Server" if kind == "SystemError" else "Client"
    etree.SubElement(fault, "faultcode").text = f"soapenv:{side}"
    etree.SubElement(fault, "faultstring").text = message
    detail = etree.SubElement(fault, "detail")
    detail.append(error_element(kind, code, message, retry, origin, environment, lang))
    return env


def error_element(
    kind: str,
    code: str,
    message: str,
    retry: bool | None,
    origin: str,
    environment: str | None,
    lang: str,
) -> etree._Element:
    err = etree.Element(f"{{{NS_ERRORS}}}{kind}", nsmap={"err": NS_ERRORS})
    etree.SubElement(err, f"{{{NS_ERRORS}}}Origin").text = origin
    etree.SubElement(err, f"{{{NS_ERRORS}}}Code").text = code
    msg = etree.SubElement(err, f"{{{NS_ERRORS}}}Message")
    msg.text = message
    msg.set(f"{{{NS_XML}}}lang", lang)
    if retry is not None:
        etree.SubElement(err, f"{{{NS_ERRORS}}}Retry").text = "true" if retry else "false"
    if environment is not None:
        etree.SubElement(err, f"{{{NS_ERRORS}}}Environment").text = environment
    return err


def parse_document(data: bytes) -> etree._Element:
    """Bytes to an element tree root, or ``MalformedResponse``."""
    if not isinstance(data, bytes | bytearray):
        raise MalformedResponse("the answer is not bytes")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise MalformedResponse("the answer is too large")
    try:
        root = etree.fromstring(bytes(data), _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise MalformedResponse(f"not well-formed XML: {exc}") from None
    if root is None:
        raise MalformedResponse("empty document")
    return root


def parse_envelope(data: bytes) -> Envelope | Fault:
    """A SOAP 1.1 envelope's payload, or the fault it carries."""
    root = parse_document(data)
    if root.tag != f"{{{NS_SOAP}}}Envelope":
        raise MalformedResponse(f"root element is {_name(root)}, not a SOAP 1.1 Envelope")
    children = _elements(root)
    header = None
    if children and children[0].tag == f"{{{NS_SOAP}}}Header":
        header = children.pop(0)
    if len(children) != 1 or children[0].tag != f"{{{NS_SOAP}}}Body":
        raise MalformedResponse("the Envelope must hold one Body")
    payloads = _elements(children[0])
    if len(payloads) != 1:
        raise MalformedResponse(f"the Body holds {len(payloads)} elements, expected 1")
    payload = payloads[0]
    if payload.tag == f"{{{NS_SOAP}}}Fault":
        return parse_fault(payload)
    return Envelope(header, payload)


def parse_fault(fault: etree._Element) -> Fault:
    fields = {_local(child): child for child in _elements(fault) if _ns(child) in ("", NS_SOAP)}
    if "faultcode" not in fields or "faultstring" not in fields:
        raise MalformedResponse("a SOAP Fault needs faultcode and faultstring")
    fault_code = _text(fields["faultcode"])
    detail = None
    if "detail" in fields:
        errors = [e for e in _elements(fields["detail"]) if _ns(e) == NS_ERRORS]
        if errors:
            detail = _error_detail(errors[0], fault_code)
    return Fault(fault_code, _text(fields["faultstring"]), detail)


def _error_detail(err: etree._Element, fault_code: str) -> FaultDetail:
    kind = _local(err)
    if kind not in FAULT_KINDS:
        raise MalformedResponse(f"unknown fault detail {kind}")
    parts: dict[str, str] = {}
    for child in _elements(err):
        if _ns(child) == NS_ERRORS:
            parts.setdefault(_local(child), _text(child))
    if "Code" not in parts or "Message" not in parts:
        raise MalformedResponse(f"{kind} needs Code and Message")
    retry = None
    if "Retry" in parts:
        retry = parse_boolean(parts["Retry"])
    return FaultDetail(kind, parts["Code"], parts["Message"], retry, fault_code)


def parse_boolean(text: str) -> bool:
    value = text.strip()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise MalformedResponse(f"not an xs:boolean: {value[:20]!r}")


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _ns(element: etree._Element) -> str:
    return etree.QName(element).namespace or ""


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _name(element: etree._Element) -> str:
    tag = element.tag
    return tag[:80] if isinstance(tag, str) else "?"
