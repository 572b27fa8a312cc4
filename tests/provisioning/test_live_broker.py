"""``add-terminal``, ``revoke-terminal`` and ``rotate-terminal`` change the running broker:
a site's own mosquitto (its drop-in, as on a controller), never restarted."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from presence import topics
from provisioning import cli, dynsec, pki, terminal_admin
from provisioning.layout import SiteLayout
from sim.mosquitto import MosquittoBroker
from tests.provisioning.conftest import WORKPLACE, site_broker
from tests.provisioning.mqtt_peer import Credentials, Peer

pytestmark = pytest.mark.integration
CUT_OFF_S = 5.0  # issue 13: a revoked terminal is cut off within 5 seconds
NOT_AUTHORIZED = 0x87


def credentials(site: SiteLayout, name: str) -> Credentials:
    return Credentials.of_bundle(site.bundle_dir(name), "terminal.pem", "terminal.key")


def provision(capsys: pytest.CaptureFixture[str], broker: MosquittoBroker, *argv: str):
    """``sitegate-provision`` as a site manager runs it on the controller machine."""
    code = cli.main([*argv, "--broker-pid-file", str(broker.pid_file)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def gates(broker_site: SiteLayout) -> SiteLayout:
    for name, direction in (("gate-a", "in"), ("gate-b", "out")):
        terminal_admin.add_terminal(broker_site.root, name, direction)
    return broker_site


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.close()


@pytest.fixture
def peer(peers: list[Peer]) -> Callable[[MosquittoBroker, Credentials, str], Peer]:
    """A client that tried to connect (``peer.connack`` and ``connected`` tell how it went)."""

    def make(broker: MosquittoBroker, files: Credentials, client_id: str) -> Peer:
        made = Peer(broker.port, files, client_id)
        peers.append(made)
        made.connect()
        return made

    return make


def started(site: SiteLayout) -> Iterator[MosquittoBroker]:
    broker = site_broker(site)
    try:
        yield broker.start()
    finally:
        broker.close()


@pytest.fixture
def broker(gates: SiteLayout) -> Iterator[MosquittoBroker]:
    """The site's broker, started once both gates were added."""
    yield from started(gates)


def test_revoke_closes_the_terminals_connection_and_refuses_it_again_without_a_restart(
    gates: SiteLayout, broker: MosquittoBroker, peer, capsys
) -> None:
    revoked = peer(broker, credentials(gates, "gate-b"), "gate-b")
    other = peer(broker, credentials(gates, "gate-a"), "gate-a")
    assert revoked.connected and other.connected
    pid = broker.pid

    started_at = time.monotonic()
    code, out, err = provision(
        capsys, broker, "revoke-terminal", "gate-b", "--dir", str(gates.root)
    )

    assert (code, err) == (0, "")
    assert "closed gate-b's connection" in out
    assert revoked.closed_within(CUT_OFF_S - (time.monotonic() - started_at))
    again = peer(broker, credentials(gates, "gate-b"), "gate-b-again")
    assert not again.connected
    assert time.monotonic() - started_at < CUT_OFF_S
    assert "certificate verify failed" in broker.log_tail(50)
    own = topics.checkin_topic(WORKPLACE, "gate-a")
    assert not other.publish(own, b"still here").is_failure
    assert broker.pid == pid  # the same mosquitto, never restarted


def test_a_revoked_terminal_that_got_back_in_before_the_reload_may_do_nothing(
    gates: SiteLayout, broker: MosquittoBroker, peer, capsys
) -> None:
    """Without the CRL reload (no pid file), the plugin alone still cuts the terminal off."""
    revoked = peer(broker, credentials(gates, "gate-b"), "gate-b")
    code = cli.main(["revoke-terminal", "gate-b", "--dir", str(gates.root),
                     "--broker-pid-file", str(gates.root / "no.pid")])  # fmt: skip
    _, err = capsys.readouterr()

    assert code == cli.EXIT_NOT_APPLIED
    assert "CRL not reloaded" in err and "sudo systemctl reload mosquitto" in err
    assert revoked.closed_within(CUT_OFF_S)
    back = peer(broker, credentials(gates, "gate-b"), "gate-b-back")
    assert back.connected  # the old CRL still lets its certificate in...
    denied = back.publish(topics.checkin_topic(WORKPLACE, "gate-b"), b"event")
    assert denied.value == NOT_AUTHORIZED  # ...but it has no rights left
    assert [c.value for c in back.subscribe(topics.config_topic(WORKPLACE))] == [NOT_AUTHORIZED]


