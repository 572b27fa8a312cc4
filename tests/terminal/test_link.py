"""The MQTT link against a real mosquitto: delivery on end-to-end ack, in order, through outages."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from presence import topics
from presence.clock import Clock, ManualClock, is_boot_id
from presence.messages import (
    Ack,
    ClockPin,
    SiteConfig,
    decode_site_config,
    decode_status,
    encode_ack,
    encode_acks,
    encode_site_config,
)
from sim import mosquitto as sim_mosquitto
from sim.mosquitto import MosquittoBroker
from terminal import config as terminal_config
from terminal import link as link_module
from terminal import refusal_log
from terminal.config import TerminalConfig
from terminal.link import Link
from terminal.outbox import Outbox
from terminal.refusal_log import Refusal
from tests.conftest import ErrorLogGuard
from tests.terminal.controller_stub import WORKPLACE, ControllerStub, wait_until
from tests.terminal.people import checkin
from tests.terminal.rig import site_config
from tests.terminal.sample_config import sim_config, write

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def quick_link(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(link_module, "RECONNECT_MIN_S", 0.1)
    monkeypatch.setattr(link_module, "RECONNECT_MAX_S", 0.5)


class Terminal:
    """An outbox and its link, as the program wires them (without drivers and flow)."""

    def __init__(self, config: TerminalConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.outbox = Outbox(config.outbox_path, clock=clock)
        self.configs: list[SiteConfig] = []
        self.link = Link(config, self.outbox, on_site_config=self.configs.append,
                         health=lambda: {"reader": "ok"}, clock_synced=lambda: True,
                         clock=clock)  # fmt: skip

    def add(self, n: int = 1) -> None:
        for _ in range(n):
            self.outbox.append(lambda seq: checkin(seq))
        self.link.notify()

    def close(self) -> None:
        self.link.close()
        self.outbox.close()


@pytest.fixture
def make_terminal(tmp_path: Path) -> Iterator[Callable[[int], Terminal]]:
    made: list[Terminal] = []

    def make(port: int, clock: Clock | None = None) -> Terminal:
        config = terminal_config.load(write(tmp_path, sim_config(tmp_path / "state", port=port)))
        made.append(Terminal(config, clock))
        return made[-1]

    yield make
    for terminal in made:
        terminal.close()


@pytest.fixture
def controller(mosquitto: MosquittoBroker) -> Iterator[ControllerStub]:
    stub = ControllerStub(mosquitto.port).start()
    yield stub
    stub.stop()


def test_events_are_delivered_in_order_and_leave_on_the_ack(
    mosquitto: MosquittoBroker, controller: ControllerStub, make_terminal: Callable[..., Terminal]
) -> None:
    terminal = make_terminal(mosquitto.port)
    terminal.add(5)
    terminal.link.start()
    assert wait_until(lambda: terminal.outbox.depth == 0)
    assert [e.seq for e in controller.stored_in_order()] == [1, 2, 3, 4, 5]
    assert len(controller.deliveries) == 5


def test_the_status_says_online_with_the_outbox_and_the_clock(
    mosquitto: MosquittoBroker, controller: ControllerStub, make_terminal: Callable[..., Terminal]
) -> None:
    terminal = make_terminal(mosquitto.port)
    terminal.link.start()
    assert wait_until(lambda: controller.last_status() is not None)
    status = controller.last_status()
    assert status is not None and status.state == "online"
    assert status.outbox_depth == 0 and status.clock_synced is True
    assert status.health["broker"] == "ok" and status.health["reader"] == "ok"
    assert status.software_version


def test_a_heartbeat_follows_every_heartbeat_period(
    mosquitto: MosquittoBroker, controller: ControllerStub, make_terminal: Callable[..., Terminal],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(link_module, "HEARTBEAT_S", 0.2)
    terminal = make_terminal(mosquitto.port)
    terminal.link.start()
    assert wait_until(lambda: len(controller.statuses) >= 3, timeout=5)


def test_a_clean_stop_leaves_offline_retained(
    mosquitto: MosquittoBroker, controller: ControllerStub, make_terminal: Callable[..., Terminal]
) -> None:
    terminal = make_terminal(mosquitto.port)
    terminal.link.start()
    assert wait_until(lambda: controller.last_status() is not None)
    terminal.close()
    assert wait_until(lambda: controller.says("offline"))


def test_broker_down_then_up_delivers_everything_in_order_none_twice(
    mosquitto: MosquittoBroker, controller: ControllerStub, make_terminal: Callable[..., Terminal]
) -> None:
    terminal = make_terminal(mosquitto.port)
    terminal.link.start()
    terminal.add(3)
    assert wait_until(lambda: terminal.outbox.depth == 0)
    mosquitto.stop()
    assert wait_until(lambda: not terminal.link.connected)
    terminal.add(20)  # decisions go on while the broker is away
    assert terminal.outbox.depth == 20
    mosquitto.start()
    assert wait_until(lambda: terminal.outbox.depth == 0, timeout=20)
    stored = controller.stored_in_order()
    assert [e.seq for e in stored] == list(range(1, 24))
    assert len({e.event_id for e in controller.deliveries}) == 23


def test_controller_down_the_outbox_grows_and_the_status_says_so_then_it_drains(
    mosquitto: MosquittoBroker, controller: ControllerStub, make_terminal: Callable[..., Terminal],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(link_module, "HEARTBEAT_S", 0.2)
    monkeypatch.setattr(link_module, "CONTROLLER_SILENT_S", 0.3)
    controller.stop()  # its session stays on the broker, which queues for it
    watcher = ControllerStub(mosquitto.port, client_id="status-watcher")
    watcher._client.on_message = _status_only(watcher)
    watcher.start()
    terminal = make_terminal(mosquitto.port)
    terminal.link.start()
    terminal.add(4)
    assert wait_until(lambda: (s := watcher.last_status()) is not None
                      and s.outbox_depth == 4 and s.health["controller"] == "no_ack")  # fmt: skip
    status = watcher.last_status()
    assert status is not None and status.oldest_unacked_s is not None
    assert status.oldest_unacked_s >= 0.3
    controller.start()
    assert wait_until(lambda: terminal.outbox.depth == 0)
    assert wait_until(lambda: (s := watcher.last_status()) is not None
                      and s.outbox_depth == 0 and s.health["controller"] == "ok")  # fmt: skip
    assert [e.seq for e in controller.stored_in_order()] == [1, 2, 3, 4]
    watcher.stop()


def _status_only(stub: ControllerStub) -> Callable[..., None]:
    original = stub._on_message

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/status"):
            original(client, userdata, message)

    return on_message


def test_unacked_events_are_sent_again_after_the_resend_delay(
    mosquitto: MosquittoBroker, make_terminal: Callable[..., Terminal],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(link_module, "RESEND_AFTER_S", 0.3)
    seen: list[bytes] = []
    got_two = threading.Event()
    spy = _client("spy")

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        seen.append(bytes(message.payload))
        if len(seen) >= 2:
            got_two.set()

    spy.on_message = on_message
    spy.connect("127.0.0.1", mosquitto.port)
    spy.subscribe(topics.subscription(WORKPLACE, "checkin"), qos=1)
    spy.loop_start()
    terminal = make_terminal(mosquitto.port)
    terminal.link.start()
    assert wait_until(lambda: terminal.link.connected)
    terminal.add(1)
    assert got_two.wait(5) and seen[0] == seen[1]
    assert terminal.outbox.depth == 1  # PUBACKs never remove it
    spy.loop_stop()
    spy.disconnect()


def test_the_site_config_is_taken_and_kept(
    mosquitto: MosquittoBroker, make_terminal: Callable[..., Terminal]
) -> None:
    config = site_config(ManualClock())
    publisher = _client("publisher")
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    publisher.publish(topics.config_topic(WORKPLACE), encode_site_config(config), qos=1,
                      retain=True).wait_for_publish(5)  # fmt: skip
    terminal = make_terminal(mosquitto.port)
    terminal.link.start()
    assert wait_until(lambda: terminal.configs == [config])
    saved = terminal.outbox.load_site_config()
    assert saved is not None and decode_site_config(saved) == config
    publisher.loop_stop()
    publisher.disconnect()


def test_bad_acks_and_configs_are_ignored_and_refused_acks_still_clear(
    mosquitto: MosquittoBroker, make_terminal: Callable[..., Terminal],
    logged_errors: ErrorLogGuard,
) -> None:  # fmt: skip
    terminal = make_terminal(mosquitto.port)
    terminal.link.start()
    assert wait_until(lambda: terminal.link.connected)
    terminal.add(1)
    [pending] = terminal.outbox.pending()
    sender = _client("sender")
    sender.connect("127.0.0.1", mosquitto.port)
    sender.loop_start()
    ack_topic = topics.ack_topic(WORKPLACE, "gate-1")
    for payload in (b"not json", b'{"v": 1}'):
        sender.publish(ack_topic, payload, qos=1).wait_for_publish(5)
    sender.publish(topics.config_topic(WORKPLACE), b"[]", qos=1).wait_for_publish(5)
    refused = Ack(pending.event_id, "refused", None, "bad_identifier")
    sender.publish(ack_topic, encode_ack(refused), qos=1).wait_for_publish(5)
    assert wait_until(lambda: terminal.outbox.depth == 0)
    assert terminal.link.errors == 0 and terminal.configs == []
    sender.loop_stop()
    sender.disconnect()


def test_one_batch_ack_clears_every_event_it_names(
    mosquitto: MosquittoBroker, make_terminal: Callable[..., Terminal],
    logged_errors: ErrorLogGuard,
) -> None:  # fmt: skip
    terminal = make_terminal(mosquitto.port)
    terminal.link.start()
    assert wait_until(lambda: terminal.link.connected)
    terminal.add(4)
    first, second, third, fourth = terminal.outbox.pending()
    sender = _client("batch-sender")
    sender.connect("127.0.0.1", mosquitto.port)
    sender.loop_start()
    batch = [
        Ack(first.event_id, "stored", "pending"),
        Ack(third.event_id, "duplicate", "registered"),
        Ack(fourth.event_id, "refused", None, "bad_identifier"),
    ]
    ack_topic = topics.ack_topic(WORKPLACE, "gate-1")
    sender.publish(ack_topic, encode_acks(batch), qos=1).wait_for_publish(5)
    assert wait_until(lambda: terminal.outbox.depth == 1)
    assert [item.event_id for item in terminal.outbox.pending()] == [second.event_id]
    sender.publish(ack_topic, encode_acks([Ack(second.event_id, "stored", "pending")]), qos=1)
    assert wait_until(lambda: terminal.outbox.depth == 0)
    assert terminal.link.errors == 0
    sender.loop_stop()
    sender.disconnect()


def _client(name: str) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)


# --- heartbeats, refusal summaries, unreadable configs -------------------------------------


def _recorder(port: int, name: str) -> tuple[mqtt.Client, list[mqtt.MQTTMessage]]:
    """A subscriber to every check-in and status of the site, keeping messages in order."""
    seen: list[mqtt.MQTTMessage] = []
    subscribed = threading.Event()
    client = _client(name)
    client.on_message = lambda _c, _u, message: seen.append(message)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe([(topics.subscription(WORKPLACE, "checkin"), 1),
                      (topics.subscription(WORKPLACE, "status"), 1)])  # fmt: skip
    assert subscribed.wait(5)
    return client, seen


def test_after_connecting_the_heartbeat_goes_before_the_outbox(
    mosquitto: MosquittoBroker, make_terminal: Callable[..., Terminal]
) -> None:
    """The controller dates a new boot's events by that boot's heartbeat: it must be there
    first (docs/controller.md, dating)."""
    recorder, seen = _recorder(mosquitto.port, "recorder")
    terminal = make_terminal(mosquitto.port)
    terminal.add(3)
    terminal.link.start()
    assert wait_until(lambda: sum(m.topic.endswith("/checkin") for m in seen) >= 3)
    assert seen[0].topic.endswith("/status")
    recorder.loop_stop()
    recorder.disconnect()


def test_a_heartbeat_goes_at_qos_0_expiring_with_its_monotonic_moment(
    mosquitto: MosquittoBroker, make_terminal: Callable[..., Terminal]
) -> None:
    recorder, seen = _recorder(mosquitto.port, "recorder")
    terminal = make_terminal(mosquitto.port)
    terminal.link.start()
    assert wait_until(lambda: bool(seen))
    [message] = seen[:1]
    status = decode_status(bytes(message.payload))
    assert message.qos == 0
    assert message.properties is not None
    assert message.properties.MessageExpiryInterval in (link_module.HEARTBEAT_EXPIRY_S - 1,
                                                        link_module.HEARTBEAT_EXPIRY_S)  # fmt: skip
    assert status.expiry_s == link_module.HEARTBEAT_EXPIRY_S
    assert is_boot_id(status.boot_id) and status.mono_s is not None and status.mono_s > 0
    recorder.loop_stop()
    recorder.disconnect()


def test_refusal_counts_are_published_and_leave_on_the_controllers_ack(
    mosquitto: MosquittoBroker, controller: ControllerStub, make_terminal: Callable[..., Terminal]
) -> None:
    clock = ManualClock()
    terminal = make_terminal(mosquitto.port, clock)
    for reason in ("read_error", "read_error", "already_inside"):
        terminal.outbox.log_refusal(Refusal(clock.now(), True, clock.boot_id(),
                                            clock.monotonic(), reason, "in"))  # fmt: skip
    clock.advance(refusal_log.SUMMARISE_AFTER_S + 60)
    terminal.link.start()
    assert wait_until(lambda: controller.last_status() is not None)
    assert controller.summaries == []  # not before a controller that reads them says so
    publisher = _client("publisher")
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    config = encode_site_config(site_config(clock))
    publisher.publish(topics.config_topic(WORKPLACE), config, qos=1).wait_for_publish(5)
    publisher.loop_stop()
    publisher.disconnect()
    clock.advance(link_module.HEARTBEAT_S)  # the next heartbeat
    assert wait_until(lambda: bool(controller.summaries))
    [summary] = controller.summaries
    assert sorted((c.reason, c.count) for c in summary.counts) == [("already_inside", 1),
                                                                  ("read_error", 2)]  # fmt: skip
    assert wait_until(lambda: terminal.outbox.refusal_counts_to_send() == [])


def test_a_site_config_the_terminal_cannot_read_is_refused_and_reported(
    mosquitto: MosquittoBroker, controller: ControllerStub, make_terminal: Callable[..., Terminal]
) -> None:
    good = site_config(ManualClock())
    unreadable = json.loads(encode_site_config(good))
    unreadable["v"] = 3
    publisher = _client("publisher")
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    terminal = make_terminal(mosquitto.port)
    terminal.link.start()
    config_topic = topics.config_topic(WORKPLACE)  # retained: there whenever it subscribes
    publisher.publish(config_topic, encode_site_config(good), qos=1, retain=True).wait_for_publish(
        5
    )
    assert wait_until(lambda: terminal.configs == [good])
    publisher.publish(
        config_topic, json.dumps(unreadable).encode(), qos=1, retain=True
    ).wait_for_publish(5)
    assert wait_until(lambda: terminal.link.site_config_fault == "version")
    assert terminal.configs == [good] and terminal.link.errors == 0
    assert terminal.link.status().health["site_config"] == "version"
    saved = terminal.outbox.load_site_config()
    assert saved is not None and decode_site_config(saved) == good
    publisher.publish(config_topic, encode_site_config(good), qos=1, retain=True).wait_for_publish(
        5
    )
    assert wait_until(lambda: terminal.link.site_config_fault is None)
    assert "site_config" not in terminal.link.status().health
    publisher.loop_stop()
    publisher.disconnect()


def test_the_heartbeat_carries_the_clock_pins_of_the_last_boots(
    mosquitto: MosquittoBroker, controller: ControllerStub, make_terminal: Callable[..., Terminal]
) -> None:
    terminal = make_terminal(mosquitto.port)
    pin = ClockPin("0b0a0a0a-0000-4000-8000-00000000000a", 42.0,
                   datetime(2026, 3, 2, 23, 0, tzinfo=UTC))  # fmt: skip
    terminal.outbox.save_clock_pin(pin)
    terminal.link.start()
    assert wait_until(lambda: controller.last_status() is not None)
    status = controller.last_status()
    assert status is not None and status.clock_pins == (pin,)


def test_after_a_broker_lost_its_sessions_events_go_again_once_the_controller_is_back(
    make_terminal: Callable[..., Terminal],
) -> None:
    """A broker restarted without the controller's session (SIGKILL before it saved it)
    delivers what the terminal sends before the controller subscribes again to nobody. The
    controller's site config, published as it comes back, makes the terminal send its
    unacked events again at once instead of after RESEND_AFTER_S (120 s)."""
    broker = MosquittoBroker(persistent=False).start()
    controller = ControllerStub(broker.port).start()
    terminal = make_terminal(broker.port)
    try:
        terminal.link.start()
        terminal.add(1)
        assert wait_until(lambda: terminal.outbox.depth == 0)
        controller.stop()
        broker.stop()  # nothing saved: it comes back without sessions
        broker.start()
        assert wait_until(lambda: terminal.link.connected, timeout=10)
        terminal.add(1)  # published, PUBACKed, delivered to nobody
        assert wait_until(lambda: bool(terminal.link._sent), timeout=5)
        controller = ControllerStub(broker.port).start()
        publisher = _client("controller-config")
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        publisher.publish(topics.config_topic(WORKPLACE), encode_site_config(site_config(
            ManualClock())), qos=1, retain=True).wait_for_publish(5)  # fmt: skip
        publisher.loop_stop()
        publisher.disconnect()
        assert wait_until(lambda: terminal.outbox.depth == 0, timeout=10)
        assert [e.seq for e in controller.stored_in_order()] == [2]
    finally:
        controller.stop()
        broker.close()


def test_a_broker_killed_after_its_autosave_still_delivers_to_the_controllers_session(
    make_terminal: Callable[..., Terminal], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker saves sessions every AUTOSAVE_INTERVAL_S (provisioning.broker; 1 s here):
    killed after that, it comes back with the controller's subscription and queues for it
    what a terminal sends before the controller is back."""
    monkeypatch.setattr(sim_mosquitto, "AUTOSAVE_INTERVAL_S", 1)
    broker = MosquittoBroker().start()
    controller = ControllerStub(broker.port).start()
    terminal = make_terminal(broker.port)
    try:
        controller.stop()  # its session stays on the broker
        time.sleep(2.5)  # autosaved
        broker.kill()
        broker.start()
        terminal.link.start()
        terminal.add(1)
        assert wait_until(lambda: bool(terminal.link._sent), timeout=10)
        controller = ControllerStub(broker.port).start()
        assert wait_until(lambda: terminal.outbox.depth == 0, timeout=10)
    finally:
        controller.stop()
        broker.close()
