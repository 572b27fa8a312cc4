"""The site's small PKI: an EC P-256 certificate authority, the certificates it issues (the
broker's server certificate, the controller's and each terminal's client certificate, whose
common name is the MQTT user name) and its certificate revocation list."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.errors import ProvisioningError

CA_VALIDITY = timedelta(days=20 * 365)
LEAF_VALIDITY = timedelta(days=5 * 365)
# mosquitto refuses every client once the CRL's next-update time has passed: give it a long
# life; every revocation re-issues it anyway.
CRL_VALIDITY = timedelta(days=10 * 365)
BACKDATE = timedelta(minutes=5)  # tolerate a terminal clock a little behind

Kind = Literal["server", "client"]


@dataclass(frozen=True, slots=True)
class Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def serial_hex(self) -> str:
        return serial_hex(self.cert.serial_number)


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(common_name: str, organisation: str, now: datetime) -> Issued:
    key = new_key()
    name = _name(common_name, organisation)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def issue(
    ca: Issued,
    common_name: str,
    kind: Kind,
    now: datetime,
    hosts: Sequence[str] = (),
) -> Issued:
    """A leaf certificate; ``hosts`` (DNS names or IP addresses) go into a server's SAN."""
    key = new_key()
    return Issued(key, sign(ca, common_name, kind, now, key.public_key(), hosts))


def sign(
    ca: Issued,
    common_name: str,
    kind: Kind,
    now: datetime,
    public_key: CertificatePublicKeyTypes,
    hosts: Sequence[str] = (),
) -> x509.Certificate:
    """A leaf certificate for a key made elsewhere (a terminal's, from its CSR)."""
    usage = ExtendedKeyUsageOID.SERVER_AUTH if kind == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    organisation = ca.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, str(organisation)))
        .issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + LEAF_VALIDITY, ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False
        )
    return builder.sign(ca.key, hashes.SHA256())


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def make_crl(
    ca: Issued, revoked: Mapping[int, datetime], now: datetime
) -> x509.CertificateRevocationList:
    """A CRL listing ``revoked`` (serial -> revocation time)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - BACKDATE)
        .next_update(now + CRL_VALIDITY)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    for serial, when in sorted(revoked.items()):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(ca.key, hashes.SHA256())


def revoked_serials(crl: x509.CertificateRevocationList) -> dict[int, datetime]:
    return {entry.serial_number: entry.revocation_date_utc for entry in crl}


# --- PEM ---------------------------------------------------------------------------------


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


def load_issued(key_data: bytes, cert_data: bytes, where: str) -> Issued:
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
        cert = x509.load_pem_x509_certificate(cert_data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ProvisioningError(
            "bad_credentials", f"{where}: unreadable key or certificate ({exc})"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ProvisioningError("bad_credentials", f"{where}: not an EC private key")
    if key.public_key() != cert.public_key():
        raise ProvisioningError("bad_credentials", f"{where}: key and certificate do not match")
    return Issued(key, cert)


def load_crl(data: bytes, where: str) -> x509.CertificateRevocationList:
    try:
        return x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise ProvisioningError("bad_credentials", f"{where}: unreadable CRL ({exc})") from None


def common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
