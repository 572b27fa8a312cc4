"""The terminal's MQTT link: publishes the outbox, takes acks and the site config, reports status.

paho-mqtt 2 (callback API 2, MQTT v5), a persistent session (``clean_start=False`` with a
session expiry), TLS with the terminal's own certificate. The last will is ``offline``,
retained, on the status topic; on connect the terminal says ``online`` and then sends a
heartbeat every ``HEARTBEAT_S``. paho's network thread reconnects with a backoff.

A heartbeat says when it was sent on the terminal's monotonic clock (boot id and reading),
and the controller pins this boot's clock to its own by heartbeats that reach it at once
(docs/controller.md, dating). So a heartbeat must never arrive late: it goes at QoS 0 (no
client-side queue, no redelivery from a persistent session) with a message expiry of
``HEARTBEAT_EXPIRY_S`` (a broker that queues it anyway drops it, and tells the controller
how long it waited), and after every (re)connect it goes *before* the outbox's events, so
the events of a new boot find a heartbeat of that boot already there. A heartbeat also
carries the clock pins of the last boots (``terminal.timesync``): the events of a boot that
ended before any of its heartbeats got through are dated by them.

Refusals kept only in the refusal log are summarised (``terminal.refusal_log``) and the
counts are published on the status topic, not retained, at QoS 1, with every heartbeat until
the controller acknowledges them like events.

Nothing here is ever waited on by a decision: the flow commits to the outbox and calls
``notify()``, which only wakes the publisher thread. The publisher sends unacknowledged events
in ``seq`` order, at most ``WINDOW`` ahead of the acks; after every (re)connect, and when the
oldest sent event has waited ``RESEND_AFTER_S`` for its ack, it starts again from the oldest
unacknowledged one (the controller de-duplicates by ``event_id``). It also starts again when
the controller shows it is (back) on the broker: the controller publishes the site config
right after it subscribes, so a config that reaches us as a live publication (not the
broker's retained copy) means that events sent before it may have gone to nobody (a broker
restarted without the controller's session delivers them to no one) and are sent again
at once rather than after ``RESEND_AFTER_S``. An event leaves the outbox
on the controller's ack, never on PUBACK; one ack message may name several events (the
controller answers a commit group at once), and the single-ack form is still accepted.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import uuid
from collections.abc import Callable
from importlib import metadata
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from presence import topics
from presence.clock import Clock, SystemClock
from presence.events import new_event_id
from presence.messages import HEARTBEAT_S as SHARED_HEARTBEAT_S
from presence.messages import (
    BadMessage,
    RefusalSummary,
    SiteConfig,
    TerminalStatus,
    controller_reads_v2,
    decode_acks,
    decode_site_config,
    encode_refusal_summary,
    encode_site_config,
    encode_status,
)
from terminal import refusal_log
from terminal.config import BrokerSection, TerminalConfig
from terminal.errors import TerminalError
from terminal.outbox import Outbox, OutboxError
from terminal.refusal_log import CountKey

log = logging.getLogger(__name__)

HEARTBEAT_S = SHARED_HEARTBEAT_S  # shared with the controller (silent terminals)
# Long enough for the retained heartbeat to outlive the period between two; a heartbeat that
# waited in a broker longer than this is dropped there.
HEARTBEAT_EXPIRY_S = 75
REFUSAL_MESSAGES_PER_BEAT = 10  # summaries of up to 1,000 counts each, per heartbeat
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 60
WINDOW = 100  # events sent and not yet acknowledged, at most
RESEND_AFTER_S = 120.0
CONTROLLER_SILENT_S = 60.0  # an unacked event older than this: the status says "no_ack"
CLOSE_TIMEOUT_S = 2.0
IDLE_WAKE_S = 1.0  # the publisher looks at the outbox at least this often

HealthSource = Callable[[], dict[str, str]]


def installed_version() -> str:
    """The installed sitegate version, for the status."""
    try:
        return metadata.version("sitegate")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class LinkError(TerminalError):
    """The link cannot be set up (``tls``: unreadable certificate or key)."""


class Link:
    def __init__(
        self,
        config: TerminalConfig,
        outbox: Outbox,
        *,
        on_site_config: Callable[[SiteConfig], None],
        health: HealthSource = dict,
        clock_synced: Callable[[], bool] = lambda: False,
        software_version: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._config = config
        self._outbox = outbox
        self._on_site_config = on_site_config
        self._health = health
        self._clock_synced = clock_synced
        self._version = software_version or installed_version()
        self._clock = clock or SystemClock()
        terminal = config.terminal
        workplace = str(terminal.workplace_id)
        self.checkin_topic = topics.checkin_topic(workplace, terminal.id)
        self.ack_topic = topics.ack_topic(workplace, terminal.id)
        self.status_topic = topics.status_topic(workplace, terminal.id)
        self.config_topic = topics.config_topic(workplace)
        self.errors = 0
        self._connected = threading.Event()
        self._wake = threading.Condition()
        self._generation = 0
        self._work = False  # set with a notify: the publisher has something to do
        self._unreachable = False  # logged once per outage
        self._stopping = False
        self._sent: dict[uuid.UUID, float] = {}  # sent in this generation -> when
        # refusal summaries on their way: id -> (the counts' keys, when sent)
        self._summaries: dict[uuid.UUID, tuple[list[CountKey], float]] = {}
        self.site_config_fault: str | None = None  # the last config that could not be read
        self._controller_reads_v2 = False  # refusal summaries only to a controller that reads them
        self._last_sent = 0
        self._thread: threading.Thread | None = None
        self._client = self._make_client(config.broker, terminal.id)

    # --- set-up --------------------------------------------------------------------------

    def _make_client(self, broker: BrokerSection, client_id: str) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        offline = encode_status(TerminalStatus(state="offline", software_version=self._version))
        client.will_set(self.status_topic, offline, qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        if broker.tls:
            try:
                client.tls_set(
                    ca_certs=str(broker.ca_file) if broker.ca_file else None,
                    certfile=str(broker.cert_file) if broker.cert_file else None,
                    keyfile=str(broker.key_file) if broker.key_file else None,
                )
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise LinkError("tls", f"cannot load TLS files: {exc}") from None
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client

    def start(self) -> Link:
        """Connect in the background; returns at once, even when the broker is down."""
        broker = self._config.broker
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = broker.session_expiry_s
        self._client.connect_async(
            broker.host, broker.port, keepalive=broker.keepalive_s,
            clean_start=False, properties=props,
        )  # fmt: skip
        self._client.loop_start()
        self._thread = threading.Thread(target=self._publisher, name="link-publisher", daemon=True)
        self._thread.start()
        return self

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def notify(self) -> None:
        """Something new is in the outbox: wake the publisher. Never blocks for long."""
        with self._wake:
            self._work = True
            self._wake.notify()

    # --- paho callbacks (paho's thread): they catch, log and count -------------------------

    def _on_connect(self, client: mqtt.Client, _u: object, _flags: Any, rc: Any, _p: Any) -> None:
        try:
            if rc.is_failure:
                log.warning("broker refused the connection: %s", rc)
                return
            _no_nagle(client)
            client.subscribe(self.ack_topic, qos=1)
            client.subscribe(self.config_topic, qos=1)
            with self._wake:
                self._generation += 1
                self._unreachable = False
                self._connected.set()
                self._work = True
                self._wake.notify()
            log.info("connected to %s:%s", self._config.broker.host, self._config.broker.port)
        except Exception as exc:
            self._callback_failed("on_connect", exc)

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _flags: Any, rc: Any, _p: Any) -> None:
        self._connected.clear()
        if not self._stopping:
            log.warning("disconnected from the broker (%s); reconnecting", rc)

    def _on_connect_fail(self, _c: mqtt.Client, _u: object) -> None:
        if not self._unreachable:
            broker = self._config.broker
            log.warning("broker %s:%s unreachable; retrying with backoff", broker.host, broker.port)
        self._unreachable = True

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            if message.topic == self.ack_topic:
                self._ack(bytes(message.payload))
            elif message.topic == self.config_topic:
                self._site_config(bytes(message.payload))
                if not message.retain:
                    self._controller_back()
            else:
                log.warning("message on unexpected topic %s ignored", message.topic[:100])
        except Exception as exc:
            self._callback_failed("on_message", exc)

    def _ack(self, payload: bytes) -> None:
        """One ack message, single or batch: every event it names leaves the outbox."""
        try:
            acks = decode_acks(payload)
        except BadMessage as exc:
            log.warning("bad ack ignored: %s", exc)
            return
        done: list[uuid.UUID] = []
        for ack in acks:
            if self._summary_acked(ack.event_id):
                continue
            if ack.status == "refused":
                log.warning("controller refused event %s (%s)", ack.event_id, ack.reason)
            try:
                removed = self._outbox.ack(ack.event_id)
            except OutboxError as exc:
                log.error("ack for %s not recorded: %s", ack.event_id, exc)
                continue
            if not removed:
                log.debug("ack for %s: not in the outbox (already acked)", ack.event_id)
            done.append(ack.event_id)
        if not done:
            return
        with self._wake:
            for event_id in done:
                self._sent.pop(event_id, None)
            self._work = True
            self._wake.notify()

    def _controller_back(self) -> None:
        """The controller just published (see the module docstring): what is unacked goes
        again from the oldest, now that its subscription is there."""
        with self._wake:
            if not self._sent and not self._summaries:
                return
            log.info("controller back on the broker: sending %d unacked events again",
                     len(self._sent))  # fmt: skip
            self._sent.clear()
            self._summaries.clear()
            self._last_sent = 0
            self._work = True
            self._wake.notify()

    def _summary_acked(self, summary_id: uuid.UUID) -> bool:
        with self._wake:
            pending = self._summaries.pop(summary_id, None)
        if pending is None:
            return False
        try:
            self._outbox.ack_refusal_counts(pending[0])
        except OutboxError as exc:
            log.error("ack for refusal summary %s not recorded: %s", summary_id, exc)
        return True

    def _site_config(self, payload: bytes) -> None:
        """A config this terminal cannot read (a newer format, a hash scheme it will not
        run) is refused, not half-read: the last good one stays in force, and the status
        says ``site_config`` = the error code until a readable one arrives."""
        if not payload:
            return
        try:
            config = decode_site_config(payload)
        except BadMessage as exc:
            log.warning("site config refused, keeping the last one: %s (%s)", exc, exc.code)
            self.site_config_fault = exc.code
            return
        self.site_config_fault = None
        self._controller_reads_v2 = controller_reads_v2(config)
        self._outbox.save_site_config(encode_site_config(config))
        self._on_site_config(config)

    def _callback_failed(self, where: str, exc: Exception) -> None:
        self.errors += 1
        log.error("MQTT %s callback failed", where, exc_info=exc)

    # --- the publisher thread ------------------------------------------------------------

    def _publisher(self) -> None:
        generation = 0
        next_heartbeat = 0.0
        alarm = False
        while True:
            with self._wake:
                if not self._work and not self._stopping:
                    wait = next_heartbeat - self._clock.monotonic()
                    self._wake.wait(timeout=min(IDLE_WAKE_S, max(wait, 0.01)))
                if self._stopping:
                    return
                self._work = False
                current = self._generation
            if not self.connected:
                continue
            try:
                if current != generation:
                    generation = current
                    self._restart_sending()
                    next_heartbeat = 0.0  # the heartbeat goes before the events
                if self._clock.monotonic() >= next_heartbeat or self._outbox.alarm != alarm:
                    alarm = self._outbox.alarm
                    self.publish_status()
                    next_heartbeat = self._clock.monotonic() + HEARTBEAT_S
                    self._publish_refusals()
                self._resend_if_stale()
                self._send_pending()
            except Exception as exc:
                self._callback_failed("publisher", exc)

    def _restart_sending(self) -> None:
        with self._wake:
            self._sent.clear()
            self._summaries.clear()
            self._last_sent = 0

    def _resend_if_stale(self) -> None:
        with self._wake:
            oldest = min(self._sent.values(), default=None)
        if oldest is not None and self._clock.monotonic() - oldest > RESEND_AFTER_S:
            log.warning("no ack for %d sent events; sending them again", len(self._sent))
            self._restart_sending()

    def _send_pending(self) -> None:
        with self._wake:
            room = WINDOW - len(self._sent)
        if room <= 0:
            return
        for item in self._outbox.pending(self._last_sent, room):
            info = self._client.publish(self.checkin_topic, item.payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                log.warning("publish of seq %d failed (%s); retry after reconnect", item.seq,
                            mqtt.error_string(info.rc))  # fmt: skip
                return
            with self._wake:
                self._sent[item.event_id] = self._clock.monotonic()
                self._last_sent = item.seq

    def _publish_refusals(self) -> None:
        """Publish the final refusal counts not acknowledged yet; counts on their way for
        less than ``RESEND_AFTER_S`` are not sent again."""
        if not self._controller_reads_v2:
            return  # an older controller: they wait in the outbox database
        now = self._clock.monotonic()
        with self._wake:
            for summary_id, (_keys, sent_at) in list(self._summaries.items()):
                if now - sent_at > RESEND_AFTER_S:
                    del self._summaries[summary_id]
            skip = {k for keys, _at in self._summaries.values() for k in keys}
        for _ in range(REFUSAL_MESSAGES_PER_BEAT):
            counts = self._outbox.refusal_counts_to_send(skip)
            if not counts:
                return
            summary = RefusalSummary(new_event_id(), tuple(counts))
            info = self._client.publish(self.status_topic, encode_refusal_summary(summary), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                log.warning("refusal summary not published (%s)", mqtt.error_string(info.rc))
                return
            keys = [refusal_log.key(c) for c in counts]
            with self._wake:
                self._summaries[summary.id] = (keys, now)
            skip.update(keys)

    def status(self) -> TerminalStatus:
        oldest = self._outbox.oldest_age_s()
        silent = oldest is not None and oldest > CONTROLLER_SILENT_S
        health = {
            "broker": "ok" if self.connected else "disconnected",
            "controller": "no_ack" if silent else "ok",
            **self._health(),
        }
        if self.site_config_fault is not None:
            health["site_config"] = self.site_config_fault
        return TerminalStatus(
            state="online",
            at=self._clock.now(),
            software_version=self._version,
            outbox_depth=self._outbox.depth,
            outbox_alarm=self._outbox.alarm,
            oldest_unacked_s=oldest,
            clock_synced=self._clock_synced(),
            health=health,
            boot_id=self._clock.boot_id(),
            mono_s=self._clock.monotonic(),
            expiry_s=HEARTBEAT_EXPIRY_S,
            clock_pins=tuple(self._outbox.clock_pins()),
        )

    def publish_status(self) -> None:
        """A heartbeat: retained, QoS 0, expiring (see the module docstring)."""
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = HEARTBEAT_EXPIRY_S
        self._client.publish(
            self.status_topic, encode_status(self.status()), qos=0, retain=True, properties=props
        )

    # --- shutdown ------------------------------------------------------------------------

    def close(self) -> None:
        """Say ``offline`` (a clean disconnect sends no will), disconnect, stop the threads."""
        with self._wake:
            if self._stopping:
                return
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=CLOSE_TIMEOUT_S + 1)
        if self.connected:
            offline = TerminalStatus(state="offline", at=self._clock.now(),
                                     software_version=self._version)  # fmt: skip
            info = self._client.publish(self.status_topic, encode_status(offline), qos=1,
                                        retain=True)  # fmt: skip
            try:
                info.wait_for_publish(CLOSE_TIMEOUT_S)
            except (RuntimeError, ValueError) as exc:
                log.warning("offline status not confirmed: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()


def _no_nagle(client: mqtt.Client) -> None:
    """paho leaves Nagle's algorithm on: each small QoS 1 packet would then wait for the
    broker's delayed TCP ack (about 40 ms on Linux) and the outbox would drain slowly."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