def test_revoke_with_the_broker_down_writes_the_files_and_says_to_restart(
    gates: SiteLayout, broker: MosquittoBroker, peer, capsys
) -> None:
    broker.stop()

    code, out, err = provision(
        capsys, broker, "revoke-terminal", "gate-b", "--dir", str(gates.root)
    )

    assert code == cli.EXIT_NOT_APPLIED
    assert "gate-b revoked" in out
    assert "not reached" in err and "sudo systemctl restart mosquitto" in err
    assert dynsec.role_of("gate-b") not in gates.dynsec_file.read_text()
    broker.start()
    assert not peer(broker, credentials(gates, "gate-b"), "gate-b").connected
    assert peer(broker, credentials(gates, "gate-a"), "gate-a").connected


def test_revoke_signals_only_the_mosquitto_that_serves_the_site(
    gates: SiteLayout, broker: MosquittoBroker, mosquitto: MosquittoBroker, capsys
) -> None:
    """A pid file naming another mosquitto (another port) is not trusted."""
    stranger = mosquitto
    stranger.pid_file.parent.mkdir(parents=True, exist_ok=True)
    stranger.pid_file.write_text(f"{stranger.pid}\n")

    code = cli.main(["revoke-terminal", "gate-b", "--dir", str(gates.root),
                     "--broker-pid-file", str(stranger.pid_file)])  # fmt: skip
    _, err = capsys.readouterr()

    assert code == cli.EXIT_NOT_APPLIED
    assert f"does not listen on {broker.port}" in err
    time.sleep(0.5)
    assert "Reloading config" not in stranger.log_tail(50)


def test_added_terminal_gets_its_own_rights_without_a_restart(
    broker_site: SiteLayout, peer, capsys
) -> None:
    for broker in started(broker_site):
        controller_files = Credentials.of_bundle(
            broker_site.controller_dir, "controller.pem", "controller.key"
        )
        controller = peer(broker, controller_files, "sitegate-controller")
        controller.subscribe(topics.subscription(WORKPLACE, "checkin"))

        code, _, err = provision(
            capsys, broker, "add-terminal", "gate-c", "--direction", "in",
            "--dir", str(broker_site.root),
        )  # fmt: skip

        assert (code, err) == (0, "")
        gate = peer(broker, credentials(broker_site, "gate-c"), "gate-c")
        assert gate.connected
        other = gate.publish(topics.checkin_topic(WORKPLACE, "gate-d"), b"forged")
        own = topics.checkin_topic(WORKPLACE, "gate-c")
        assert not gate.publish(own, b"mine").is_failure
        assert other.value == NOT_AUTHORIZED
        assert controller.until(own) == [(own, b"mine")]


def test_rotate_closes_the_old_certificates_connection_and_lets_the_new_one_in(
    gates: SiteLayout, broker: MosquittoBroker, peer, capsys, tmp_path: Path
) -> None:
    old = tmp_path / "old-bundle"
    old.mkdir()
    for name in ("ca.pem", "terminal.pem", "terminal.key"):
        (old / name).write_bytes((gates.bundle_dir("gate-a") / name).read_bytes())
    old_files = Credentials.of_bundle(old, "terminal.pem", "terminal.key")
    current = peer(broker, old_files, "gate-a")
    assert current.connected

    started_at = time.monotonic()
    code, out, err = provision(
        capsys, broker, "rotate-terminal", "gate-a", "--dir", str(gates.root)
    )

    assert (code, err) == (0, "")
    assert "refuses the old certificate" in out
    assert current.closed_within(CUT_OFF_S - (time.monotonic() - started_at))
    assert not peer(broker, old_files, "gate-a-old").connected
    renewed = peer(broker, credentials(gates, "gate-a"), "gate-a")
    assert renewed.connected
    assert not renewed.publish(topics.checkin_topic(WORKPLACE, "gate-a"), b"event").is_failure


def test_the_admin_certificate_is_the_sites_own_and_private(broker_site: SiteLayout) -> None:
    cert = pki.load_issued(
        broker_site.admin_key.read_bytes(), broker_site.admin_cert.read_bytes(), "admin"
    ).cert
    ca = pki.load_issued(
        broker_site.ca_key.read_bytes(), broker_site.ca_cert.read_bytes(), "CA"
    ).cert

    assert pki.common_name(cert) == "sitegate-admin"
    assert cert.issuer == ca.subject
    assert broker_site.admin_key.stat().st_mode & 0o777 == 0o600
    assert broker_site.admin_dir.stat().st_mode & 0o777 == 0o700
