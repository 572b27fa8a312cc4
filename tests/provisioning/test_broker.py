"""The generated mosquitto drop-in, run by a real mosquitto: who may connect, publish, read."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from presence import topics
from presence.clock import SystemClock
from provisioning import site_setup, terminal_admin
from provisioning.layout import SiteLayout
from sim.mosquitto import MosquittoBroker
from terminal import config as terminal_config
from tests.provisioning.conftest import WORKPLACE, site_broker, site_request
from tests.provisioning.mqtt_peer import Credentials, Peer
from tests.support.ci import skip_or_fail

pytestmark = pytest.mark.integration
NOT_AUTHORIZED = 0x87


@pytest.fixture
def start_broker() -> Iterator[Callable[[SiteLayout], MosquittoBroker]]:
    """Starts the site's own broker (its drop-in, as on a controller); stopped afterwards."""
    started: list[MosquittoBroker] = []

    def start(site: SiteLayout) -> MosquittoBroker:
        broker = site_broker(site)
        started.append(broker)
        try:
            return broker.start()
        except (OSError, RuntimeError) as exc:
            skip_or_fail(f"cannot start mosquitto: {exc}")
            raise

    yield start
    for broker in started:
        broker.close()


def terminal_credentials(site: SiteLayout, name: str) -> Credentials:
    return Credentials.of_bundle(site.bundle_dir(name), "terminal.pem", "terminal.key")


def controller_credentials(site: SiteLayout) -> Credentials:
    return Credentials.of_bundle(site.controller_dir, "controller.pem", "controller.key")


@pytest.fixture
def clock() -> SystemClock:
    """Real time: a real mosquitto checks certificate and CRL dates against its own clock."""
    return SystemClock()


@pytest.fixture
def site(broker_site: SiteLayout) -> SiteLayout:
    return broker_site


def wait_for_log(broker: MosquittoBroker, text: str) -> str:
    """The broker's log once it mentions ``text`` (why it refused a client)."""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        tail = broker.log_tail(50)
        if text in tail:
            return tail
        time.sleep(0.02)
    raise AssertionError(f"mosquitto never logged {text!r}: {broker.log_tail()}")


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.close()


@pytest.fixture
def connect(peers: list[Peer]) -> Callable[[MosquittoBroker, Credentials, str], Peer]:
    def make(broker: MosquittoBroker, credentials: Credentials, client_id: str) -> Peer:
        peer = Peer(broker.port, credentials, client_id)
        peers.append(peer)
        assert peer.connect(), f"{client_id} was refused: {broker.log_tail()}"
        return peer

    return make


@pytest.fixture
def two_gates(site: SiteLayout, clock) -> SiteLayout:
    terminal_admin.add_terminal(site.root, "gate-a", "in", clock=clock)
    terminal_admin.add_terminal(site.root, "gate-b", "out", clock=clock)
    return site


def test_terminal_cannot_publish_on_another_terminals_topics(
    two_gates: SiteLayout, start_broker, connect
) -> None:
    broker = start_broker(two_gates)
    controller = connect(broker, controller_credentials(two_gates), "sitegate-controller")
    assert not any(
        code.is_failure for code in controller.subscribe(topics.subscription(WORKPLACE, "checkin"))
    )
    assert not any(
        code.is_failure for code in controller.subscribe(topics.subscription(WORKPLACE, "status"))
    )
    gate_a = connect(broker, terminal_credentials(two_gates, "gate-a"), "gate-a")

    denied = [
        gate_a.publish(topics.checkin_topic(WORKPLACE, "gate-b"), b"forged"),
        gate_a.publish(topics.status_topic(WORKPLACE, "gate-b"), b"forged"),
        gate_a.publish(topics.ack_topic(WORKPLACE, "gate-b"), b"forged"),
        gate_a.publish(topics.config_topic(WORKPLACE), b"forged"),
    ]
    own = topics.checkin_topic(WORKPLACE, "gate-a")
    accepted = gate_a.publish(own, b"mine")

    assert [code.value for code in denied] == [NOT_AUTHORIZED] * 4
    assert not accepted.is_failure
    assert controller.until(own) == [(own, b"mine")]


def test_terminal_cannot_read_another_terminals_acks(
    two_gates: SiteLayout, start_broker, connect
) -> None:
    broker = start_broker(two_gates)
    controller = connect(broker, controller_credentials(two_gates), "sitegate-controller")
    gate_a = connect(broker, terminal_credentials(two_gates, "gate-a"), "gate-a")
    refused = [
        *gate_a.subscribe(topics.ack_topic(WORKPLACE, "gate-b")),
        *gate_a.subscribe(topics.subscription(WORKPLACE, "ack")),
        *gate_a.subscribe(topics.subscription(WORKPLACE, "checkin")),
    ]
    assert not any(
        code.is_failure for code in gate_a.subscribe(topics.ack_topic(WORKPLACE, "gate-a"))
    )
    gate_b = connect(broker, terminal_credentials(two_gates, "gate-b"), "gate-b")

    assert not gate_b.publish(topics.checkin_topic(WORKPLACE, "gate-b"), b"b's checkin").is_failure
    assert not controller.publish(topics.ack_topic(WORKPLACE, "gate-b"), b"b's ack").is_failure
    own = topics.ack_topic(WORKPLACE, "gate-a")
    assert not controller.publish(own, b"a's ack").is_failure

    assert gate_a.until(own) == [(own, b"a's ack")]
    assert [code.value for code in refused] == [NOT_AUTHORIZED] * 3


