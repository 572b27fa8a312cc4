"""The seeded fault schedule, and the threads that play it against the site.

``draw`` turns a seed into a list of ``Fault``s: starts about every ``mean_gap_s`` seconds
(exponential gaps) within the fault window, each lasting long enough that faults overlap and
combine; one target is never in two faults at once (a frozen process is not also killed).
The same seed draws the same schedule; the real processes' timing around it varies.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence

from sim.chaos.faults import CLOCK_OFFLINE_RECONNECT_S, Fault, Injector
from sim.chaos.history import History
from sim.chaos.threads import ThreadGroup

log = logging.getLogger(__name__)

# kind -> (weight, (shortest, longest) duration in seconds)
KINDS: dict[str, tuple[float, tuple[float, float]]] = {
    "kill": (4.0, (0.5, 5.0)),
    "kill_mid_relay": (1.0, (0.5, 3.0)),
    "freeze": (3.0, (1.0, 8.0)),
    "net": (4.0, (2.0, 12.0)),
    "nsso_503": (1.5, (2.0, 10.0)),
    "nsso_system_error": (1.0, (1.0, 3.0)),
    "nsso_drop": (1.5, (1.0, 3.0)),
    "nsso_malformed": (1.0, (1.0, 3.0)),
    "nsso_slow": (1.0, (2.0, 8.0)),
    "nsso_slow_valid": (0.5, (5.0, 15.0)),
    "clock": (1.0, (5.0, 25.0)),
    "clock_offline": (0.7, (6.0, 20.0)),
    "duplicate": (1.5, (0.0, 0.0)),
}
PROCESS_KINDS = ("kill", "freeze")
NSSO_ADMIN = "nsso-admin"  # the target of the stand-in's own fault plan
FIRST_FAULT_S = 3.0


def draw(
    seed: int,
    window_s: float,
    terminals: Sequence[str],
    paths: Sequence[str],
    kinds: Sequence[str] = tuple(KINDS),
    mean_gap_s: float = 4.0,
) -> list[Fault]:
    if not kinds:
        return []
    rng = random.Random(seed * 7919 + 13)
    busy: dict[str, float] = {}
    faults: list[Fault] = []
    at = FIRST_FAULT_S
    weights = [KINDS[k][0] for k in kinds]
    while True:
        at += rng.expovariate(1.0 / mean_gap_s)
        if at >= window_s:
            return faults
        for _ in range(10):  # free targets, or skip this start
            kind = rng.choices(list(kinds), weights)[0]
            low, high = KINDS[kind][1]
            duration = min(rng.uniform(low, high), max(window_s - at, low))
            target, params = _target(rng, kind, terminals, paths)
            held = _occupies(kind, target, at, duration)
            if all(busy.get(name, 0.0) <= at for name in held):
                busy.update(held)
                faults.append(Fault(round(at, 2), kind, target, round(duration, 2), params))
                break


def _occupies(kind: str, target: str, at: float, duration: float) -> dict[str, float]:
    """What a fault holds, and until when: its target, and what it touches besides."""
    held = {target: at + duration + 0.5}
    if kind == "kill_mid_relay":  # it slows NSSO down through the admin interface
        held[NSSO_ADMIN] = at + 10.0
    if kind == "clock_offline":  # the terminal's broker path is cut meanwhile
        held[f"{target}-broker"] = at + duration + CLOCK_OFFLINE_RECONNECT_S + 0.5
    return held


def _target(
    rng: random.Random, kind: str, terminals: Sequence[str], paths: Sequence[str]
) -> tuple[str, dict[str, object]]:
    if kind in PROCESS_KINDS:
        return rng.choice([*terminals, "controller", "broker", "nsso"]), {}
    if kind == "kill_mid_relay":
        return "controller", {}
    if kind == "net":
        mode = rng.choice(("latency", "loss", "partition"))
        params: dict[str, object]
        if mode == "latency":
            params = {"latency_s": round(rng.uniform(0.05, 1.0), 3)}
        elif mode == "loss":
            params = {"loss": round(rng.uniform(0.1, 0.5), 2)}
        else:
            params = {"partition": True}
        return rng.choice(list(paths)), params
    if kind == "nsso_503":
        return NSSO_ADMIN, {"share": round(rng.uniform(0.5, 1.0), 2)}
    if kind in ("nsso_system_error", "nsso_drop", "nsso_malformed"):
        return NSSO_ADMIN, {"calls": rng.randint(1, 3)}
    if kind == "nsso_slow":
        return NSSO_ADMIN, {"latency_s": round(rng.uniform(0.5, 2.5), 2)}
    if kind == "nsso_slow_valid":
        return "nsso", {}
    if kind == "clock":
        return rng.choice(list(terminals)), {"clock": rng.choice(("behind", "ahead", "midnight"))}
    if kind == "clock_offline":
        return rng.choice(list(terminals)), {"clock": rng.choice(("behind", "midnight"))}
    if kind == "duplicate":
        return "broker-duplicate", {"pick": round(rng.random(), 3), "times": rng.randint(1, 3)}
    raise ValueError(kind)


class Player(ThreadGroup):
    """Plays a schedule: one thread per fault (inject at its time, heal after it)."""

    def __init__(
        self,
        faults: list[Fault],
        injector: Injector,
        history: History,
        on_error: Callable[[Fault, Exception], None],
    ) -> None:
        self.faults = faults
        self.injector = injector
        self.history = history
        self.on_error = on_error
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._play, args=(f,), daemon=True, name=f"fault-{f.kind}")
            for f in faults
        ]

    def stop(self) -> None:
        self._stop.set()

    def _play(self, fault: Fault) -> None:
        if self._stop.wait(max(0.0, fault.at - self.history.now())):
            return
        try:
            began = round(self.history.now(), 2)
            done = self.injector.inject(fault)  # a restart takes a moment: "began" says when
            self.history.add("fault.start", **fault.describe(), began=began, **done)
            if fault.duration:
                self._stop.wait(fault.duration)
                self.injector.heal(fault)
                self.history.add("fault.end", fault=fault.kind, target=fault.target)
        except Exception as exc:
            log.warning("fault %s on %s failed: %s", fault.kind, fault.target, exc)
            self.history.add(
                "fault.error",
                fault=fault.kind,
                target=fault.target,
                error=f"{type(exc).__name__}: {exc}",
            )
            self.on_error(fault, exc)
