"""The controller's health, kept in the database so that another process can read it.

``sitegate-controller web`` may run apart from ``sitegate-controller run``: the console's
banner ("NSSO unreachable for more than 5 minutes", "broker unreachable") and the e-mail
alerts read what the running controller wrote. The relay records when NSSO last answered
and since when it has been failing; the ingest records when the broker connection was last
up and since when it is down, and by the same writes that the controller is alive.

Writers use a ``HealthRecorder``: it writes on every change and refreshes an unchanged
state at most every ``REFRESH_S``, and a database error while recording is logged, never
raised (health must not stop the work it describes). Readers call ``read``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from controller import views
from controller.errors import StoreError
from controller.store import Store
from presence.clock import Clock

log = logging.getLogger(__name__)

NSSO_OK_AT = "health.nsso_ok_at"
NSSO_FAILING_SINCE = "health.nsso_failing_since"
NSSO_ERROR = "health.nsso_error"
BROKER_UP_AT = "health.broker_up_at"
BROKER_DOWN_SINCE = "health.broker_down_since"
CONTROLLER_SEEN_AT = "health.controller_seen_at"
KEYS = (NSSO_OK_AT, NSSO_FAILING_SINCE, NSSO_ERROR, BROKER_UP_AT, BROKER_DOWN_SINCE,
        CONTROLLER_SEEN_AT)  # fmt: skip

REFRESH_S = 30.0  # an unchanged state is written again at most this often
CONTROLLER_STALE_S = 3 * REFRESH_S  # no sign of the controller for this long: not running
BANNER_AFTER = timedelta(minutes=5)  # the console's red banner (issue 14)


class HealthRecorder:
    """Writes one component's health (the relay's NSSO, or the ingest's broker)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._state: dict[str, bool] = {}
        self._written_at: dict[str, float] = {}

    def nsso(self, ok: bool, *, answered: bool = False, error: str | None = None) -> None:
        """After a relay pass: ``ok`` (no failure), ``answered`` (NSSO answered a call)."""
        if ok and not answered and self._state.get("nsso", True):
            return  # nothing was asked and nothing was failing: nothing to say
        self._record("nsso", ok, self._nsso_values(ok, error))

    def broker(self, up: bool) -> None:
        """After a connection attempt, or while connected (refreshes 'alive' too)."""
        self._record("broker", up, self._broker_values(up))

    def _record(self, what: str, ok: bool, values: dict[str, str | None]) -> None:
        now = self.clock.monotonic()
        if self._state.get(what) == ok and now - self._written_at.get(what, -1e9) < REFRESH_S:
            return
        changed = self._state.get(what) != ok
        try:
            with self.store.transaction() as conn:
                for key, value in values.items():
                    if value is None:
                        if changed:
                            self.store.set_meta(conn, key, "")
                    elif key.endswith("_since"):  # the first failure's time stays
                        if not self.store.get_meta(conn, key):
                            self.store.set_meta(conn, key, value)
                    else:
                        self.store.set_meta(conn, key, value)
        except StoreError as exc:
            log.warning("cannot record %s health: %s", what, exc)
            return
        self._state[what] = ok
        self._written_at[what] = now

    def _nsso_values(self, ok: bool, error: str | None) -> dict[str, str | None]:
        stamp = self.clock.now().isoformat()
        if ok:
            return {NSSO_OK_AT: stamp, NSSO_FAILING_SINCE: None, NSSO_ERROR: None}
        return {NSSO_FAILING_SINCE: stamp, NSSO_ERROR: (error or "")[:200]}

    def _broker_values(self, up: bool) -> dict[str, str | None]:
        stamp = self.clock.now().isoformat()
        if up:
            return {BROKER_UP_AT: stamp, BROKER_DOWN_SINCE: None, CONTROLLER_SEEN_AT: stamp}
        return {BROKER_DOWN_SINCE: stamp, CONTROLLER_SEEN_AT: stamp}


@dataclass(frozen=True, slots=True)
class Banner:
    """Something the console shows in red: ``code`` is stable (``nsso_unreachable``,
    ``broker_unreachable``, ``controller_not_running``, ``terminal_silent``,
    ``terminal_tampered``), ``since`` when it began (Brussels time, "" if unknown),
    ``subject`` a terminal id or ""."""

    code: str
    since: str
    subject: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Health:
    now: datetime
    nsso_ok_at: datetime | None
    nsso_failing_since: datetime | None
    nsso_error: str
    broker_up_at: datetime | None
    broker_down_since: datetime | None
    controller_seen_at: datetime | None
    silent_terminals: list[str] = field(default_factory=list)
    tampered_terminals: list[str] = field(default_factory=list)

    def nsso_down_for(self) -> timedelta | None:
        """How long NSSO has been failing (None: it is not)."""
        return self.now - self.nsso_failing_since if self.nsso_failing_since else None

    def broker_down_for(self) -> timedelta | None:
        return self.now - self.broker_down_since if self.broker_down_since else None

    @property
    def controller_running(self) -> bool:
        seen = self.controller_seen_at
        return seen is not None and (self.now - seen).total_seconds() <= CONTROLLER_STALE_S

    def banners(self, after: timedelta = BANNER_AFTER) -> list[Banner]:
        """What the Today page shows in red: NSSO or the broker unreachable for longer than
        ``after``, the controller not running, silent or tampered terminals."""
        found: list[Banner] = []
        if not self.controller_running:
            found.append(
                Banner("controller_not_running", views.local_time(self.controller_seen_at))
            )
        down = self.nsso_down_for()
        if down is not None and down > after:
            found.append(Banner("nsso_unreachable", views.local_time(self.nsso_failing_since),
                                detail=self.nsso_error))  # fmt: skip
        down = self.broker_down_for()
        if down is not None and down > after and self.controller_running:
            found.append(Banner("broker_unreachable", views.local_time(self.broker_down_since)))
        found += [Banner("terminal_silent", "", t) for t in self.silent_terminals]
        found += [Banner("terminal_tampered", "", t) for t in self.tampered_terminals]
        return found


def read(store: Store) -> Health:
    """The controller's health as the running controller last recorded it."""
    with store.transaction() as conn:
        values = {key: store.get_meta(conn, key) or "" for key in KEYS}
    terminals = views.terminal_health(store)
    return Health(
        now=store.clock.now(),
        nsso_ok_at=_moment(values[NSSO_OK_AT]),
        nsso_failing_since=_moment(values[NSSO_FAILING_SINCE]),
        nsso_error=values[NSSO_ERROR],
        broker_up_at=_moment(values[BROKER_UP_AT]),
        broker_down_since=_moment(values[BROKER_DOWN_SINCE]),
        controller_seen_at=_moment(values[CONTROLLER_SEEN_AT]),
        silent_terminals=[t["terminal"] for t in terminals if t["silent"]],
        tampered_terminals=[t["terminal"] for t in terminals if t["tampered"]],
    )


def _moment(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
