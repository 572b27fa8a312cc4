"""MQTT ingest: check-ins and terminal statuses in, stored durably, then acknowledged.

One thread owns the paho client and drives its network loop itself (no ``loop_start``):
it reads what the broker has, a few milliseconds' worth, handles the whole group in one
transaction, commits, and only then sends each PUBACK (``client.ack``) and, per terminal,
one end-to-end ack message carrying all of that terminal's acks of the group
(``presence.messages.encode_acks``): one MQTT message per terminal and group instead of one
per event, which spares the broker, the terminal and us a PUBLISH and its PUBACK per event.
Outgoing packets are queued and written together after the group (``controller.mqtt.flush``).
Keeping network and database work in one thread avoids handing every message and every ack
across threads (a database thread overlapping the reads was measured slower: the GIL). A
message whose commit failed is never acknowledged: it is retried, and after a crash the
broker redelivers it from our persistent session (``clean_start=False``).
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import paho.mqtt.client as mqtt
from sqlalchemy import Connection, text

from controller import checkins, heartbeats, quarantine, refusals, schema, siteconfig
from controller.checkins import Arrival
from controller.config import ControllerConfig
from controller.errors import StoreError
from controller.health import HealthRecorder
from controller.mqtt import (
    RECONNECT_MAX_S,
    RECONNECT_MIN_S,
    connect,
    defer_writes,
    flush,
    make_client,
    set_nodelay,
)
from controller.store import Store
from controller.terminals import TerminalRegistry
from presence import topics
from presence.clock import Clock, SystemClock, brussels_date
from presence.events import BadEvent, CheckIn, decode
from presence.messages import (
    Ack,
    BadMessage,
    decode_refusal_summary,
    decode_status,
    encode_acks,
    encode_site_config,
    is_refusal_summary,
)

log = logging.getLogger(__name__)

GROUP_COMMIT_S = 0.004  # how long the writer waits to fill a group after its first message
GROUP_MAX = 1000
ACKS_PER_MESSAGE = 500  # end-to-end acks in one message (about 120 bytes each)
STORE_RETRY_S = 1.0  # pause before retrying a group the database refused
HOUSEKEEPING_S = 1.0  # terminals file and site config checks
# Terminals judge the allowlist by its age (issued_at): publish it afresh well within their
# maximum age (a day by default), even when nothing in it changed.
CONFIG_REFRESH_S = 3600.0
IDLE_WAIT_S = 0.2
DRAIN_IDLE_READS = 2
# What the broker kept for our session arrives right after we connect: until the socket has
# been idle once, and at least this long, a heartbeat is part of that backlog, not live.
BACKLOG_MIN_S = 3.0
# A check-in that cannot be dated yet (its boot's first live heartbeat has not arrived) is
# left unacknowledged end to end, so its terminal sends it again; after this long it is
# quarantined as ``undatable`` with its evidence.
UNDATABLE_HOLD_S = 300.0


@dataclass(slots=True)
class Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: datetime
    generation: int = 0
    retained: bool = False  # a retained message may be old: no clock offset from it
    backlog: bool = False  # arrived while the broker flushed our session after a connect
    expiry_left_s: int | None = None  # what the broker left of the message expiry


@dataclass(slots=True)
class Handled:
    message: Incoming
    ack_terminal: str | None = None
    ack: Ack | None = None
    committed: bool = True
    clear_retained: bool = False  # after the commit, clear the broker's retained copy


@dataclass(slots=True)
class Counters:
    stored: int = 0
    duplicate: int = 0
    refused: int = 0
    statuses: int = 0
    store_failures: int = 0
    callback_errors: int = 0


class Ingest:
    """Subscribes to this site's check-in and status topics and stores what arrives."""

    def __init__(
        self,
        config: ControllerConfig,
        store: Store,
        terminals: TerminalRegistry,
        clock: Clock | None = None,
        on_presence: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.terminals = terminals
        self.clock = clock or SystemClock()
        self.on_presence = on_presence
        self.workplace = config.site.workplace_id
        self.counters = Counters()
        self.subscribed = threading.Event()
        self._inbox: list[Incoming] = []
        self._generation = 0  # connection counter: a mid is only valid on its connection
        self._reconnect_delay = float(RECONNECT_MIN_S)
        self._backlog = True
        self._connected_at = 0.0
        self._undatable_since: dict[uuid.UUID, float] = {}
        self._stop = threading.Event()
        self._publish_config = threading.Event()
        self._published_stamp: siteconfig.Stamp | None = None
        self._site_configs = siteconfig.Builder(store, config)  # hashing is slow: off this thread
        self._published_at = float("-inf")
        self._client = make_client(config)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        defer_writes(self._client)  # PUBACKs and acks of a group leave together (flush)
        self._writer = threading.Thread(target=self._run, name="ingest", daemon=True)
        self.health = HealthRecorder(store, self.clock)
        self._next_housekeeping = 0.0
        self._held: set[str] = set()  # event ids quarantined until a resend passes

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.terminals.reload_if_changed()
        self._held = quarantine.held_event_ids(self.store)
        self._writer.start()

    def stop(self) -> None:
        self._stop.set()
        if self._writer.is_alive():
            self._writer.join(timeout=10)
        self._site_configs.wait(timeout=10)

    @property
    def alive(self) -> bool:
        return self._writer.is_alive()

    @property
    def in_backlog(self) -> bool:
        """Still taking what the broker kept for us while we were away (no heartbeat of
        this time sets a terminal's clock)."""
        return self._backlog

    # --- paho callbacks (called from our own loop): never raise ------------------------------

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object = None
    ) -> None:
        try:
            if getattr(reason, "is_failure", False):
                log.warning("broker refused the connection: %s", reason)
                return
            set_nodelay(client)
            client.subscribe(
                [
                    (topics.subscription(self.workplace, "checkin"), 1),
                    (topics.subscription(self.workplace, "status"), 1),
                ]
            )
            self._publish_config.set()
            log.info(
                "connected to the broker %s:%s", self.config.broker.host, self.config.broker.port
            )
        except Exception:
            self.counters.callback_errors += 1
            log.exception("on_connect failed")

    def _on_disconnect(
        self, _c: object, _u: object, _f: object, reason: object, _p: object = None
    ) -> None:
        self.subscribed.clear()
        if not self._stop.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_subscribe(
        self, _c: object, _u: object, _mid: object, reasons: object, _p: object = None
    ) -> None:
        self.subscribed.set()

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            self._inbox.append(
                Incoming(
                    message.topic,
                    bytes(message.payload),
                    message.mid,
                    message.qos,
                    self.clock.now(),
                    self._generation,
                    bool(message.retain),
                    self._backlog,
                    _expiry_left(message),
                )
            )
        except Exception:
            self.counters.callback_errors += 1
            log.exception("on_message failed")

    # --- the ingest thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    if not self._connected() and not self._connect():
                        continue
                    self._housekeeping()
                    group = self._take_group()
                    if group:
                        self._process(group)
                except Exception:
                    self.counters.callback_errors += 1
                    log.exception("ingest loop failed; retrying")
                    self._stop.wait(STORE_RETRY_S)
        finally:
            if self._client.is_connected():
                self._client.disconnect()
                self._client.loop(timeout=0.1)

    def _connected(self) -> bool:
        return self._client.socket() is not None

    def _connect(self) -> bool:
        """(Re)connect with clean_start=False; backs off between failures."""
        try:
            if self._generation == 0:
                connect(self._client, self.config)
            else:
                self._client.reconnect()
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.warning(
                "broker %s:%s unreachable (%s); retrying in %.0f s",
                self.config.broker.host,
                self.config.broker.port,
                exc,
                self._reconnect_delay,
            )
            self.health.broker(False)
            self._stop.wait(self._reconnect_delay)
            self._reconnect_delay = min(self._reconnect_delay * 2, RECONNECT_MAX_S)
            return False
        self._generation += 1
        self._backlog, self._connected_at = True, time.monotonic()
        self._inbox.clear()  # not acknowledged: the broker sends them again on this session
        self._reconnect_delay = float(RECONNECT_MIN_S)
        return True

    def _pump(self, timeout: float) -> None:
        """One turn of paho's loop: read, write, keep-alive. A lost connection drops what
        was read but not yet committed (it was not acknowledged either)."""
        rc = self._client.loop(timeout=timeout)
        if rc == mqtt.MQTT_ERR_SUCCESS:
            rc = self._drain()
        if rc != mqtt.MQTT_ERR_SUCCESS and not self._connected():
            self._inbox.clear()

    def _drain(self) -> mqtt.MQTTErrorCode:
        """Read on while the socket has packets: ``loop`` reads about one packet per call
        (one ``select`` each). Stops after ``DRAIN_IDLE_READS`` reads that brought no message
        (nothing left, a PUBACK, or half a packet) or when the group is full."""
        idle = 0
        while idle < DRAIN_IDLE_READS and len(self._inbox) < GROUP_MAX:
            before = len(self._inbox)
            rc = self._client.loop_read()
            if rc != mqtt.MQTT_ERR_SUCCESS:
                return rc
            idle = idle + 1 if len(self._inbox) == before else 0
        return mqtt.MQTT_ERR_SUCCESS

    def _take_group(self) -> list[Incoming]:
        self._pump(IDLE_WAIT_S)
        if not self._inbox:
            if time.monotonic() - self._connected_at >= BACKLOG_MIN_S:
                self._backlog = False
            return []
        deadline = time.monotonic() + GROUP_COMMIT_S
        while len(self._inbox) < GROUP_MAX and self._connected():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            before = len(self._inbox)
            self._pump(remaining)
            if len(self._inbox) == before and time.monotonic() >= deadline:
                break
        group, self._inbox = self._inbox, []
        return group

    def _process(self, group: list[Incoming]) -> None:
        try:
            with self.store.transaction() as conn:
                handled = self._handle_group(conn, group)
        except Exception as exc:
            self.counters.store_failures += 1
            log.warning(
                "a group of %d messages was not stored (%s: %s); retrying one by one",
                len(group),
                type(exc).__name__,
                exc,
            )
            handled = [self._one_by_one(message) for message in group]
        self._acknowledge(handled)

    def _one_by_one(self, message: Incoming) -> Handled:
        """Store one message; while the database is down, wait and retry. A message that
        fails while the database answers is poison (it would fail forever and hold up the
        site): it is quarantined with the error, so everything behind it keeps flowing."""
        while not self._stop.is_set():
            try:
                with self.store.transaction() as conn:
                    return self._handle_group(conn, [message])[0]
            except Exception as exc:
                failure = exc
            if self._database_answers():
                return self._quarantine_unstorable(message, failure)
            self.counters.store_failures += 1
            log.error("cannot store message from %s: %s; retrying", message.topic, failure)
            self._stop.wait(STORE_RETRY_S)
        return Handled(message, committed=False)  # stopping: the broker will redeliver

    def _database_answers(self) -> bool:
        try:
            with self.store.transaction() as conn:
                conn.execute(text("SELECT 1"))
        except StoreError:
            return False
        return True

    def _quarantine_unstorable(self, message: Incoming, failure: Exception) -> Handled:
        try:
            terminal = topics.parse_topic(message.topic).terminal
        except topics.BadTopic:
            terminal = None
        detail = f"{type(failure).__name__}: {failure}"[:500]
        try:
            with self.store.transaction() as conn:
                return self._refuse(
                    conn, message, terminal, _best_effort_event_id(message.payload),
                    "unstorable", detail,
                )  # fmt: skip
        except StoreError:
            log.exception("cannot even quarantine a message from %s", message.topic)
            return Handled(message, committed=False)  # redelivered after a reconnect

    def _handle_group(self, conn: Connection, group: list[Incoming]) -> list[Handled]:
        """Refusals and statuses one by one; accepted check-ins together."""
        results: list[Handled | Arrival] = [self._handle(conn, message) for message in group]
        self._hold_undatable(conn, group, results)
        arrivals = [r for r in results if isinstance(r, Arrival)]
        outcomes = iter(
            checkins.record_many(self.store, conn, arrivals, self.config.timing.clock_skew_max_s)
        )
        settled = [str(a.checkin.event_id) for a in arrivals
                   if str(a.checkin.event_id) in self._held]  # fmt: skip
        if settled:
            quarantine.settle(conn, settled)
            self._held.difference_update(settled)
        handled: list[Handled] = []
        for message, result in zip(group, results, strict=True):
            if isinstance(result, Handled):
                handled.append(result)
                continue
            outcome = next(outcomes)
            if outcome.status == "duplicate":
                self.counters.duplicate += 1
            else:
                self.counters.stored += 1
            ack = ack_of(result.checkin, outcome)
            handled.append(Handled(message, result.checkin.terminal_id, ack))
        return handled

    def _acknowledge(self, handled: list[Handled]) -> None:
        """After the commit: PUBACK each message, then one end-to-end ack message per
        terminal carrying that terminal's acks of the group."""
        presence_made = False
        batches: dict[str, list[Ack]] = {}
        for item in handled:
            if not item.committed or item.message.generation != self._generation:
                continue  # the broker redelivers it on the new connection
            self._client.ack(item.message.mid, item.message.qos)
            if item.clear_retained:  # an empty retained message clears the broker's copy
                self._client.publish(item.message.topic, b"", qos=1, retain=True)
            if item.ack is not None and item.ack_terminal is not None:
                presence_made = presence_made or item.ack.presence_state == schema.PENDING
                batches.setdefault(item.ack_terminal, []).append(item.ack)
        for terminal, acks in batches.items():
            topic = topics.ack_topic(self.workplace, terminal)
            for start in range(0, len(acks), ACKS_PER_MESSAGE):
                chunk = acks[start : start + ACKS_PER_MESSAGE]
                self._client.publish(topic, encode_acks(chunk), qos=1)
        flush(self._client)
        if presence_made and self.on_presence is not None:
            self.on_presence()

    # --- one message, inside the group's transaction --------------------------------------

    def _handle(self, conn: Connection, message: Incoming) -> Handled | Arrival:
        try:
            topic = topics.parse_topic(message.topic)
        except topics.BadTopic as exc:
            return self._refuse(conn, message, None, None, "bad_topic", str(exc))
        if topic.workplace != self.workplace or topic.terminal is None:
            return self._refuse(conn, message, None, None, "wrong_workplace", "not this site")
        if topic.kind == "status":
            return self._status(conn, message, topic.terminal)
        return self._checkin(conn, message, topic.terminal)

    def _checkin(self, conn: Connection, message: Incoming, terminal: str) -> Handled | Arrival:
        if not message.payload:
            return Handled(message)  # a cleared retained message (ours): nothing in it
        if message.retained:
            # A terminal never retains a check-in: this copy would come again at every
            # reconnect. Kept once as evidence, cleared from the broker, never stored.
            event_id = _best_effort_event_id(message.payload)
            detail = "a retained check-in (terminals never retain them): cleared from the broker"
            self._refuse(conn, message, terminal, event_id, "retained", detail)
            return Handled(message, clear_retained=True)
        try:
            checkin = decode(message.payload)
        except BadEvent as exc:
            event_id = _best_effort_event_id(message.payload)
            detail = f"{exc.code}: {exc}"
            return self._refuse(conn, message, terminal, event_id, "bad_payload", detail)
        refusal = checkin_refusal(checkin, terminal, self.workplace, self.terminals.check)
        if refusal is not None:
            reason, detail = refusal
            return self._refuse(conn, message, terminal, checkin.event_id, reason, detail)
        return Arrival(checkin, message.payload, message.received_at)

    def _refuse(
        self,
        conn: Connection,
        message: Incoming,
        terminal: str | None,
        event_id: uuid.UUID | None,
        reason: str,
        detail: str,
    ) -> Handled:
        kept = checkins.quarantine(
            conn,
            topic=message.topic,
            terminal_id=terminal,
            event_id=str(event_id) if event_id else None,
            reason=reason,
            detail=detail,
            payload=message.payload,
            received_at=message.received_at,
        )
        self.counters.refused += 1
        log.log(
            logging.WARNING if kept else logging.DEBUG,
            "quarantined a message on %s: %s (%s)%s",
            message.topic,
            reason,
            detail[:200],
            "" if kept else ", already kept",
        )
        if event_id is None or terminal is None:
            return Handled(message)
        if reason in quarantine.REPLAYABLE:
            # The controller's own state refused it, not the message: no final ack, so the
            # terminal keeps its copy and sends it again (terminal/link.py deletes on any ack).
            self._held.add(str(event_id))
            return Handled(message)
        return Handled(message, terminal, Ack(event_id, "refused", None, reason))

    def _status(self, conn: Connection, message: Incoming, terminal: str) -> Handled:
        """A status (and, when it is a live heartbeat, the terminal's clocks), or a refusal
        summary, which is acknowledged end to end like a check-in."""
        if not message.payload:
            return Handled(message)  # a cleared retained status
        if is_refusal_summary(message.payload):
            return self._refusal_summary(conn, message, terminal)
        try:
            status = decode_status(message.payload)
        except BadMessage as exc:
            log.warning("terminal %s sent an unreadable status: %s", terminal, exc.code)
            return Handled(message)
        self.counters.statuses += 1
        arrived = heartbeats.Arrived(
            message.received_at, message.retained, message.backlog, message.expiry_left_s
        )
        heartbeats.record(conn, terminal, status, arrived, self.config.timing.clock_skew_max_s)
        return Handled(message)

    def _refusal_summary(self, conn: Connection, message: Incoming, terminal: str) -> Handled:
        try:
            summary = decode_refusal_summary(message.payload)
        except BadMessage as exc:
            return self._refuse(conn, message, terminal, None, "bad_payload", str(exc))
        refusal = self.terminals.check(terminal)
        if refusal is not None:
            detail = f"terminal {terminal} may not publish here"
            return self._refuse(conn, message, terminal, summary.id, refusal, detail)
        refusals.store_summary(conn, terminal, summary, message.received_at)
        return Handled(message, terminal, Ack(summary.id, "stored"))

    def _hold_undatable(
        self, conn: Connection, group: list[Incoming], results: list[Handled | Arrival]
    ) -> None:
        """Check-ins that cannot be dated yet (``checkins.undatable``: clock not synchronised,
        no live heartbeat of their boot) are held: PUBACKed but not acknowledged end to end,
        so the terminal keeps them and sends them again; the heartbeat of a boot that just
        started comes within a minute. After ``UNDATABLE_HOLD_S`` they are quarantined."""
        indexes = [i for i, r in enumerate(results) if isinstance(r, Arrival)]
        arrivals = [r for r in results if isinstance(r, Arrival)]
        found = checkins.undatable(conn, arrivals, self.config.timing.clock_skew_max_s)
        now = time.monotonic()
        for position in found:
            index, arrival = indexes[position], arrivals[position]
            event = arrival.checkin
            first = self._undatable_since.setdefault(event.event_id, now)
            if now - first < UNDATABLE_HOLD_S:
                log.info("event %s held: no live heartbeat of its boot yet", event.event_id)
                results[index] = Handled(group[index])
                continue
            self._undatable_since.pop(event.event_id, None)
            detail = (
                f"clock not synchronised and no live heartbeat of boot {event.boot_id} "
                f"within {UNDATABLE_HOLD_S:.0f} s: {event.credential.person.masked()} "
                f"scanned at {event.scanned_at.isoformat()} by the terminal's clock "
                f"(monotonic {event.mono_s} s), received {arrival.received_at.isoformat()}; "
                "the day it happened cannot be told: register it by hand"
            )
            results[index] = self._refuse(
                conn, group[index], event.terminal_id, event.event_id, "undatable", detail
            )
        if len(self._undatable_since) > GROUP_MAX * 10:  # terminals gone for good
            cutoff = now - 2 * UNDATABLE_HOLD_S
            self._undatable_since = {k: v for k, v in self._undatable_since.items() if v >= cutoff}

    # --- site config and terminals file -----------------------------------------------------

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now < self._next_housekeeping and not self._publish_config.is_set():
            return
        self._next_housekeeping = now + HOUSEKEEPING_S
        self.terminals.reload_if_changed()
        if not self._client.is_connected():
            return
        self.health.broker(True)  # written on a change, else every health.REFRESH_S
        built = self._site_configs.take()
        if built is not None:
            site_config, stamp = built
            self._client.publish(
                topics.config_topic(self.workplace),
                encode_site_config(site_config),
                qos=1,
                retain=True,
            )
            self._published_stamp = stamp
            self._published_at = now
            log.info(
                "site config version %s published (%d people on the allowlist)",
                site_config.version,
                len(site_config.allowlist),
            )
        today = brussels_date(self.clock.now())
        stamp = siteconfig.current_stamp(self.store, today)
        stale = now - self._published_at >= CONFIG_REFRESH_S
        if stamp != self._published_stamp or stale or self._publish_config.is_set():
            self._publish_config.clear()
            self._site_configs.request(today)  # published by a later turn, once built


