"""WS-Security X.509 signatures (the ``-X509`` WSDL variant) behind the ``Signer`` interface.

``X509Signer`` adds a ``wsse:Security`` header with the certificate as a BinarySecurityToken,
a ``wsu:Timestamp``, and an XML signature (exclusive c14n, RSA-SHA256) over the Body and the
Timestamp whose KeyInfo points at the token. ``verify_envelope`` is the receiving side.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureConstructionMethod,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import InvalidInput, SignXMLException

from presence.clock import Clock, SystemClock
from registry.errors import InvalidRequest, RegistryRejected
from registry.soap import NS_SOAP, parse_document

NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64 = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
TIMESTAMP_TTL_S = 300.0
CLOCK_SKEW_S = 300.0
_ID = f"{{{NS_WSU}}}Id"


class Signer(Protocol):
    """Adds a WS-Security header signing the envelope's Body (and a Timestamp)."""

    def sign(self, envelope: etree._Element) -> etree._Element:
        """The envelope, signed; may modify and return ``envelope`` itself."""
        ...


class SignatureError(RegistryRejected):
    """A signature could not be made, or a received one does not verify."""


def _signature_method(key: object) -> SignatureMethod:
    """RSA for NSSO company certificates; EC keys sign with ECDSA. Anything else is refused
    here, not with a library error on the first call."""
    if isinstance(key, rsa.RSAPrivateKey):
        return SignatureMethod.RSA_SHA256
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return SignatureMethod.ECDSA_SHA256
    raise InvalidRequest("signer_files", f"unsupported signing key type {type(key).__name__}")


class X509Signer:
    """Signs with a PEM private key and its PEM certificate (the NSSO company certificate)."""

    def __init__(
        self,
        cert_file: str | Path,
        key_file: str | Path,
        *,
        password: bytes | None = None,
        clock: Clock | None = None,
    ) -> None:
        try:
            cert_pem = Path(cert_file).read_bytes()
            key_pem = Path(key_file).read_bytes()
            self._cert = x509.load_pem_x509_certificate(cert_pem)
            self._key = serialization.load_pem_private_key(key_pem, password=password)
        except (OSError, ValueError, TypeError) as exc:
            raise InvalidRequest("signer_files", f"cannot load signing key/cert: {exc}") from None
        algorithm = _signature_method(self._key)
        self._cert_pem = cert_pem.decode("ascii")
        self._der = self._cert.public_bytes(serialization.Encoding.DER)
        self._clock = clock or SystemClock()
        self._signer = XMLSigner(
            method=SignatureConstructionMethod.detached,
            signature_algorithm=algorithm,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )

    def sign(self, envelope: etree._Element) -> etree._Element:
        body = envelope.find(f"{{{NS_SOAP}}}Body")
        if body is None:
            raise InvalidRequest("signer_envelope", "the envelope has no Body")
        header = envelope.find(f"{{{NS_SOAP}}}Header")
        if header is None:
            header = etree.Element(f"{{{NS_SOAP}}}Header")
            envelope.insert(0, header)
        suffix = uuid.uuid4().hex
        token_id, ts_id, body_id = f"X509-{suffix}", f"TS-{suffix}", f"Body-{suffix}"
        body.set(_ID, body_id)
        security = etree.SubElement(
            header, f"{{{NS_WSSE}}}Security", nsmap={"wsse": NS_WSSE, "wsu": NS_WSU}
        )
        security.set(f"{{{NS_SOAP}}}mustUnderstand", "1")
        token = etree.SubElement(security, f"{{{NS_WSSE}}}BinarySecurityToken")
        token.set("EncodingType", BASE64)
        token.set("ValueType", X509V3)
        token.set(_ID, token_id)
        token.text = base64.b64encode(self._der).decode("ascii")
        security.append(self._timestamp(ts_id))
        try:
            signature = self._signer.sign(
                envelope,
                key=self._key,  # type: ignore[arg-type]
                cert=self._cert_pem,
                reference_uri=[f"#{ts_id}", f"#{body_id}"],
                key_info=_key_info(token_id),
            )
        except SignXMLException as exc:
            raise SignatureError("signature", f"cannot sign: {exc}") from None
        security.append(signature)
        return envelope

    def _timestamp(self, ts_id: str) -> etree._Element:
        now = self._clock.now().astimezone(UTC)
        stamp = etree.Element(f"{{{NS_WSU}}}Timestamp", nsmap={"wsu": NS_WSU})
        stamp.set(_ID, ts_id)
        etree.SubElement(stamp, f"{{{NS_WSU}}}Created").text = _utc(now)
        expires = now + timedelta(seconds=TIMESTAMP_TTL_S)
        etree.SubElement(stamp, f"{{{NS_WSU}}}Expires").text = _utc(expires)
        return stamp


def _key_info(token_id: str) -> etree._Element:
    key_info = etree.Element(f"{{{NS_DS}}}KeyInfo", nsmap={"ds": NS_DS})
    reference_holder = etree.SubElement(
        key_info, f"{{{NS_WSSE}}}SecurityTokenReference", nsmap={"wsse": NS_WSSE}
    )
    reference = etree.SubElement(reference_holder, f"{{{NS_WSSE}}}Reference")
    reference.set("URI", f"#{token_id}")
    reference.set("ValueType", X509V3)
    return key_info


def _utc(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def verify_envelope(data: bytes, cert_pem: str, *, now: datetime | None = None) -> None:
    """Raise ``SignatureError`` unless ``data`` is signed by ``cert_pem`` over Body + Timestamp."""
    root = parse_document(data)
    security = root.find(f"{{{NS_SOAP}}}Header/{{{NS_WSSE}}}Security")
    body = root.find(f"{{{NS_SOAP}}}Body")
    if security is None or body is None:
        raise SignatureError("signature_missing", "no WS-Security header")
    stamp = security.find(f"{{{NS_WSU}}}Timestamp")
    if stamp is None or body.get(_ID) is None or stamp.get(_ID) is None:
        raise SignatureError("signature_missing", "the Body and a Timestamp must carry wsu:Id")
    _check_fresh(stamp, now or datetime.now(UTC))
    config = SignatureConfiguration(
        location=f"./{{{NS_SOAP}}}Header/{{{NS_WSSE}}}Security/", expect_references=2
    )
    try:
        results = XMLVerifier().verify(root, x509_cert=cert_pem, expect_config=config)
    except (SignXMLException, InvalidInput, ValueError) as exc:
        raise SignatureError("signature_invalid", f"signature does not verify: {exc}") from None
    signed = results if isinstance(results, list) else [results]
    signed_ids = {r.signed_xml.get(_ID) for r in signed if r.signed_xml is not None}
    if signed_ids != {body.get(_ID), stamp.get(_ID)}:
        raise SignatureError("signature_scope", "the signature does not cover Body and Timestamp")


def _check_fresh(stamp: etree._Element, now: datetime) -> None:
    created = stamp.findtext(f"{{{NS_WSU}}}Created")
    expires = stamp.findtext(f"{{{NS_WSU}}}Expires")
    try:
        start = datetime.fromisoformat((created or "").strip().replace("Z", "+00:00"))
        end = datetime.fromisoformat((expires or "").strip().replace("Z", "+00:00"))
    except ValueError:
        raise SignatureError("signature_timestamp", "bad wsu:Timestamp") from None
    skew = timedelta(seconds=CLOCK_SKEW_S)
    if start.tzinfo is None or end.tzinfo is None or not start - skew <= now <= end + skew:
        raise SignatureError("signature_timestamp", "the wsu:Timestamp is not current")


PemSigner = X509Signer  # the name controller/relay.py looks up
