"""Failed logins, counted per account name and per client address over a sliding window.

Past the limit a login is refused with HTTP 429 before its password is even checked, so
guessing cannot go on. Counts live in memory: a restart forgets them, which only gives an
attacker a fresh window after something an attacker cannot cause; every failure and every
refusal is in the audit log anyway.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque

from presence.clock import Clock

WINDOW_S = 15 * 60.0
PER_ACCOUNT = 5  # a person mistyping; more is someone guessing this account's password
PER_ADDRESS = 20  # a site office behind one NAT address has several people


class LoginThrottle:
    def __init__(
        self,
        clock: Clock,
        per_account: int = PER_ACCOUNT,
        per_address: int = PER_ADDRESS,
        window_s: float = WINDOW_S,
    ) -> None:
        self.clock = clock
        self.limits = {"account": per_account, "address": per_address}
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures[key]
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def blocked(self, account: str, address: str) -> float:
        """Seconds until a login for this account from this address may be tried; 0 = now."""
        now = self.clock.monotonic()
        wait = 0.0
        with self._lock:
            for key in (("account", account.lower()), ("address", address)):
                times = self._recent(key, now)
                if len(times) >= self.limits[key[0]]:
                    wait = max(wait, self.window_s - (now - times[0]))
        return wait

    def failed(self, account: str, address: str) -> None:
        now = self.clock.monotonic()
        with self._lock:
            for key in (("account", account.lower()), ("address", address)):
                self._recent(key, now).append(now)

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._failures.pop(("account", account.lower()), None)
