"""Enrolling a terminal from its certificate signing request: what the enrolment service
(``enrol_service``) does for one ``POST``, the same way ``add-terminal`` (a new terminal)
and ``rotate-terminal`` (a replaced Pi: the old certificate is revoked) change the site.

One database transaction consumes the token; inside it the CSR is checked against the
token, the certificate signed and the site's files written in one ``FileSet`` commit. Any
refusal or failure rolls the token back and leaves the site directory as it was. The
terminal's key never comes here: only its public key, in the CSR.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from controller import enrolment as tokens
from controller.enrolment import EnrolmentRefused
from controller.store import Store
from presence.enrolment import Enrolled
from provisioning import bundle, dynsec, pki, terminal_admin, terminals
from provisioning.errors import ProvisioningError
from provisioning.fileset import PRIVATE_DIR, FileSet

log = logging.getLogger(__name__)

STRONG_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
MIN_RSA_BITS = 2048
_SITE_LOCK = threading.Lock()  # one change of the site directory at a time in this process


@dataclass(frozen=True, slots=True)
class Enrolment:
    """An enrolment done: the answer for the terminal, and the change for the live broker."""

    answer: Enrolled
    serial: str
    replaced: bool  # a known terminal re-enrolled: its old certificate is revoked
    broker_commands: list[dynsec.Command]


def load_csr(pem: str) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(pem.encode("utf-8"))
    except (ValueError, UnicodeEncodeError):
        raise EnrolmentRefused("bad_request", "the CSR is not a PEM certificate request") from None
    if not csr.is_signature_valid:
        raise EnrolmentRefused("bad_request", "the CSR's signature does not verify")
    _check_key(csr)
    return csr


def _check_key(csr: x509.CertificateSigningRequest) -> None:
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, STRONG_CURVES):
            raise EnrolmentRefused("weak_key", f"EC curve {key.curve.name} is not accepted")
        return
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise EnrolmentRefused("weak_key", f"an RSA key of {key.key_size} bits is too weak")
        return
    raise EnrolmentRefused("weak_key", "the key is neither EC (P-256 or larger) nor RSA")


def _check_subject(csr: x509.CertificateSigningRequest, terminal_id: str) -> None:
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    others = [a for a in csr.subject if a.oid != NameOID.COMMON_NAME]
    if len(names) != 1 or names[0].value != terminal_id or others:
        raise EnrolmentRefused(
            "wrong_subject", f"the CSR's subject must be CN={terminal_id} and nothing else"
        )


def enrol(site_dir: str | Path, store: Store, token: str, csr_pem: str, address: str) -> Enrolment:
    """Enrol the terminal the token names with the CSR's key; ``EnrolmentRefused`` says why
    not, and then nothing changed."""
    csr = load_csr(csr_pem)
    now = store.clock.now()
    with _SITE_LOCK, store.transaction() as conn:
        row = tokens.claim(conn, token, now, address)
        _check_subject(csr, row.terminal_id)
        done = _write_site(site_dir, row, csr, now)
        tokens.set_serial(conn, token, done.serial)
    log.info(
        "terminal %s enrolled from %s, certificate %s%s", row.terminal_id, address,
        done.serial, " (replaces the old one, revoked)" if done.replaced else "",
    )  # fmt: skip
    return done


def _write_site(
    site_dir: str | Path, row: tokens.TokenRow, csr: x509.CertificateSigningRequest, now: datetime
) -> Enrolment:
    try:
        return _stage_and_commit(site_dir, row, csr, now)
    except ProvisioningError as exc:
        code = "bad_setting" if exc.code == "bad_setting" else "unavailable"
        raise EnrolmentRefused(code, str(exc)) from None


def _stage_and_commit(
    site_dir: str | Path, row: tokens.TokenRow, csr: x509.CertificateSigningRequest, now: datetime
) -> Enrolment:
    site = terminal_admin.open_site(site_dir)
    terminal_id = terminals.check_id(row.terminal_id)
    direction = terminals.check_direction(row.direction)
    settings = tuple(bundle.parse_setting(text) for text in row.settings)
    workplace = str(site.record.workplace_id)
    config_text = bundle.terminal_toml(
        terminal_id, workplace, direction,
        site.record.broker_hosts[0], site.record.broker_port, settings,
    )  # fmt: skip
    directory = site.layout.bundle_dir(terminal_id)
    terminal_admin.check_with_terminal_parser(config_text, directory)
    cert = pki.sign(site.ca, terminal_id, "client", now, csr.public_key())
    serial = pki.serial_hex(cert.serial_number)
    current = next((r for r in site.registry if r.id == terminal_id), None)
    files = FileSet()
    if current is None:
        record = terminals.TerminalRecord(terminal_id, direction, serial)
        registry = terminals.add(site.registry, record)
        commands = dynsec.add_terminal(workplace, terminal_id)
    else:
        if current.revoked:
            raise EnrolmentRefused(
                "revoked_terminal", f"terminal {terminal_id} is revoked: enrol it under a new name"
            )
        registry = terminals.reenrol(site.registry, terminal_id, direction, serial)
        revoked = terminal_admin.read_crl(site)
        revoked[int(current.cert_serial, 16)] = now
        files.write(site.layout.crl, pki.crl_pem(pki.make_crl(site.ca, revoked, now)))
        commands = dynsec.disconnect_terminal(terminal_id)
    ca_pem, cert_pem = pki.cert_pem(site.ca.cert), pki.cert_pem(cert)
    files.directory(site.layout.terminals_dir, PRIVATE_DIR)
    files.directory(directory, PRIVATE_DIR)
    # What the terminal holds, but its key: for the record, and for rotate-terminal. A
    # bundle add-terminal made has the old key: it goes, with its archive.
    files.remove(directory / bundle.KEY_NAME)
    files.remove(site.layout.bundle_archive(terminal_id))
    files.write(directory / bundle.CONFIG_NAME, config_text)
    files.write(directory / bundle.CA_NAME, ca_pem)
    files.write(directory / bundle.CERT_NAME, cert_pem)
    terminal_admin.stage_access(files, site, registry)
    files.write(site.layout.terminals_file, terminals.render(registry))
    files.commit()
    answer = Enrolled(terminal_id, cert_pem.decode(), ca_pem.decode(), config_text)
    return Enrolment(answer, serial, current is not None, commands)
