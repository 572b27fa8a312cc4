"""A paho-mqtt 2 client over TLS with a client certificate, for the broker ACL tests."""

from __future__ import annotations

import queue
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

WAIT_S = 5.0


@dataclass(frozen=True)
class Credentials:
    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None

    @classmethod
    def of_bundle(cls, directory: Path, cert: str, key: str) -> Credentials:
        return cls(directory / "ca.pem", directory / cert, directory / key)


class Peer:
    def __init__(self, port: int, credentials: Credentials, client_id: str) -> None:
        self.port = port
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        context = ssl.create_default_context(cafile=str(credentials.ca_file))
        if credentials.cert_file is not None:
            context.load_cert_chain(str(credentials.cert_file), str(credentials.key_file))
        self._client.tls_set_context(context)
        self._connected = threading.Event()
        self._ended = threading.Event()
        self.connack: ReasonCode | None = None
        self.connected = False
        self._lock = threading.Lock()
        self._pubacks: dict[int, ReasonCode] = {}
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._acked = threading.Condition(self._lock)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = lambda _c, _u, message: self.messages.put(message)

    def _on_connect(self, _c: object, _u: object, _f: object, code: ReasonCode, _p: object) -> None:
        self.connack = code
        if code.is_failure:
            self._ended.set()
        else:
            self._connected.set()

    def _on_disconnect(self, *_args: object) -> None:
        self._ended.set()

    def _on_publish(self, _c: object, _u: object, mid: int, code: ReasonCode, _p: object) -> None:
        with self._acked:
            self._pubacks[mid] = code
            self._acked.notify_all()

    def _on_subscribe(
        self, _c: object, _u: object, mid: int, codes: list[ReasonCode], _p: object
    ) -> None:
        with self._acked:
            self._subacks[mid] = codes
            self._acked.notify_all()

    def connect(self) -> bool:
        """True once the broker accepted the connection; False if it refused or dropped it.
        ``connected`` keeps the answer."""
        self.connected = self._connect()
        return self.connected

    def _connect(self) -> bool:
        try:
            self._client.connect("127.0.0.1", self.port, keepalive=30)
        except (OSError, ssl.SSLError):
            return False
        self._client.loop_start()
        for _ in range(int(WAIT_S / 0.05)):
            if self._connected.wait(0.05):
                return not self._ended.wait(0.2)  # TLS 1.3 reports a refused cert after CONNECT
            if self._ended.is_set():
                return False
        return False

    def closed_within(self, timeout: float) -> bool:
        """True once the broker closed (or refused) this client's connection."""
        return self._ended.wait(timeout)

    def subscribe(self, topic: str) -> list[ReasonCode]:
        _, mid = self._client.subscribe(topic, qos=1)
        assert mid is not None, f"subscribe to {topic} was not sent"
        with self._acked:
            self._acked.wait_for(lambda: mid in self._subacks, WAIT_S)
            return self._subacks[mid]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        with self._acked:
            self._acked.wait_for(lambda: info.mid in self._pubacks, WAIT_S)
            return self._pubacks[info.mid]

    def send(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 without waiting for the broker's answer."""
        self._client.publish(topic, payload, qos=1)

    def until(self, topic: str) -> list[tuple[str, bytes]]:
        """Messages received up to and including the first one on ``topic`` (a marker sent
        after the messages under test: QoS 1 keeps one publisher's messages in order)."""
        got: list[tuple[str, bytes]] = []
        while True:
            try:
                message = self.messages.get(timeout=WAIT_S)
            except queue.Empty:
                raise AssertionError(f"nothing on {topic} within {WAIT_S}s; got {got}") from None
            got.append((message.topic, bytes(message.payload)))
            if message.topic == topic:
                return got

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
