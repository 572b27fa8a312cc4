"""A small subscriber that acknowledges check-ins the way the site controller does.

It keeps a persistent MQTT session (so the broker queues check-ins while it is away),
stores each event once by ``event_id`` and answers every delivery with an end-to-end
``presence.messages.Ack`` (``stored`` the first time, ``duplicate`` after) on the
terminal's ack topic, in the batch form the controller sends (a batch of one). Refusal
summaries on the status topic are kept and acknowledged the same way.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from presence import topics
from presence.events import CheckIn, decode
from presence.messages import (
    Ack,
    RefusalSummary,
    TerminalStatus,
    decode_refusal_summary,
    decode_status,
    encode_acks,
    is_refusal_summary,
)

WORKPLACE = "1Y102M7NZF7PZ"


class ControllerStub:
    def __init__(self, port: int, client_id: str = "stub-controller") -> None:
        self.port = port
        self.deliveries: list[CheckIn] = []
        self.stored: dict[uuid.UUID, CheckIn] = {}
        self.statuses: list[tuple[str, TerminalStatus]] = []
        self.summaries: list[RefusalSummary] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_: self._subscribed.set()

    def start(self) -> ControllerStub:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self._client.connect("127.0.0.1", self.port, clean_start=False, properties=props)
        self._client.loop_start()
        if not self._subscribed.wait(5):
            raise RuntimeError("stub controller did not subscribe")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe(topics.subscription(WORKPLACE, "checkin"), qos=1)
        client.subscribe(topics.subscription(WORKPLACE, "status"), qos=1)

    def _on_message(self, client: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        topic = topics.parse_topic(message.topic)
        if topic.kind == "status" and is_refusal_summary(bytes(message.payload)):
            summary = decode_refusal_summary(bytes(message.payload))
            with self._lock:
                self.summaries.append(summary)
            ack_topic = topics.ack_topic(WORKPLACE, topic.terminal or "")
            client.publish(ack_topic, encode_acks([Ack(summary.id, "stored")]), qos=1)
            return
        if topic.kind == "status":
            with self._lock:
                self.statuses.append((message.topic, decode_status(bytes(message.payload))))
            return
        event = decode(bytes(message.payload))
        with self._lock:
            self.deliveries.append(event)
            duplicate = event.event_id in self.stored
            self.stored.setdefault(event.event_id, event)
        ack = (
            Ack(event.event_id, "duplicate") if duplicate else Ack(event.event_id, "stored", "new")
        )
        client.publish(topics.ack_topic(WORKPLACE, event.terminal_id), encode_acks([ack]), qos=1)

    def last_status(self) -> TerminalStatus | None:
        with self._lock:
            return self.statuses[-1][1] if self.statuses else None

    def says(self, state: str) -> bool:
        """Whether the terminal's last status says ``state`` (online or offline)."""
        status = self.last_status()
        return status is not None and status.state == state

    def stored_in_order(self) -> list[CheckIn]:
        with self._lock:
            return list(self.stored.values())


def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02
) -> bool:
    """Poll ``predicate()`` (a callable) until true or ``timeout``; a test's only way to wait
    for another process or thread."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