def test_controller_reads_every_checkin_and_status_and_writes_acks_and_config(
    two_gates: SiteLayout, start_broker, connect
) -> None:
    broker = start_broker(two_gates)
    controller = connect(broker, controller_credentials(two_gates), "sitegate-controller")
    for kind in ("checkin", "status"):
        granted = controller.subscribe(topics.subscription(WORKPLACE, kind))
        assert not any(code.is_failure for code in granted)
    config = topics.config_topic(WORKPLACE)
    assert not controller.publish(config, b"site config", retain=True).is_failure
    gates = {
        name: connect(broker, terminal_credentials(two_gates, name), name)
        for name in ("gate-a", "gate-b")
    }
    for name, gate in gates.items():
        assert not any(code.is_failure for code in gate.subscribe(config))
        assert not any(
            code.is_failure for code in gate.subscribe(topics.ack_topic(WORKPLACE, name))
        )
        assert gate.until(config) == [(config, b"site config")]
        assert not gate.publish(topics.status_topic(WORKPLACE, name), b"online").is_failure
        assert not gate.publish(topics.checkin_topic(WORKPLACE, name), b"event").is_failure

    received = controller.until(topics.checkin_topic(WORKPLACE, "gate-b"))

    assert set(received) == {
        (topics.status_topic(WORKPLACE, "gate-a"), b"online"),
        (topics.checkin_topic(WORKPLACE, "gate-a"), b"event"),
        (topics.status_topic(WORKPLACE, "gate-b"), b"online"),
        (topics.checkin_topic(WORKPLACE, "gate-b"), b"event"),
    }
    for name, gate in gates.items():
        ack = topics.ack_topic(WORKPLACE, name)
        assert not controller.publish(ack, name.encode()).is_failure
        assert gate.until(ack) == [(ack, name.encode())]


def test_client_without_certificate_is_refused(two_gates: SiteLayout, start_broker) -> None:
    broker = start_broker(two_gates)
    peer = Peer(broker.port, Credentials(two_gates.ca_cert), "anonymous")
    try:
        assert not peer.connect()
    finally:
        peer.close()
    wait_for_log(broker, "peer did not return a certificate")


def test_certificate_of_another_ca_is_refused(
    two_gates: SiteLayout, tmp_path: Path, clock, start_broker
) -> None:
    other = SiteLayout.at(tmp_path / "other-site")
    site_setup.init_site(site_request(other.root), clock)
    terminal_admin.add_terminal(other.root, "gate-a", "in", clock=clock)
    broker = start_broker(two_gates)
    foreign = terminal_credentials(other, "gate-a")
    peer = Peer(
        broker.port, Credentials(two_gates.ca_cert, foreign.cert_file, foreign.key_file), "gate-a"
    )
    try:
        assert not peer.connect()
    finally:
        peer.close()
    wait_for_log(broker, "certificate verify failed")


def test_revoked_certificate_is_refused_and_others_still_get_in(
    two_gates: SiteLayout, clock, start_broker, connect
) -> None:
    terminal_admin.revoke_terminal(two_gates.root, "gate-b", clock)
    broker = start_broker(two_gates)
    revoked = Peer(broker.port, terminal_credentials(two_gates, "gate-b"), "gate-b")
    try:
        assert not revoked.connect()
    finally:
        revoked.close()
    wait_for_log(broker, "certificate verify failed")
    connect(broker, terminal_credentials(two_gates, "gate-a"), "gate-a")


def test_rotated_terminal_gets_in_with_its_new_certificate_only(
    two_gates: SiteLayout, clock, start_broker, connect, tmp_path: Path
) -> None:
    old = tmp_path / "old-bundle"
    old.mkdir()
    for name in ("ca.pem", "terminal.pem", "terminal.key"):
        (old / name).write_bytes((two_gates.bundle_dir("gate-a") / name).read_bytes())
    terminal_admin.rotate_terminal(two_gates.root, "gate-a", clock)
    broker = start_broker(two_gates)
    stale = Peer(broker.port, Credentials.of_bundle(old, "terminal.pem", "terminal.key"), "gate-a")
    try:
        assert not stale.connect()
    finally:
        stale.close()
    wait_for_log(broker, "certificate verify failed")
    connect(broker, terminal_credentials(two_gates, "gate-a"), "gate-a")


def test_terminal_gets_in_with_the_files_its_own_config_names(
    site: SiteLayout, clock, start_broker, connect
) -> None:
    terminal_admin.add_terminal(site.root, "gate-1", "in", clock=clock)
    config = terminal_config.load(site.bundle_dir("gate-1") / "terminal.toml")
    broker = start_broker(site)
    assert config.broker.ca_file and config.broker.cert_file and config.broker.key_file
    files = Credentials(config.broker.ca_file, config.broker.cert_file, config.broker.key_file)

    gate = connect(broker, files, config.terminal.id)

    topic = topics.checkin_topic(str(config.terminal.workplace_id), config.terminal.id)
    assert not gate.publish(topic, b"event").is_failure
