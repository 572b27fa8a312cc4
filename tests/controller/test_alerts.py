"""Alerts by e-mail, sent through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller as SmtpServer
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller import alerts, checkins, schema
from controller import config as config_module
from controller.alerts import Alerter
from controller.config import ControllerConfig
from controller.errors import ConfigError
from controller.health import HealthRecorder
from controller.store import Store, open_store
from presence.clock import ManualClock
from presence.events import encode
from tests.controller.support import checkin, inss, write_site

NOW = dt.datetime(2026, 3, 2, 6, 30, tzinfo=dt.UTC)


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.received = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.received.set()
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    server = SmtpServer(handler, hostname="127.0.0.1", port=_free_port())
    server.start()
    yield handler, server.port
    server.stop()


SMTP = """
[smtp]
host = "127.0.0.1"
port = {port}
security = "{security}"
from = "sitegate@site.example"
to = ["chef@site.example", "office@site.example"]
console_url = "https://office.site.example:8443"
interval_s = 0.2
{extra}
"""


def _config(tmp_path: Path, db_url: str, port: int, security: str = "none",
            extra: str = "") -> ControllerConfig:  # fmt: skip
    path = write_site(tmp_path / "site", db_url=db_url)
    path.write_text(path.read_text() + SMTP.format(port=port, security=security, extra=extra))
    return config_module.load(path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def site(tmp_path: Path, db_url: str, inbox, clock) -> Iterator[tuple[ControllerConfig, Store]]:
    config = _config(tmp_path, db_url, inbox[1])
    store = open_store(db_url, clock)
    yield config, store
    store.close()


def _needs_employer(store: Store) -> None:
    event = checkin(inss(1), at=NOW)
    with store.transaction() as conn:
        checkins.record(store, conn, event, encode(event), NOW, 300)


def _terminal(store: Store, terminal: str, **values: object) -> None:
    with store.transaction() as conn:
        conn.execute(schema.terminals.insert().values(
            terminal_id=terminal, direction="in", cert_serial="1", revoked=False,
            last_state="online", **{"last_status_at": NOW, **values}))  # fmt: skip


def test_an_anomaly_is_mailed_once_with_a_link_and_a_masked_number(site, inbox):
    config, store = site
    _needs_employer(store)
    alerter = Alerter(config, store)
    (sent,) = alerter.run_once()
    assert sent.kind == "anomaly"
    (mail,) = inbox[0].messages
    body = mail.get_content()
    assert mail["To"] == "chef@site.example, office@site.example"
    assert "needs an employer" in mail["Subject"] and "Test site" in mail["Subject"]
    assert inss(1).masked() in body and inss(1).digits not in mail.as_string()
    assert "https://office.site.example:8443/anomalies" in body
    assert alerter.run_once() == [] and len(inbox[0].messages) == 1


def test_the_alerts_of_one_pass_go_in_one_mail(site, inbox, clock):
    config, store = site
    _terminal(store, "gate-1", health='{"tamper": "open"}')
    _terminal(store, "gate-2", outbox_alarm=True, outbox_depth=40123)
    _terminal(store, "gate-3", last_status_at=NOW - dt.timedelta(minutes=3))
    earlier = ManualClock(NOW - dt.timedelta(minutes=15))
    HealthRecorder(store, earlier).nsso(False, error="http_503: unavailable")
    sent = Alerter(config, store).run_once()
    assert {(a.kind, a.subject) for a in sent} == {
        ("tampered", "gate-1"), ("outbox", "gate-2"), ("silent", "gate-3"),
        ("nsso", "registry"),
    }  # fmt: skip
    (mail,) = inbox[0].messages
    body = mail.get_content()
    assert "4 alerts" in mail["Subject"]
    assert "NSSO unreachable for 15 minutes (http_503: unavailable)" in body
    assert "gate-2: outbox filling (40123 events" in body and "/terminals" in body


def test_nsso_unreachable_for_less_than_15_minutes_is_not_mailed(site, inbox, clock):
    config, store = site
    HealthRecorder(store, clock).nsso(False, error="timeout")
    clock.advance(14 * 60)
    assert Alerter(config, store).run_once() == [] and inbox[0].messages == []


def test_a_condition_that_clears_is_mailed_again_when_it_recurs(site, inbox, clock):
    config, store = site
    _terminal(store, "gate-1", last_status_at=NOW - dt.timedelta(minutes=3))
    alerter = Alerter(config, store)
    assert [a.kind for a in alerter.run_once()] == ["silent"]
    with store.transaction() as conn:
        conn.execute(schema.terminals.update().values(last_status_at=NOW))
    assert alerter.run_once() == []
    clock.advance(5 * 60)
    assert [a.kind for a in alerter.run_once()] == ["silent"]
    assert len(inbox[0].messages) == 2


def test_a_mail_that_cannot_go_is_sent_at_the_next_pass(tmp_path, db_url, clock, caplog):
    port = _free_port()
    config = _config(tmp_path, db_url, port)
    store = open_store(db_url, clock)
    try:
        _needs_employer(store)
        alerter = Alerter(config, store)
        assert alerter.run_once() == []
        assert "not mailed" in caplog.text
        handler = Inbox()
        server = SmtpServer(handler, hostname="127.0.0.1", port=port)
        server.start()
        try:
            assert [a.kind for a in alerter.run_once()] == ["anomaly"]
            assert len(handler.messages) == 1
        finally:
            server.stop()
    finally:
        store.close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "smtp.pem", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def test_starttls_and_login_with_the_password_file(tmp_path, db_url, clock):
    import ssl

    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    handler = Inbox()
    port = _free_port()
    server = SmtpServer(handler, hostname="127.0.0.1", port=port, tls_context=context,
                        require_starttls=True, auth_required=True,
                        authenticator=authenticator)  # fmt: skip
    server.start()
    store = None
    try:
        (tmp_path / "site").mkdir()
        (tmp_path / "site" / "smtp.password").write_text("s3cret\n")
        config = _config(tmp_path, db_url, port, security="starttls", extra=(
            f'user = "sitegate"\npassword_file = "smtp.password"\nca_file = "{cert}"'))  # fmt: skip
        store = open_store(db_url, clock)
        _needs_employer(store)
        assert len(Alerter(config, store).run_once()) == 1
        assert logins == [(b"sitegate", b"s3cret")] and len(handler.messages) == 1
    finally:
        if store is not None:
            store.close()
        server.stop()


def test_the_running_controller_mails_from_its_own_thread(site, inbox):
    config, store = site
    _needs_employer(store)
    stop = threading.Event()
    thread = alerts.start_thread(config, store, stop)
    try:
        assert inbox[0].received.wait(10)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive() and len(inbox[0].messages) == 1


@pytest.mark.parametrize(
    ("extra", "code", "fragment"),
    [
        ('security = "tls"', "bad_value", "[smtp] key 'security'"),
        ('user = "x"', "bad_value", "[smtp] key 'password_file'"),
        ('password_file = "missing"\nuser = "x"', "bad_value", "names no readable file"),
        ("to = []", "bad_value", "[smtp] key 'to'"),
        ('to = "chef@site.example"', "wrong_type", "[smtp] key 'to' must be a list"),
        ('hostname = "x"', "unknown_key", "[smtp] unknown key 'hostname'"),
    ],
)
def test_a_bad_smtp_section_names_its_key(tmp_path, extra, code, fragment):
    path = write_site(tmp_path, db_url="sqlite:///x.db")
    text = SMTP.format(port=25, security="none", extra="")
    for line in extra.split("\n"):
        key = line.split(" ", 1)[0]
        text = "\n".join(t for t in text.split("\n") if not t.startswith(key + " "))
    path.write_text(path.read_text() + text + extra + "\n")
    with pytest.raises(ConfigError) as caught:
        config_module.load(path)
    assert caught.value.code == code and fragment in str(caught.value)


def test_without_from_the_toml_key_is_named(tmp_path):
    path = write_site(tmp_path, db_url="sqlite:///x.db")
    text = SMTP.format(port=25, security="none", extra="").replace(
        'from = "sitegate@site.example"\n', ""
    )
    path.write_text(path.read_text() + text)
    with pytest.raises(ConfigError) as caught:
        config_module.load(path)
    assert "[smtp] key 'from' is missing" in str(caught.value)
    assert config_module.load(write_site(tmp_path / "b", db_url="sqlite:///x.db")).smtp is None
