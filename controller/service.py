"""``sitegate-controller run``: ingest and relay side by side, under systemd or not."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

from controller import alerts, retention
from controller import lease as lease_module
from controller.config import ControllerConfig
from controller.errors import StoreError
from controller.heap import settle_after_start
from controller.ingest import Ingest
from controller.lease import Lease, LeaseLost
from controller.relay import Registry, Relay
from controller.sdnotify import Notifier
from controller.store import Store
from controller.terminals import TerminalRegistry
from presence.clock import Clock, SystemClock

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 30.0
SUPERVISE_INTERVAL_S = 1.0
READY_POLL_S = 0.05


class Controller:
    """The running site controller: one ingest, one relay, one database."""

    def __init__(
        self,
        config: ControllerConfig,
        store: Store,
        clock: Clock | None = None,
        registry_factory: Callable[[], Registry] | None = None,
        with_relay: bool = True,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock or SystemClock()
        self.stopping = threading.Event()
        self.wake_relay = threading.Event()
        self.terminals = TerminalRegistry(config.terminals_path, store)
        self.ingest = Ingest(config, store, self.terminals, self.clock, self.wake_relay.set)
        self.relay = Relay(config, store, registry_factory, self.clock)
        self._relay_thread = threading.Thread(
            target=self.relay.run,
            args=(self.stopping, self.wake_relay),
            name="relay",
            daemon=True,
        )

        self.with_relay = with_relay
        self.lease = Lease(store, config.broker.client_id, self.clock)
        self._upkeep_thread = threading.Thread(target=self._upkeep, name="upkeep", daemon=True)
        self._purging = threading.Thread(target=self._purge, name="purge", daemon=True)
        self._alerts_thread: threading.Thread | None = None

    def start(self) -> None:
        """Take this identity's lease (``LeaseHeld`` when another controller runs with our
        broker client id), then start; a failed start gives the lease back."""
        self.lease.acquire()
        try:
            self.ingest.start()
        except BaseException:
            self.lease.release()
            raise
        self._upkeep_thread.start()
        if self.with_relay:
            self._relay_thread.start()
        self._alerts_thread = alerts.start_thread(self.config, self.store, self.stopping)

    @property
    def healthy(self) -> bool:
        return (
            self.ingest.alive
            and self._upkeep_thread.is_alive()
            and (self._relay_thread.is_alive() or not self.with_relay)
        )

    def stop(self) -> None:
        self.stopping.set()
        self.wake_relay.set()
        self.ingest.stop()
        if self._relay_thread.is_alive():
            self._relay_thread.join(timeout=30)
        if self._alerts_thread is not None:
            self._alerts_thread.join(timeout=30)
        self.relay.close()
        if self._upkeep_thread.is_alive():
            self._upkeep_thread.join(timeout=30)
        if self._purging.is_alive():
            self._purging.join(timeout=30)
        self.lease.release()

    def _upkeep(self) -> None:
        """Renew the lease every ``lease.RENEW_S``, and purge what the retention period no
        longer covers once a day. A lost lease ends this thread, which makes the controller
        unhealthy: ``run`` exits and the other holder carries on."""
        next_purge = time.monotonic()
        while not self.stopping.wait(lease_module.RENEW_S):
            try:
                self.lease.renew()
            except LeaseLost as exc:
                log.error("%s: stopping", exc)
                return
            except StoreError as exc:  # the database is away: ingest waits for it too
                log.warning("lease renewal failed (%s); trying again", exc)
                continue
            except Exception:
                log.exception("lease renewal failed; trying again")
                continue
            if time.monotonic() >= next_purge and not self._purging.is_alive():
                # in a thread of its own: a long first purge must not hold up the renewals
                self._purging = threading.Thread(target=self._purge, name="purge", daemon=True)
                self._purging.start()
                next_purge = time.monotonic() + retention.PURGE_EVERY_S

    def _purge(self) -> None:
        """The daily retention purge (a failure waits for the next day's, or a restart)."""
        try:
            retention.purge(self.store, self.config.retention.days)
        except StoreError as exc:
            log.warning("retention purge failed (%s); next try tomorrow", exc)
        except Exception:
            log.exception("retention purge failed; next try tomorrow")


def run(config: ControllerConfig, store: Store, notifier: Notifier | None = None) -> int:
    """Run until SIGTERM/SIGINT; tells systemd when ready and pings its watchdog."""
    notifier = notifier or Notifier()
    controller = Controller(config, store)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    controller.start()
    console = _start_console(config, store)
    services = start_services(config, store)
    watchdog = notifier.watchdog_interval_s()
    tick = min(SUPERVISE_INTERVAL_S, watchdog) if watchdog else SUPERVISE_INTERVAL_S
    ready = False
    started = time.monotonic()
    next_ping = 0.0
    try:
        while not stop.wait(tick if ready else READY_POLL_S):
            if not ready and (
                controller.ingest.subscribed.is_set()
                or time.monotonic() - started > READY_TIMEOUT_S
            ):
                ready = True
                settle_after_start()
                notifier.ready(f"site {config.site.workplace_id}")
                log.info("controller ready for site %s", config.site.workplace_id)
            if not controller.healthy:
                log.error("a controller thread died: exiting so that systemd restarts us")
                return 1
            if watchdog and time.monotonic() >= next_ping:
                notifier.watchdog()
                next_ping = time.monotonic() + watchdog
    finally:
        notifier.stopping()
        for service in reversed(services):
            service.stop()
        if console is not None:
            console.stop()
        controller.stop()
        store.close()
    return 0


def _start_console(config: ControllerConfig, store: Store) -> Any:
    """The web console in this process when ``[web]`` is configured. A console that cannot
    start is logged and left out: the gates and NSSO registrations matter more."""
    if config.web is None:
        return None
    from controller.errors import ControllerError
    from controller.web.server import ConsoleServer

    try:
        return ConsoleServer(config, store).start()
    except ControllerError as exc:
        log.error("web console not started: %s [%s]", exc, exc.code)
        return None


SERVICES_GROUP = "sitegate.controller_services"


class Service(Protocol):
    def stop(self) -> None: ...


def start_services(config: ControllerConfig, store: Store) -> list[Service]:
    """The services other packages register under the entry-point group ``SERVICES_GROUP``
    (the terminals' enrolment, from provisioning, which may import us but not we it): each
    is ``start(config, store) -> Service | None`` (None: not configured). One that cannot
    start is logged and left out, like the console."""
    from importlib.metadata import entry_points

    started: list[Service] = []
    for entry in entry_points(group=SERVICES_GROUP):
        try:
            service = entry.load()(config, store)
        except Exception:
            log.exception("service %s not started", entry.name)
            continue
        if service is not None:
            started.append(service)
    return started
