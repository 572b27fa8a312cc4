"""Fault injection: what the next calls should suffer, set by flags or ``POST /admin/faults``."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

COUNTERS = ("system_error_retry", "drop_after_processing", "malformed")


class FaultSpecError(ValueError):
    """The admin request asked for an unknown or out-of-range fault."""

    code = "fault_spec"


@dataclass
class FaultPlan:
    latency_s: float = 0.0  # added before every SOAP answer
    http_503_share: float = 0.0  # share of SOAP calls answered 503, not processed
    system_error_retry: int = 0  # next N calls: SystemError with Retry=true, not processed
    drop_after_processing: int = 0  # next N calls: processed, then the connection is closed
    malformed: int = 0  # next N calls: processed, then answered with broken XML


class Faults:
    """Thread-safe fault plan; counters count down as calls consume them."""

    def __init__(self, plan: FaultPlan | None = None, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._plan = plan or FaultPlan()
        self._random = random.Random(seed)

    def update(self, spec: dict[str, Any]) -> FaultPlan:
        names = {f.name for f in fields(FaultPlan)}
        with self._lock:
            values = asdict(self._plan)
            for key, value in spec.items():
                if key not in names:
                    raise FaultSpecError(f"unknown fault {key!r}; known: {sorted(names)}")
                values[key] = _checked(key, value)
            self._plan = FaultPlan(**values)
            return FaultPlan(**values)

    def reset(self) -> None:
        with self._lock:
            self._plan = FaultPlan()

    def plan(self) -> FaultPlan:
        with self._lock:
            return FaultPlan(**asdict(self._plan))

    def take(self, counter: str) -> bool:
        """True (and one fewer left) when the next call should suffer ``counter``."""
        with self._lock:
            left = getattr(self._plan, counter)
            if left <= 0:
                return False
            setattr(self._plan, counter, left - 1)
            return True

    def answer_503(self) -> bool:
        with self._lock:
            share = self._plan.http_503_share
            return share > 0 and self._random.random() < share

    def latency(self) -> float:
        with self._lock:
            return self._plan.latency_s


def _checked(key: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultSpecError(f"{key} must be a number")
    if key in COUNTERS:
        if not isinstance(value, int) or value < 0:
            raise FaultSpecError(f"{key} must be a whole number >= 0")
        return value
    if key == "http_503_share" and not 0.0 <= value <= 1.0:
        raise FaultSpecError("http_503_share must be between 0 and 1")
    if key == "latency_s" and not 0.0 <= value <= 60.0:
        raise FaultSpecError("latency_s must be between 0 and 60")
    return float(value)
