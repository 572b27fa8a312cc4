"""HTTPS, mutual TLS and WS-Security X.509 signatures, client to stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from presence.clock import ManualClock
from registry import requests, soap
from registry.client import RegistryClient
from registry.errors import InvalidRequest, RegistryError, RegistryRejected, RegistryUnavailable
from registry.signing import SignatureError, X509Signer, verify_envelope
from registry.wire import PresenceItem, RegistrationResult
from sim.nsso.server import StandIn
from sim.nsso.tls import ServerTls
from tests.registry.conftest import COMPANY, DELAY_S, INSS, WORKPLACE
from tests.registry.pki import Issued

ITEM = PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY)


@pytest.fixture
def mtls_stand_in(
    tmp_path: Path, works_file: Path, clock: ManualClock, pki: dict
) -> Iterator[StandIn]:
    server: Issued = pki["server"]
    tls = ServerTls(str(server.cert), str(server.key), client_ca=str(pki["ca"]))
    with StandIn(
        tmp_path / "n.db",
        works_file,
        clock=clock,
        tls=tls,
        validation_delay_s=DELAY_S,
        check_answers=True,
    ) as nsso:
        yield nsso


@pytest.fixture
def signing_stand_in(tmp_path: Path, works_file: Path, pki: dict) -> Iterator[StandIn]:
    # the real clock: the signer stamps wsu:Timestamp with it
    with StandIn(
        tmp_path / "n.db", works_file, check_answers=True, verify_signature=pki["client"].cert
    ) as nsso:
        yield nsso


def test_mutual_tls_with_a_company_certificate_works(mtls_stand_in: StandIn, pki: dict) -> None:
    client_cert: Issued = pki["client"]
    with RegistryClient(
        mtls_stand_in.endpoint,
        ca_file=str(pki["ca"]),
        client_cert=(str(client_cert.cert), str(client_cert.key)),
    ) as client:
        (answer,) = client.register([ITEM])
    assert isinstance(answer, RegistrationResult)


@pytest.mark.parametrize("who", [None, "rogue"])
def test_mutual_tls_refuses_clients_without_a_valid_certificate(
    mtls_stand_in: StandIn, pki: dict, who: str | None
) -> None:
    cert = None if who is None else (str(pki[who].cert), str(pki[who].key))
    with (
        RegistryClient(
            mtls_stand_in.endpoint,
            ca_file=str(pki["ca"]),
            client_cert=cert,
            connect_timeout=2,
            read_timeout=2,
        ) as client,
        pytest.raises(RegistryUnavailable),
    ):
        client.register([ITEM])
    assert mtls_stand_in.registrations() == []


def test_client_refuses_a_server_it_does_not_trust(mtls_stand_in: StandIn, pki: dict) -> None:
    client_cert: Issued = pki["client"]
    with (
        RegistryClient(
            mtls_stand_in.endpoint, client_cert=(str(client_cert.cert), str(client_cert.key))
        ) as client,
        pytest.raises(RegistryUnavailable) as caught,
    ):
        client.get("123456789012345")
    assert caught.value.code == "connect"


def test_missing_tls_files_are_a_precise_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryRejected) as caught:
        RegistryClient(
            "https://127.0.0.1:1/x", client_cert=(str(tmp_path / "a"), str(tmp_path / "b"))
        )
    assert caught.value.code == "tls_config"


def test_signed_requests_are_accepted(signing_stand_in: StandIn, pki: dict) -> None:
    signer = X509Signer(pki["client"].cert, pki["client"].key)
    with RegistryClient(signing_stand_in.endpoint, signer=signer) as client:
        (answer,) = client.register([ITEM])
        assert isinstance(answer, RegistrationResult)
        assert client.get(answer.receipt_id).receipt_id == answer.receipt_id


def test_unsigned_requests_are_refused(signing_stand_in: StandIn) -> None:
    with (
        RegistryClient(signing_stand_in.endpoint) as client,
        pytest.raises(RegistryRejected) as caught,
    ):
        client.register([ITEM])
    assert caught.value.fault is not None
    assert caught.value.fault.code == "SECURITY_ERROR"
    assert signing_stand_in.registrations() == []


def test_requests_signed_by_another_key_are_refused(signing_stand_in: StandIn, pki: dict) -> None:
    signer = X509Signer(pki["rogue"].cert, pki["rogue"].key)
    with (
        RegistryClient(signing_stand_in.endpoint, signer=signer) as client,
        pytest.raises(RegistryRejected),
    ):
        client.register([ITEM])


def test_signature_covers_body_and_timestamp(pki: dict) -> None:
    signer = X509Signer(pki["client"].cert, pki["client"].key)
    cert_pem = Path(pki["client"].cert).read_text()
    data = soap.serialize(signer.sign(soap.envelope(requests.encode_get("123456789012345"))))
    verify_envelope(data, cert_pem)
    tampered_body = data.replace(b"123456789012345", b"123456789012346")
    tampered_stamp = data.replace(b"<wsu:Created>2", b"<wsu:Created>1", 1)
    for bad in (tampered_body, tampered_stamp):
        with pytest.raises(SignatureError):
            verify_envelope(bad, cert_pem)


def test_stale_timestamp_is_refused(pki: dict) -> None:
    old = ManualClock()  # 2026-03-02: long before the certificate and "now"
    signer = X509Signer(pki["client"].cert, pki["client"].key, clock=old)
    data = soap.serialize(signer.sign(soap.envelope(requests.encode_get("1"))))
    with pytest.raises(SignatureError) as caught:
        verify_envelope(data, Path(pki["client"].cert).read_text())
    assert caught.value.code == "signature_timestamp"


def test_signer_with_missing_files_is_a_precise_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest) as caught:
        X509Signer(tmp_path / "no.pem", tmp_path / "no.key")
    assert caught.value.code == "signer_files"
    assert isinstance(caught.value, RegistryError)


def _self_signed(tmp_path: Path, key: Any) -> tuple[Path, Path]:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "company")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp_path / "c.pem", tmp_path / "c.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))  # fmt: skip
    return cert_file, key_file


def test_an_ec_key_signs_with_ecdsa(tmp_path: Path) -> None:
    cert_file, key_file = _self_signed(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    signed = X509Signer(cert_file, key_file).sign(soap.envelope(requests.encode_get("1")))
    assert b"ecdsa-sha256" in soap.serialize(signed)


def test_an_unsupported_key_type_is_refused_when_the_signer_is_made(tmp_path: Path) -> None:
    cert_file, key_file = _self_signed(tmp_path, ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(InvalidRequest) as caught:
        X509Signer(cert_file, key_file)
    assert caught.value.code == "signer_files"
