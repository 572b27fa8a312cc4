"""The faults the campaign injects, each with its way in and its way out.

A ``Fault`` is drawn by the scheduler (kind, target, start, duration, parameters); ``inject``
makes it happen on the running ``ChaosSite`` and ``heal`` ends it. Kinds:

=====================  ==========================================================================
``kill``               SIGKILL a terminal, the controller, the broker or the stand-in; restart it
``kill_mid_relay``     slow NSSO down, SIGKILL the controller while a batch is ``sending``
``freeze``             SIGSTOP any of them (a hang, not a crash); SIGCONT
``net``                latency, loss or a partition on a terminal's path to the broker, or on
                       the controller's path to NSSO (``proxy.FaultProxy``)
``nsso_503``           a share of NSSO calls answered 503, not processed
``nsso_system_error``  the next N calls: SystemError with Retry=true, not processed
``nsso_drop``          the next N calls processed, then the connection is closed (in doubt)
``nsso_malformed``     the next N calls processed, then answered with broken XML (in doubt)
``nsso_slow``          every NSSO answer delayed
``nsso_slow_valid``    the stand-in restarted with a slow asynchronous validation
``clock``              a terminal reboots with its clock hours behind (or in yesterday, just
                       before midnight, so that it crosses midnight), not synchronised; NTP
                       then sets it right (the heal)
``clock_offline``      the same reboot while the terminal cannot reach the broker; NTP sets
                       the clock right before the broker is reachable again, so the first
                       heartbeat the controller sees shows no offset
``duplicate``          a check-in already delivered is published again on its topic
=====================  ==========================================================================
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, text

from presence.clock import BRUSSELS
from sim.chaos.proxy import PathFaults
from sim.chaos.site import SLOW_VALIDATION_DELAY_S, VALIDATION_DELAY_S, ChaosSite

log = logging.getLogger(__name__)

MID_RELAY_WAIT_S = 8.0  # how long kill_mid_relay waits for a batch in flight
MID_RELAY_LATENCY_S = 1.5
CLOCK_OFFLINE_RECONNECT_S = 2.0  # NTP answers this long before the broker is reachable


@dataclass(frozen=True, slots=True)
class Fault:
    at: float  # seconds after the campaign's start
    kind: str
    target: str
    duration: float
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "fault": self.kind,
            "target": self.target,
            "for_s": round(self.duration, 2),
            **self.params,
        }


class Republisher:
    """Sees every check-in on the broker and can publish one again (a duplicate delivery)."""

    def __init__(self, host: str, port: int, workplace: str) -> None:
        self._lock = threading.Lock()
        self.seen: list[tuple[str, bytes]] = []
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="chaos-republisher", protocol=mqtt.MQTTv5
        )
        self._client.on_connect = lambda c, *_: c.subscribe(f"sitegate/v1/{workplace}/+/checkin", 1)
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 2)
        self._client.connect_async(host, port, keepalive=5)
        self._client.loop_start()

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.seen.append((message.topic, bytes(message.payload)))

    def republish(self, pick: float, times: int) -> str | None:
        """Publish again the check-in at share ``pick`` of those seen; its event id."""
        with self._lock:
            if not self.seen:
                return None
            topic, payload = self.seen[min(int(pick * len(self.seen)), len(self.seen) - 1)]
        for _ in range(times):
            self._client.publish(topic, payload, qos=1)
        return str(json.loads(payload).get("event_id"))

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


class Injector:
    """Applies faults to the site; remembers what is broken so that ``heal_all`` can end it."""

    def __init__(self, site: ChaosSite, republisher: Republisher) -> None:
        self.site = site
        self.republisher = republisher
        self._lock = threading.Lock()
        self.in_flight: dict[str, int] = {}  # terminal -> presentations under way (workload)

    def inject(self, fault: Fault) -> dict[str, Any]:
        """Make it happen; returns what was done (for the history)."""
        site, kind, target = self.site, fault.kind, fault.target
        if kind == "kill":
            at_gate = self.in_flight.get(target)
            site.procs[target].kill()
            return {"in_flight": at_gate} if at_gate is not None else {}
        if kind == "kill_mid_relay":
            return self._kill_mid_relay()
        if kind == "freeze":
            site.procs[target].freeze()
            return {}
        if kind == "net":
            site.proxies[target].set(PathFaults(**fault.params))
            return {}
        if kind.startswith("nsso_") and kind != "nsso_slow_valid":
            site.nsso_admin("/admin/faults", _nsso_spec(fault))
            return {}
        if kind == "nsso_slow_valid":
            self._restart_nsso(SLOW_VALIDATION_DELAY_S)
            return {}
        if kind == "clock":
            return self._reboot_with_wrong_clock(target, fault.params["clock"])
        if kind == "clock_offline":
            site.proxies[f"{target}-broker"].set(PathFaults(partition=True))
            return self._reboot_with_wrong_clock(target, fault.params["clock"])
        if kind == "duplicate":
            event = self.republisher.republish(fault.params["pick"], fault.params["times"])
            return {"event_id": event}
        raise ValueError(f"unknown fault kind {kind}")

    def heal(self, fault: Fault) -> None:
        site, kind, target = self.site, fault.kind, fault.target
        if kind in ("kill", "kill_mid_relay"):
            if not site.procs[target].running:
                site.procs[target].start()
        elif kind == "freeze":
            site.procs[target].thaw()
        elif kind == "net":
            site.proxies[target].heal()
        elif kind.startswith("nsso_") and kind != "nsso_slow_valid":
            site.nsso_admin("/admin/faults", _nsso_spec(fault, off=True))
        elif kind == "nsso_slow_valid":
            self._restart_nsso(VALIDATION_DELAY_S)
        elif kind in ("clock", "clock_offline"):
            clock = site.clocks[target]
            clock.offset_s, clock.synced = 0.0, True
            if site.procs[target].running:
                site.control(target, {"op": "clock", "offset_s": 0.0, "synced": True})
            if kind == "clock_offline":
                time.sleep(CLOCK_OFFLINE_RECONNECT_S)
                site.proxies[f"{target}-broker"].heal()

    def heal_all(self) -> None:
        """After the campaign: everything running, thawed, connected, NSSO without faults."""
        for proxy in self.site.proxies.values():
            proxy.heal()
        for name, proc in self.site.procs.items():
            proc.thaw()
            if not proc.running:
                if name == "nsso":
                    self.site.validation_delay_s = VALIDATION_DELAY_S
                proc.start()
        if self.site.validation_delay_s != VALIDATION_DELAY_S:
            self._restart_nsso(VALIDATION_DELAY_S)
        self.site.nsso_admin(
            "/admin/faults",
            {
                "latency_s": 0.0,
                "http_503_share": 0.0,
                "system_error_retry": 0,
                "drop_after_processing": 0,
                "malformed": 0,
            },
        )
        for terminal, clock in self.site.clocks.items():
            if clock.offset_s or not clock.synced:
                clock.offset_s, clock.synced = 0.0, True
                self.site.control(terminal, {"op": "clock", "offset_s": 0.0, "synced": True})

    # --- the elaborate ones ------------------------------------------------------------------

    def _restart_nsso(self, validation_delay_s: float) -> None:
        proc = self.site.procs["nsso"]
        proc.stop()
        self.site.validation_delay_s = validation_delay_s
        proc.start()

    def _kill_mid_relay(self) -> dict[str, Any]:
        """SIGKILL the controller between its batch commit and the stored answer."""
        site = self.site
        site.nsso_admin("/admin/faults", {"latency_s": MID_RELAY_LATENCY_S})
        engine = create_engine(site.db_url)
        caught = False
        try:
            deadline = time.monotonic() + MID_RELAY_WAIT_S
            while time.monotonic() < deadline and not caught:
                try:
                    with engine.connect() as conn:
                        sending = conn.execute(
                            text("SELECT count(*) FROM registry_batches WHERE state = 'sending'")
                        ).scalar_one()
                except Exception as exc:  # the database is busy or the table not there yet
                    log.debug("kill_mid_relay: %s", exc)
                    sending = 0
                caught = bool(sending)
                if not caught:
                    time.sleep(0.02)
            site.procs["controller"].kill()
        finally:
            engine.dispose()
            site.nsso_admin("/admin/faults", {"latency_s": 0.0})
        return {"batch_in_flight": caught}

    def _reboot_with_wrong_clock(self, terminal: str, how: str) -> dict[str, Any]:
        """The Pi loses power and comes back with a wrong clock, and knows it."""
        now = datetime.now(UTC) + timedelta(seconds=self.site.clock_offset_s)  # the site's
        if how == "midnight":  # yesterday, 20 s before midnight: it crosses midnight soon
            local = now.astimezone(BRUSSELS)
            midnight = datetime.combine(local.date(), datetime.min.time(), BRUSSELS)
            offset = (midnight - timedelta(seconds=20) - now).total_seconds()
        elif how == "ahead":
            offset = 3 * 3600.0
        else:  # behind: the time saved at the last shutdown
            offset = -5 * 3600.0
        clock = self.site.clocks[terminal]
        proc = self.site.procs[terminal]
        at_gate = self.in_flight.get(terminal)
        proc.kill()
        clock.offset_s, clock.synced, clock.rebooted = offset, False, True
        proc.start()
        return {"offset_s": round(offset), "in_flight": at_gate}


def _nsso_spec(fault: Fault, off: bool = False) -> dict[str, Any]:
    kind = fault.kind
    if kind == "nsso_503":
        return {"http_503_share": 0.0 if off else fault.params["share"]}
    if kind == "nsso_slow":
        return {"latency_s": 0.0 if off else fault.params["latency_s"]}
    counter = {
        "nsso_system_error": "system_error_retry",
        "nsso_drop": "drop_after_processing",
        "nsso_malformed": "malformed",
    }[kind]
    return {counter: 0 if off else fault.params["calls"]}
