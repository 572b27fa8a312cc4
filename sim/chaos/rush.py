"""The rush played against the site's terminals: one thread per gate, each pass at its time.

A person whose turnstile does not answer (killed, frozen, restarting) tries again every
``RETRY_PAUSE_S`` for ``RETRY_FOR_S``; every try is in the history, with the decision.
"""

from __future__ import annotations

import logging
import threading
import time

from sim.chaos.faults import Injector
from sim.chaos.history import History
from sim.chaos.site import ChaosSite
from sim.chaos.threads import ThreadGroup
from sim.chaos.workload import Pass, Workload, control_request

log = logging.getLogger(__name__)

RETRY_FOR_S = 25.0  # a person whose turnstile does not answer tries again this long
RETRY_PAUSE_S = 1.5  # beyond the camera's repeat window: a code shown again counts again


class Rush(ThreadGroup):
    """One thread per gate plays that gate's passes in order, at their times."""

    def __init__(
        self,
        site: ChaosSite,
        workload: Workload,
        injector: Injector,
        history: History,
        end_s: float,
    ) -> None:
        self.site = site
        self.workload = workload
        self.injector = injector
        self.history = history
        self.end_s = end_s
        self.done = 0
        by_gate: dict[str, list[Pass]] = {}
        for item in workload.passes:
            by_gate.setdefault(item.gate, []).append(item)
        self._threads = [
            threading.Thread(target=self._lane, args=(lane,), daemon=True, name=f"lane-{gate}")
            for gate, lane in by_gate.items()
        ]

    def _lane(self, passes: list[Pass]) -> None:
        for item in passes:
            wait = item.at - self.history.now()
            if wait > 0:
                time.sleep(wait)
            try:
                self._pass(item)
            except Exception:
                log.exception("pass of person %s at %s failed", item.person, item.gate)
            self.done += 1

    def _pass(self, item: Pass) -> None:
        person = self.workload.people[item.person]
        body = control_request(person, item.how)
        first = self.history.now()
        while True:
            self.injector.in_flight[item.gate] = item.person
            self.history.add(
                "pass.start",
                gate=item.gate,
                person=item.person,
                how=item.how,
                role=person.role,
                note=item.note,
            )
            try:
                answer = self.site.control(item.gate, body)
            except (OSError, ValueError) as exc:
                answer = {"error": type(exc).__name__, "detail": str(exc)}
            finally:
                self.injector.in_flight.pop(item.gate, None)
            if "error" not in answer:
                self.history.add(
                    "pass.end",
                    gate=item.gate,
                    person=item.person,
                    decision=answer["decision"],
                    reason=answer["reason"],
                    seq=answer["seq"],
                    event_id=answer["event_id"],
                )
                if answer["decision"] == "admitted":
                    try:
                        self.site.control(item.gate, {"op": "walk"}, timeout=3.0)
                    except (OSError, ValueError) as exc:
                        self.history.add("walk.fail", gate=item.gate, error=str(exc))
                return
            self.history.add(
                "pass.fail",
                gate=item.gate,
                person=item.person,
                error=f"{answer['error']}: {answer.get('detail', '')}"[:160],
            )
            now = self.history.now()
            if now - first > RETRY_FOR_S or now > self.end_s + RETRY_FOR_S:
                self.history.add("pass.gave_up", gate=item.gate, person=item.person)
                return
            time.sleep(RETRY_PAUSE_S)
