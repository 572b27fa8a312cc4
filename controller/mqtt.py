"""Building the controller's paho client: MQTT v5, persistent session, manual acks, TLS."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from controller.config import ControllerConfig, resolve
from controller.errors import ConfigError

KEEPALIVE_S = 30
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
RECEIVE_MAXIMUM = 1000
# The largest packet the broker may send us (MQTT v5 Maximum Packet Size): a check-in is at
# most 8 KiB (presence.events.MAX_EVENT_BYTES); a larger message is dropped by the broker
# instead of being read, quarantined, and read again at every reconnect.
MAX_PACKET_BYTES = 64 * 1024


def make_client(config: ControllerConfig, client_id: str | None = None) -> mqtt.Client:
    """A client that never acknowledges by itself: ``client.ack(mid, qos)`` after commit."""
    broker = config.broker
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or broker.client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    if broker.tls:
        try:
            client.tls_set(
                ca_certs=resolve(config, broker.ca_file) or None,
                certfile=resolve(config, broker.cert_file) or None,
                keyfile=resolve(config, broker.key_file) or None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ConfigError("tls", f"{config.path}: [broker] TLS files unusable: {exc}") from None
    client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
    return client


def connect_properties(config: ControllerConfig) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = config.broker.session_expiry_s
    props.ReceiveMaximum = RECEIVE_MAXIMUM
    props.MaximumPacketSize = MAX_PACKET_BYTES
    return props


def connect(client: mqtt.Client, config: ControllerConfig) -> None:
    """Connect with ``clean_start=False``: the broker keeps our session (subscriptions and
    unacknowledged messages) across restarts. Raises ``OSError`` when unreachable."""
    client.connect(
        config.broker.host,
        config.broker.port,
        keepalive=KEEPALIVE_S,
        clean_start=False,
        properties=connect_properties(config),
    )


def set_nodelay(client: mqtt.Client) -> None:
    """Turn Nagle's algorithm off on the client's socket: paho leaves it on, and small QoS 1
    packets then wait for the peer's delayed TCP ack (about 40 ms on Linux) per round trip."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def defer_writes(client: mqtt.Client) -> None:
    """Make paho queue outgoing packets instead of sending each at once: they go out on the
    next ``loop`` (or an explicit ``flush``). Our own loop drives the client, so the
    registration callback needs to do nothing."""
    client.on_socket_register_write = _nothing_to_register
    client.on_socket_unregister_write = _nothing_to_register


def _nothing_to_register(_client: mqtt.Client, _userdata: object, _sock: object) -> None:
    return None


def flush(client: mqtt.Client) -> mqtt.MQTTErrorCode:
    """Write every queued packet now, corked (Linux ``TCP_CORK``): many small PUBACKs leave
    in a few TCP segments instead of one each, which spares the broker as much as us."""
    with _corked(client.socket()):
        return client.loop_write()


@contextmanager
def _corked(sock: object) -> Iterator[None]:
    cork = getattr(socket, "TCP_CORK", None)
    if cork is None or not isinstance(sock, socket.socket):
        yield
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        with suppress(OSError):  # the connection is gone; paho reports that on its next loop
            sock.setsockopt(socket.IPPROTO_TCP, cork, 0)
