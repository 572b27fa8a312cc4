"""A provisioned site on its own broker: mosquitto run from the drop-in init-site wrote (bound
to loopback, its only change) and the controller from the controller.toml it wrote (its
database moved to the test's directory). Limits, queues and revocation, end to end."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controller import config as controller_config
from controller import schema
from controller.config import ControllerConfig
from controller.service import Controller
from controller.store import Store, open_store
from presence import topics
from presence.events import encode
from presence.messages import SiteConfig, decode_acks, decode_site_config, encode_site_config
from provisioning import terminal_admin
from provisioning.layout import SiteLayout
from sim.mosquitto import MosquittoBroker
from tests.controller.support import checkin, count_rows, limosa, wait_until
from tests.provisioning.conftest import WORKPLACE, broker_site, site_broker  # noqa: F401
from tests.provisioning.mqtt_peer import Credentials, Peer

pytestmark = pytest.mark.integration
QUEUED = 3_000  # mosquitto's default max_queued_messages is 1,000
CUT_OFF_S = 5.0


def credentials(site: SiteLayout, name: str) -> Credentials:
    return Credentials.of_bundle(site.bundle_dir(name), "terminal.pem", "terminal.key")


def controller_credentials(site: SiteLayout) -> Credentials:
    return Credentials.of_bundle(site.controller_dir, "controller.pem", "controller.key")


@pytest.fixture
def gates(broker_site: SiteLayout) -> SiteLayout:  # noqa: F811
    for name, direction in (("gate-a", "in"), ("gate-b", "out")):
        terminal_admin.add_terminal(broker_site.root, name, direction)
    return broker_site


@pytest.fixture
def broker(gates: SiteLayout) -> Iterator[MosquittoBroker]:
    made = site_broker(gates)
    yield made.start()
    made.close()


@pytest.fixture
def config(gates: SiteLayout, tmp_path: Path) -> ControllerConfig:
    """The provisioned controller.toml, with the database in the test's directory."""
    path = gates.controller_dir / "controller.toml"
    text = path.read_text()
    production = 'url = "sqlite:////var/lib/sitegate/controller.db"'
    assert text.count(production) == 1
    path.write_text(text.replace(production, f'url = "sqlite:///{tmp_path / "c.db"}"'))
    return controller_config.load(path)


@pytest.fixture
def store(config: ControllerConfig) -> Iterator[Store]:
    opened = open_store(config.database.url)
    yield opened
    opened.close()


def run_controller(config: ControllerConfig, store: Store) -> Controller:
    controller = Controller(config, store, with_relay=False)
    controller.start()
    assert controller.ingest.subscribed.wait(10), "the controller did not subscribe"
    return controller


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.close()


def connected(peers: list[Peer], broker: MosquittoBroker, files: Credentials, name: str) -> Peer:
    peer = Peer(broker.port, files, name)
    peers.append(peer)
    assert peer.connect(), f"{name} was refused: {broker.log_tail()}"
    return peer


def test_a_20_mib_publish_is_refused_and_its_sender_disconnected(
    gates: SiteLayout, broker: MosquittoBroker, peers: list[Peer]
) -> None:
    controller = connected(peers, broker, controller_credentials(gates), "sitegate-controller")
    controller.subscribe(topics.subscription(WORKPLACE, "checkin"))
    sender = connected(peers, broker, credentials(gates, "gate-a"), "gate-a")
    other = connected(peers, broker, credentials(gates, "gate-b"), "gate-b")

    sender.send(topics.checkin_topic(WORKPLACE, "gate-a"), b"x" * (20 * 1024 * 1024))

    assert sender.closed_within(10)
    marker = topics.checkin_topic(WORKPLACE, "gate-b")
    assert not other.publish(marker, b"marker").is_failure
    assert controller.until(marker) == [(marker, b"marker")]


def test_a_site_config_of_10000_people_reaches_the_terminals(
    gates: SiteLayout, broker: MosquittoBroker, peers: list[Peer]
) -> None:
    people = frozenset(hashlib.sha256(str(n).encode()).hexdigest() for n in range(10_000))
    payload = encode_site_config(SiteConfig(7, datetime.now(UTC), "00" * 16, allowlist=people))
    controller = connected(peers, broker, controller_credentials(gates), "sitegate-controller")
    config_topic = topics.config_topic(WORKPLACE)

    assert not controller.publish(config_topic, payload, retain=True).is_failure
    gate = connected(peers, broker, credentials(gates, "gate-a"), "gate-a")
    gate.subscribe(config_topic)

    received = gate.until(config_topic)
    assert len(payload) > 600_000
    assert decode_site_config(received[0][1]).allowlist == people


def test_an_offline_controller_loses_no_queued_checkin_even_across_a_broker_restart(
    gates: SiteLayout,
    broker: MosquittoBroker,
    config: ControllerConfig,
    store: Store,
    peers: list[Peer],
) -> None:
    run_controller(config, store).stop()  # its session and subscriptions stay on the broker
    gate = connected(peers, broker, credentials(gates, "gate-a"), "gate-a")
    topic = topics.checkin_topic(WORKPLACE, "gate-a")
    for n in range(QUEUED):
        event = checkin(limosa(n), terminal="gate-a", seq=n + 1)
        assert not gate.publish(topic, encode(event)).is_failure
    gate.close()
    broker.stop()
    broker.start()

    controller = run_controller(config, store)
    try:
        stored = wait_until(lambda: count_rows(store, schema.events) >= QUEUED, timeout=60)
    finally:
        controller.stop()

    assert stored, f"{count_rows(store, schema.events)} of {QUEUED} check-ins arrived"
    assert count_rows(store, schema.events) == QUEUED


def test_the_controller_refuses_a_revoked_terminal_within_5_s(
    gates: SiteLayout,
    broker: MosquittoBroker,
    config: ControllerConfig,
    store: Store,
    peers: list[Peer],
) -> None:
    """Between the files' change and the broker's (or when the broker was not reached), the
    controller refuses the terminal's check-ins on its own once it sees terminals.toml."""
    controller = run_controller(config, store)
    gate = connected(peers, broker, credentials(gates, "gate-b"), "gate-b")
    gate.subscribe(topics.ack_topic(WORKPLACE, "gate-b"))
    try:
        terminal_admin.revoke_terminal(gates.root, "gate-b")  # the files, not the broker
        revoked_at = time.monotonic()
        statuses = []
        for n in range(100):
            event = checkin(limosa(n), terminal="gate-b", direction="out", seq=n + 1)
            gate.publish(topics.checkin_topic(WORKPLACE, "gate-b"), encode(event))
            ack = decode_acks(gate.until(topics.ack_topic(WORKPLACE, "gate-b"))[-1][1])[0]
            statuses.append((ack.status, ack.reason))
            if ack.status == "refused":
                break
            time.sleep(0.1)
        refused_after = time.monotonic() - revoked_at
    finally:
        controller.stop()

    assert statuses[-1] == ("refused", "revoked_terminal")
    assert refused_after < CUT_OFF_S
