"""The official NSSO schemas: where they are, one cached ``XMLSchema``, their enumerations.

The WSDL imports the protocol XSD and the errors XSD; we build the same wrapper schema so one
validator covers every payload and fault detail. The SOAP 1.1 envelope is not in the XSDs:
callers validate the Body's payload element. Only tests and the stand-in load the schemas;
the client does not need them at run time.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from lxml import etree

from registry.errors import RegistryError

ENV_XSD_DIR = "SITEGATE_NSSO_XSD_DIR"
PROTOCOL_XSD = "presenceregistration/v1/PresenceRegistration_protocol_v1.xsd"
TYPES_XSD = "presenceregistration/schemas/v1/PresenceRegistration_types_v1.xsd"
ERRORS_XSD = "platformintegrationconsumertest/errors/v1/socsec-errors-schema-v1.xsd"
WSDL = "presenceregistration/v1/PresenceRegistration_v1.wsdl"
NS_XS = "http://www.w3.org/2001/XMLSchema"
NS_OPS = "http://socialsecurity.be/presenceregistration/v1"
NS_ERRORS = "http://socialsecurity.be/errors/v1"

PACKAGED_XSD_DIR = Path(__file__).resolve().parent / "schemas" / "nsso"


class SchemaUnavailable(RegistryError):
    """The reference XSDs are not where we looked."""


class SchemaViolation(RegistryError, ValueError):
    """A document does not validate; the message holds lxml's first errors."""


def xsd_dir() -> Path:
    """``$SITEGATE_NSSO_XSD_DIR``, else the copy of NSSO's official WSDL and XSDs (v1.11)
    shipped in ``registry/schemas/nsso`` (a test keeps it equal to the team's reference)."""
    override = os.environ.get(ENV_XSD_DIR)
    base = Path(override) if override else PACKAGED_XSD_DIR
    if not (base / PROTOCOL_XSD).is_file():
        raise SchemaUnavailable("xsd_missing", f"NSSO XSDs not found in {base} (set {ENV_XSD_DIR})")
    return base


@functools.cache
def schema() -> etree.XMLSchema:
    """The protocol and errors schemas behind one validator (loaded once)."""
    base = xsd_dir()
    wrapper = (
        f'<xs:schema xmlns:xs="{NS_XS}">'
        f'<xs:import namespace="{NS_OPS}" schemaLocation="{(base / PROTOCOL_XSD).as_uri()}"/>'
        f'<xs:import namespace="{NS_ERRORS}" schemaLocation="{(base / ERRORS_XSD).as_uri()}"/>'
        "</xs:schema>"
    )
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    doc = etree.fromstring(wrapper.encode(), parser, base_url=base.as_uri() + "/")
    return etree.XMLSchema(doc)


def validate(element: etree._Element) -> None:
    """Raise ``SchemaViolation`` unless ``element`` (a payload or fault detail) is valid."""
    checker = schema()
    if not checker.validate(element):
        raise SchemaViolation("schema_violation", _where(checker))


def _where(checker: etree.XMLSchema) -> str:
    """Where the first error is, without the offending value (it may be a national number)."""
    entries: list[Any] = [*checker.error_log]  # type: ignore[misc]
    if not entries:
        return "invalid"
    first = entries[0]
    return f"invalid {first.path or 'document'} (line {first.line}, {first.type_name})"


@functools.cache
def enumeration(type_name: str) -> tuple[str, ...]:
    """The values of a simple type's enumeration in the types XSD (``StatusType``...)."""
    tree = etree.parse(str(xsd_dir() / TYPES_XSD))
    values: list[str] = tree.xpath(  # type: ignore[assignment]
        "/xs:schema/xs:simpleType[@name=$name]/xs:restriction/xs:enumeration/@value",
        namespaces={"xs": NS_XS},
        name=type_name,
    )
    if not values:
        raise SchemaUnavailable("xsd_enum_missing", f"no enumeration {type_name} in the XSD")
    return tuple(str(v) for v in values)


def statuses() -> tuple[str, ...]:
    return enumeration("StatusType")


def remarks() -> tuple[str, ...]:
    return enumeration("SearchRemarkType")


def status(value: str) -> str:
    """``value`` after checking it is one of the XSD's statuses (no invented strings)."""
    if value not in statuses():
        raise SchemaUnavailable("xsd_enum_missing", f"{value!r} is not a StatusType value")
    return value


def remark(value: str) -> str:
    """``value`` after checking it is one of the XSD's remark strings, spaces included."""
    if value not in remarks():
        raise SchemaUnavailable("xsd_enum_missing", f"{value!r} is not a SearchRemarkType value")
    return value


@functools.cache
def cancellation_reasons() -> tuple[str, ...]:
    """The reasons the WSDL's cancelPresences documentation allows (HOLIDAY, DISEASE...)."""
    tree = etree.parse(str(xsd_dir() / WSDL))
    docs: list[str] = tree.xpath(  # type: ignore[assignment]
        "//wsdl:operation[@name='cancelPresences']/wsdl:documentation/text()",
        namespaces={"wsdl": "http://schemas.xmlsoap.org/wsdl/"},
    )
    match = re.search(r"allowed values of the CancellationReason are ([A-Z0-9, ]+)", " ".join(docs))
    if not match:
        raise SchemaUnavailable("wsdl_reasons_missing", "no cancellation reasons in the WSDL")
    return tuple(r.strip() for r in match.group(1).split(",") if r.strip())