def checkin_refusal(
    checkin: CheckIn, terminal: str, workplace: str, terminal_check: Callable[[str], str | None]
) -> tuple[str, str] | None:
    """The checks every door into the store applies to a decoded check-in, before
    ``checkins.record_many`` stores it: this MQTT ingest, and ``controller.doors`` (the
    console's registrations by hand, a team leader's phone). ``terminal`` is who delivered
    it (the topic's terminal, or the virtual terminal); ``terminal_check`` says whether that
    terminal may deliver here (None) or the refusal reason. Returns (reason, detail)."""
    if checkin.terminal_id != terminal:
        return "terminal_mismatch", "payload terminal_id differs from the topic's terminal"
    refusal = terminal_check(terminal)
    if refusal is not None:
        return refusal, f"terminal {terminal} may not publish here"
    if str(checkin.workplace_id) != workplace:
        return "wrong_workplace", "payload workplace_id is not this site's"
    return None


def ack_of(checkin: CheckIn, outcome: checkins.Outcome) -> Ack:
    """The end-to-end ack a stored (or duplicate) check-in earns."""
    return Ack(checkin.event_id, outcome.status, outcome.presence_state)


def _expiry_left(message: mqtt.MQTTMessage) -> int | None:
    """What the broker left of a heartbeat's message expiry (statuses only: a check-in's is
    not looked at, and the look costs an exception when absent)."""
    if not message.topic.endswith("/status"):
        return None
    return getattr(message.properties, "MessageExpiryInterval", None)


def _best_effort_event_id(payload: bytes) -> uuid.UUID | None:
    """The event id of an unusable payload, when one can be read: lets the terminal drop it."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    event_id = body.get("event_id") if isinstance(body, dict) else None
    if not isinstance(event_id, str):
        return None
    try:
        return uuid.UUID(event_id)
    except ValueError:
        return None
