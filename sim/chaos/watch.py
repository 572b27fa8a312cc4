"""Watching the site while the campaign runs, and waiting for it to settle afterwards."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import create_engine, text

from sim.chaos import checker
from sim.chaos.history import History
from sim.chaos.site import ChaosSite

log = logging.getLogger(__name__)

MONITOR_S = 0.5


class Monitor:
    """Notices exits nobody caused and samples the outboxes (their high-water mark)."""

    def __init__(self, site: ChaosSite, history: History) -> None:
        self.site = site
        self.history = history
        self.high_water = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monitor", daemon=True)

    def start(self) -> Monitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(MONITOR_S):
            self.sample()

    def sample(self) -> None:
        for proc in self.site.procs.values():
            found = proc.check()
            if found is not None:
                self.history.add("crash", target=found.name, status=found.returncode)
                log.warning(
                    "%s exited by itself (status %s): restarting it", found.name, found.returncode
                )
                try:
                    proc.start()
                except RuntimeError as exc:
                    log.warning("%s", exc)
        for gate in self.site.gates:
            depth = checker.outbox_depth(self.site.outbox_path(gate.id))
            self.high_water = max(self.high_water, depth)


def settle(site: ChaosSite, timeout: float) -> tuple[bool, str]:
    """Wait until every outbox is empty and every presence and batch has landed."""
    engine = create_engine(site.db_url)
    deadline = time.monotonic() + timeout
    state = ""
    try:
        while time.monotonic() < deadline:
            depths = {g.id: checker.outbox_depth(site.outbox_path(g.id)) for g in site.gates}
            try:
                with engine.connect() as conn:
                    open_presences = conn.execute(
                        text(
                            "SELECT count(*) FROM presences WHERE state IN "
                            "('pending', 'sent', 'registered')"
                        )
                    ).scalar_one()
                    open_batches = conn.execute(
                        text(
                            "SELECT count(*) FROM registry_batches WHERE state IN "
                            "('sending', 'in_doubt')"
                        )
                    ).scalar_one()
            except Exception as exc:
                state = f"database: {exc}"
                time.sleep(0.5)
                continue
            state = (
                f"outboxes {sum(depths.values())}, open presences {open_presences}, "
                f"open batches {open_batches}"
            )
            if not any(depths.values()) and not open_presences and not open_batches:
                return True, state
            time.sleep(0.5)
    finally:
        engine.dispose()
    return False, state
