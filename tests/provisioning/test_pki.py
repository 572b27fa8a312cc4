"""The site CA and what it issues."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from provisioning import pki

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)


def test_ca_is_an_ec_p256_authority() -> None:
    ca = pki.make_ca("sitegate CA X", "sitegate X", NOW)

    assert isinstance(ca.key.curve, ec.SECP256R1)
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    usage = ca.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign


def test_client_certificate_carries_the_terminal_id_as_common_name() -> None:
    ca = pki.make_ca("sitegate CA X", "sitegate X", NOW)
    leaf = pki.issue(ca, "gate-1", "client", NOW)

    assert pki.common_name(leaf.cert) == "gate-1"
    leaf.cert.verify_directly_issued_by(ca.cert)
    usage = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert isinstance(leaf.key.curve, ec.SECP256R1)
    assert leaf.serial_hex == format(leaf.cert.serial_number, "x")


def test_leaf_never_outlives_its_ca() -> None:
    ca = pki.make_ca("sitegate CA X", "sitegate X", NOW)
    leaf = pki.issue(ca, "gate-1", "client", NOW)

    assert leaf.cert.not_valid_after_utc <= ca.cert.not_valid_after_utc
    assert leaf.cert.not_valid_before_utc < NOW


def test_crl_lists_revoked_serials_and_is_signed_by_the_ca() -> None:
    ca = pki.make_ca("sitegate CA X", "sitegate X", NOW)
    leaf = pki.issue(ca, "gate-1", "client", NOW)

    crl = pki.make_crl(ca, {leaf.cert.serial_number: NOW}, NOW)
    reloaded = pki.load_crl(pki.crl_pem(crl), "test")

    assert reloaded.is_signature_valid(ca.key.public_key())
    assert pki.revoked_serials(reloaded) == {leaf.cert.serial_number: NOW.replace(microsecond=0)}
    assert reloaded.next_update_utc is not None and reloaded.next_update_utc > NOW


def test_a_key_that_does_not_match_its_certificate_is_refused() -> None:
    ca = pki.make_ca("sitegate CA X", "sitegate X", NOW)
    other = pki.make_ca("sitegate CA Y", "sitegate Y", NOW)

    try:
        pki.load_issued(pki.key_pem(other.key), pki.cert_pem(ca.cert), "site CA")
    except pki.ProvisioningError as exc:
        assert exc.code == "bad_credentials"
    else:
        raise AssertionError("a mismatched key was accepted")
