"""The link over TLS with the terminal's own client certificate, against a real mosquitto."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sim.mosquitto import MosquittoBroker
from sim.processes import free_port
from terminal import config as terminal_config
from terminal.link import Link, LinkError
from terminal.outbox import Outbox
from tests.terminal.controller_stub import ControllerStub, wait_until
from tests.terminal.sample_config import sim_config, write

pytestmark = pytest.mark.integration

Key = ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(subject: str, key: Key, issuer: tuple[x509.Certificate, Key] | None,
           *, server: bool = False, ca: bool = False) -> x509.Certificate:  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer[0].subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(folder: Path, name: str, cert: x509.Certificate, key: Key | None = None) -> None:
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        (folder / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))  # fmt: skip


def make_pki(folder: Path) -> None:
    """ca.pem, server.pem/.key, terminal.pem/.key, and stranger.pem/.key from another CA."""
    ca_key, other_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())  # fmt: skip
    ca = _issue("sitegate test CA", ca_key, None, ca=True)
    other = _issue("another CA", other_key, None, ca=True)
    _write(folder, "ca", ca)
    for name, issuer, server in [("server", (ca, ca_key), True),
                                 ("terminal", (ca, ca_key), False),
                                 ("stranger", (other, other_key), False)]:  # fmt: skip
        key = ec.generate_private_key(ec.SECP256R1())
        _write(folder, name, _issue(name, key, issuer, server=server), key)


@pytest.fixture
def tls_broker(tmp_path: Path, mosquitto_factory: Callable[..., MosquittoBroker]) -> tuple[
    MosquittoBroker, int]:  # fmt: skip
    """TLS with required client certificates on one port, plain loopback for the test's own
    subscriber on the other."""
    make_pki(tmp_path)
    tls_port = free_port()
    config = (
        "per_listener_settings false\nallow_anonymous true\nuser root\npersistence false\n"
        "listener {port} 127.0.0.1\n"
        f"listener {tls_port} 127.0.0.1\n"
        f"cafile {tmp_path / 'ca.pem'}\ncertfile {tmp_path / 'server.pem'}\n"
        f"keyfile {tmp_path / 'server.key'}\nrequire_certificate true\n"
    )
    return mosquitto_factory(config), tls_port


def tls_config(tmp_path: Path, port: int, cert: str) -> terminal_config.TerminalConfig:
    text = sim_config(tmp_path / "state", port=port).replace(
        "tls = false",
        f'tls = true\nca_file = "ca.pem"\ncert_file = "{cert}.pem"\nkey_file = "{cert}.key"',
    )
    return terminal_config.load(write(tmp_path, text))


def test_the_terminal_connects_with_its_certificate(
    tmp_path: Path, tls_broker: tuple[MosquittoBroker, int]
) -> None:
    broker, tls_port = tls_broker
    watcher = ControllerStub(broker.port).start()
    with Outbox(tmp_path / "o.db") as outbox:
        link = Link(tls_config(tmp_path, tls_port, "terminal"), outbox, on_site_config=print)
        link.start()
        try:
            assert wait_until(lambda: (s := watcher.last_status()) is not None
                              and s.state == "online")  # fmt: skip
        finally:
            link.close()
            watcher.stop()


def test_a_certificate_from_another_ca_never_gets_in(
    tmp_path: Path, tls_broker: tuple[MosquittoBroker, int]
) -> None:
    _, tls_port = tls_broker
    with Outbox(tmp_path / "o.db") as outbox:
        link = Link(tls_config(tmp_path, tls_port, "stranger"), outbox, on_site_config=print)
        link.start()
        try:
            assert not wait_until(lambda: link.connected, timeout=1.0)
        finally:
            link.close()


def test_unreadable_certificate_files_are_a_link_error(tmp_path: Path) -> None:
    config = tls_config(tmp_path, 8883, "missing")
    with Outbox(tmp_path / "o.db") as outbox, pytest.raises(LinkError) as caught:
        Link(config, outbox, on_site_config=print)
    assert caught.value.code == "tls"
