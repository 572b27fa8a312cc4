"""The enrolment service (HTTPS, in-process) against a site's own mosquitto: a token and a
CSR enrol a terminal; every refusal says why, is audited and changes nothing; a terminal
enrolled again loses its old certificate at the running broker."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from controller import enrolment as tokens
from controller import schema
from controller.config import ControllerConfig
from controller.store import Store
from presence import topics
from presence.clock import ManualClock
from presence.enrolment import MAX_BODY_BYTES, encode_request, parse_code
from provisioning import dynsec, enrol_code, pki, terminal_admin, terminals
from provisioning.enrol_service import EnrolmentServer
from provisioning.layout import SiteLayout
from sim.mosquitto import MosquittoBroker
from tests.provisioning.conftest import WORKPLACE, snapshot
from tests.provisioning.enrolment.support import csr_pem, new_key, post
from tests.provisioning.mqtt_peer import Credentials, Peer

pytestmark = pytest.mark.integration
CUT_OFF_S = 5.0


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.close()


def token_for(store: Store, name: str = "gate-3", valid_s: int = 900) -> str:
    return tokens.new_token(store, name, "in", ("gate.pin_factory=mock",), valid_s).token


def enrol(site: SiteLayout, config: ControllerConfig, token: str, csr: str):
    assert config.enrolment is not None
    return post(site, config.enrolment.url, encode_request(token, csr))


def refusals(store: Store) -> list[str]:
    with store.transaction() as conn:
        rows = conn.execute(
            select(schema.audit.c.detail).where(schema.audit.c.action == "enrol_refused")
        ).scalars()
        return [detail.split(":")[0] for detail in rows]


def used(store: Store) -> list[object]:
    with store.transaction() as conn:
        return list(conn.execute(select(schema.enrolment_tokens.c.used_at)).scalars())


def write_credentials(directory: Path, site: SiteLayout, cert_pem: str, key) -> Credentials:
    directory.mkdir(exist_ok=True)
    (directory / "ca.pem").write_bytes(site.ca_cert.read_bytes())
    (directory / "terminal.pem").write_text(cert_pem)
    (directory / "terminal.key").write_bytes(pki.key_pem(key))
    return Credentials.of_bundle(directory, "terminal.pem", "terminal.key")


def connected(peers: list[Peer], broker: MosquittoBroker, files: Credentials, name: str) -> Peer:
    peer = Peer(broker.port, files, name)
    peers.append(peer)
    peer.connect()
    return peer


def test_a_token_and_a_csr_enrol_a_new_terminal_that_the_running_broker_lets_in(
    site: SiteLayout, config: ControllerConfig, store: Store, service: EnrolmentServer,
    broker: MosquittoBroker, peers: list[Peer], tmp_path: Path,
) -> None:  # fmt: skip
    key = new_key()

    status, answer = enrol(site, config, token_for(store), csr_pem("gate-3", key))

    assert status == 200, answer
    cert = x509.load_pem_x509_certificate(answer["certificate"].encode())
    assert pki.common_name(cert) == "gate-3"
    assert cert.public_key() == key.public_key()
    assert answer["ca"] == site.ca_cert.read_text()
    assert 'id = "gate-3"' in answer["config"] and 'pin_factory = "mock"' in answer["config"]
    registry = terminals.load(site.terminals_file)
    assert [(r.id, r.cert_serial) for r in registry] == [
        ("gate-3", pki.serial_hex(cert.serial_number))
    ]
    assert not (site.bundle_dir("gate-3") / "terminal.key").exists()  # the key never came here
    peer = connected(
        peers, broker, write_credentials(tmp_path / "t", site, answer["certificate"], key), "gate-3"
    )
    assert peer.connected, broker.log_tail()
    assert not peer.publish(topics.checkin_topic(WORKPLACE, "gate-3"), b"event").is_failure


def test_the_enrolment_code_holds_the_url_the_terminal_and_the_pinned_ca(
    site: SiteLayout, config: ControllerConfig, store: Store
) -> None:
    made = enrol_code.new_code(site.root, "gate-3", "in", ["keypad.backend=fake"], "10m")

    code = parse_code(made.text)
    assert config.enrolment is not None
    assert (code.url, code.terminal_id) == (config.enrolment.url, "gate-3")
    assert code.ca_fingerprint == tokens.ca_fingerprint(config)
    with store.transaction() as conn:
        row = conn.execute(select(schema.enrolment_tokens)).mappings().one()
    assert row["token_hash"] != code.token and len(row["token_hash"]) == 64  # stored hashed
    assert json.loads(row["settings"]) == ["keypad.backend=fake"]
    assert (row["expires_at"] - row["created_at"]).total_seconds() == 600


def test_a_token_works_once(
    site: SiteLayout, config: ControllerConfig, store: Store, service: EnrolmentServer
) -> None:
    token = token_for(store)
    assert enrol(site, config, token, csr_pem("gate-3"))[0] == 200
    before = snapshot(site.root)

    status, answer = enrol(site, config, token, csr_pem("gate-3"))

    assert (status, answer["error"]) == (403, "used_token")
    assert snapshot(site.root) == before
    assert refusals(store) == ["used_token"]


def test_an_expired_token_is_refused_and_changes_nothing(
    site: SiteLayout, config: ControllerConfig, store: Store, service: EnrolmentServer,
    clock: ManualClock,
) -> None:  # fmt: skip
    token = token_for(store, valid_s=60)
    clock.advance(61)
    before = snapshot(site.root)

    status, answer = enrol(site, config, token, csr_pem("gate-3"))

    assert (status, answer["error"]) == (403, "expired_token")
    assert "expired" in answer["message"]
    assert snapshot(site.root) == before
    assert used(store) == [None]
    assert refusals(store) == ["expired_token"]


def test_an_unknown_token_is_refused(
    site: SiteLayout, config: ControllerConfig, store: Store, service: EnrolmentServer
) -> None:
    token_for(store)

    status, answer = enrol(site, config, secrets.token_urlsafe(32), csr_pem("gate-3"))

    assert (status, answer["error"]) == (403, "unknown_token")
    assert used(store) == [None]
    assert refusals(store) == ["unknown_token"]


@pytest.mark.parametrize(
    "body",
    [b'{"token": "short", "csr": "x"}', b'{"token": 7, "csr": "x"}'],
    ids=["short", "not-a-string"],
)
def test_a_malformed_token_is_refused(
    site: SiteLayout, config: ControllerConfig, store: Store, service: EnrolmentServer,
    body: bytes,
) -> None:  # fmt: skip
    assert config.enrolment is not None

    status, answer = post(site, config.enrolment.url, body)

    assert (status, answer["error"]) == (400, "malformed_token")
    assert refusals(store) == ["malformed_token"]


def test_a_body_that_is_not_a_request_is_refused(
    site: SiteLayout, config: ControllerConfig, store: Store, service: EnrolmentServer
) -> None:
    assert config.enrolment is not None

    status, answer = post(site, config.enrolment.url, b"\x00not json")

    assert (status, answer["error"]) == (400, "bad_request")


def test_a_weak_key_is_refused_and_the_token_stays_usable(
    site: SiteLayout, config: ControllerConfig, store: Store, service: EnrolmentServer
) -> None:
    token = token_for(store)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    before = snapshot(site.root)

    status, answer = enrol(site, config, token, csr_pem("gate-3", weak))

    assert (status, answer["error"]) == (400, "weak_key")
    assert snapshot(site.root) == before
    assert refusals(store) == ["weak_key"]
    assert enrol(site, config, token, csr_pem("gate-3"))[0] == 200


@pytest.mark.parametrize(
    ("name", "extra"), [("gate-9", {}), ("gate-3", {"organisation": "someone"})],
    ids=["other-terminal", "more-than-the-name"],
)  # fmt: skip
def test_a_csr_for_another_subject_is_refused_and_the_token_stays_usable(
    site: SiteLayout, config: ControllerConfig, store: Store, service: EnrolmentServer,
    name: str, extra: dict[str, str],
) -> None:  # fmt: skip
    token = token_for(store)
    before = snapshot(site.root)

    status, answer = enrol(site, config, token, csr_pem(name, **extra))

    assert (status, answer["error"]) == (400, "wrong_subject")
    assert "CN=gate-3" in answer["message"]
    assert snapshot(site.root) == before
    assert used(store) == [None]
    assert refusals(store) == ["wrong_subject"]


def test_a_body_over_64_kib_is_refused_unread(
    site: SiteLayout, config: ControllerConfig, store: Store, service: EnrolmentServer
) -> None:
    token = token_for(store)
    padding = "x" * MAX_BODY_BYTES
    before = snapshot(site.root)

    status, answer = enrol(site, config, token, csr_pem("gate-3") + padding)

    assert (status, answer["error"]) == (413, "too_large")
    assert snapshot(site.root) == before
    assert used(store) == [None]
    assert refusals(store) == ["too_large"]


def test_more_than_10_tries_a_minute_from_one_address_are_refused(
    site: SiteLayout, config: ControllerConfig, store: Store, service: EnrolmentServer,
    clock: ManualClock,
) -> None:  # fmt: skip
    for _ in range(10):
        status, answer = enrol(site, config, secrets.token_urlsafe(32), csr_pem("gate-3"))
        assert answer["error"] == "unknown_token"
    token = token_for(store)

    status, answer = enrol(site, config, token, csr_pem("gate-3"))

    assert (status, answer["error"]) == (429, "rate_limited")
    assert used(store) == [None]
    assert refusals(store)[-1] == "rate_limited"
    for _ in range(5):  # a flood is recorded once a minute, not once a request
        assert enrol(site, config, token, csr_pem("gate-3"))[0] == 429
    assert refusals(store).count("rate_limited") == 1
    clock.advance(61)
    assert enrol(site, config, token, csr_pem("gate-3"))[0] == 200


def test_a_revoked_terminal_cannot_be_enrolled_again(
    site: SiteLayout, config: ControllerConfig, store: Store, service: EnrolmentServer
) -> None:
    terminal_admin.add_terminal(site.root, "gate-3", "in")
    terminal_admin.revoke_terminal(site.root, "gate-3")
    token = token_for(store)

    status, answer = enrol(site, config, token, csr_pem("gate-3"))

    assert (status, answer["error"]) == (403, "revoked_terminal")
    assert used(store) == [None]


def test_enrolling_a_known_terminal_again_revokes_its_old_certificate_at_the_running_broker(
    site: SiteLayout, config: ControllerConfig, store: Store, service: EnrolmentServer,
    broker: MosquittoBroker, peers: list[Peer], tmp_path: Path,
) -> None:  # fmt: skip
    terminal_admin.add_terminal(site.root, "gate-3", "out")
    live = terminal_admin.live_broker(site.root, broker.pid_file)
    assert live.apply(dynsec.add_terminal(WORKPLACE, "gate-3")).done
    old_serial = terminals.load(site.terminals_file)[0].cert_serial
    kept = tmp_path / "old"
    kept.mkdir()
    for name in ("ca.pem", "terminal.pem", "terminal.key"):
        (kept / name).write_bytes((site.bundle_dir("gate-3") / name).read_bytes())
    old_files = Credentials.of_bundle(kept, "terminal.pem", "terminal.key")
    old = connected(peers, broker, old_files, "gate-3")
    assert old.connected
    key = new_key()

    started_at = time.monotonic()
    status, answer = enrol(site, config, token_for(store), csr_pem("gate-3", key))

    assert status == 200, answer
    assert old.closed_within(CUT_OFF_S - (time.monotonic() - started_at))
    assert not connected(peers, broker, old_files, "gate-3-old").connected
    assert not (site.bundle_dir("gate-3") / "terminal.key").exists()  # the old key went
    assert not site.bundle_archive("gate-3").exists()
    assert int(old_serial, 16) in pki.revoked_serials(pki.load_crl(site.crl.read_bytes(), "crl"))
    record = terminals.load(site.terminals_file)[0]
    assert (record.direction, record.revoked) == ("in", False)  # the new code's direction
    new = connected(
        peers,
        broker,
        write_credentials(tmp_path / "new", site, answer["certificate"], key),
        "gate-3",
    )
    assert new.connected
    assert not new.publish(topics.checkin_topic(WORKPLACE, "gate-3"), b"event").is_failure
