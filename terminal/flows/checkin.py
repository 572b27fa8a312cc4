"""The check-in flow of one turnstile: a declared state machine fed by driver events.

::

    provisioning --site_config--> idle
    idle | provisioning | refused --credential--> identifying
    identifying --identified--> deciding --admit--> admitted --gate_opened--> waiting_passage
    identifying --unreadable--> refused          deciding --refuse--> refused
    waiting_passage --passage_done (Passed, NotPassed, timeout)--> idle | provisioning
    waiting_passage --hold (a credential while someone passes: the wait pattern)--> itself
    refused --feedback_done (timeout)--> idle | provisioning
    idle | provisioning | refused | waiting_passage --fail--> fault --recover--> idle | ...
    any state but idle, provisioning and fault --abort (an error while handling)--> idle | ...

``provisioning`` means no site config (allowlist) has ever reached this terminal: credentials
are still decided, under the ``unknown_person`` policy. ``fault`` is entered while the
terminal is tampered with, while every configured credential input is down, or while the
outbox cannot take an admission; the gate is locked there.

The decision is ``terminal.flows.rules``; the event is committed to the outbox before the
``admit`` transition; the gate (relay, lights, buzzer) moves only in ``GateListener``.
Timeouts are part of the model: ``tick()`` fires them from the monotonic clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from statemachine import State, StateMachine

from presence.clock import Clock, SystemClock, brussels_date
from presence.events import CheckIn, Credential, new_event_id
from presence.messages import SiteConfig, controller_reads_v2
from terminal.config import TerminalConfig
from terminal.drivers.events import (
    CameraFault,
    CardRemoved,
    DriverEvent,
    ExitRequested,
    Forced,
    NotPassed,
    Passed,
    ReaderFault,
    Tampered,
)
from terminal.flows import rules
from terminal.flows.rules import Context, Cooldown, Unreadable, Verdict
from terminal.outbox import Outbox, OutboxError, OutboxFull
from terminal.refusal_log import Refusal

log = logging.getLogger(__name__)

REFUSED_HOLD_S = 2.0  # how long a refusal pattern shows before idle
PASSAGE_GRACE_S = 2.0  # beyond the gate's passage window, in case no Passed/NotPassed comes


class GatePort(Protocol):
    def show(self, pattern: str) -> None: ...
    def admit(self) -> None: ...
    def lock(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SiteConfigReceived(DriverEvent):
    """Put on the flow's queue by the MQTT link when a new site config arrives."""

    config: SiteConfig


@dataclass(frozen=True, slots=True)
class Decided:
    """One decision, for observers (the demo's live line, tests, metrics)."""

    verdict: Verdict
    credential: Credential | None
    event: CheckIn | None  # None: not published (unreadable, cool-down, shed)
    at: float


class CheckinMachine(StateMachine):
    provisioning = State(initial=True)
    idle = State()
    identifying = State()
    deciding = State()
    admitted = State()
    refused = State()
    waiting_passage = State()
    fault = State()

    site_config = provisioning.to(idle)
    credential = idle.to(identifying) | provisioning.to(identifying) | refused.to(identifying)
    identified = identifying.to(deciding)
    unreadable = identifying.to(refused)
    admit = deciding.to(admitted)
    refuse = deciding.to(refused)
    gate_opened = admitted.to(waiting_passage)
    hold = waiting_passage.to.itself(internal=True)
    passage_done = waiting_passage.to(idle, cond="configured") | waiting_passage.to(provisioning)
    feedback_done = refused.to(idle, cond="configured") | refused.to(provisioning)
    fail = idle.to(fault) | provisioning.to(fault) | refused.to(fault) | waiting_passage.to(fault)
    recover = fault.to(idle, cond="configured") | fault.to(provisioning)
    abort = (
        identifying.to(idle, cond="configured") | identifying.to(provisioning)
        | deciding.to(idle, cond="configured") | deciding.to(provisioning)
        | admitted.to(idle, cond="configured") | admitted.to(provisioning)
        | waiting_passage.to(idle, cond="configured") | waiting_passage.to(provisioning)
        | refused.to(idle, cond="configured") | refused.to(provisioning)
    )  # fmt: skip

    def __init__(self, configured: Callable[[], bool], **kwargs: Any) -> None:
        self._configured = configured
        super().__init__(**kwargs)

    def configured(self) -> bool:
        return self._configured()

    def accepts(self, event: str) -> bool:
        """Whether ``event`` has a transition out of the current state (guards aside)."""
        return event in _EVENTS_BY_STATE[self.state]

    @property
    def state(self) -> str:
        return str(self.current_state_value)


_EVENTS_BY_STATE: dict[str, frozenset[str]] = {
    state.id: frozenset(event.id for event in state.transitions.unique_events)
    for state in CheckinMachine.states
}


class GateListener:
    """The side effects of the flow: relay, lights and buzzer follow the states."""

    def __init__(self, gate: GatePort) -> None:
        self._gate = gate

    def on_enter_provisioning(self) -> None:
        self._gate.show("provisioning")

    def on_enter_idle(self, source: Any = None) -> None:
        # After an answer the gate falls back to idle by itself, once the answer's pattern
        # has played in full (refusal codes blink after the red); only a fault or set-up
        # mode must be ended here.
        if source is None or source.id in ("fault", "provisioning"):
            self._gate.show("idle")

    def on_enter_admitted(self, pattern: str = "admitted") -> None:
        self._gate.admit()
        self._gate.show(pattern)

    def on_hold(self) -> None:
        # The gate stays open for the one passing; the next person is told to wait.
        self._gate.show("wait")

    def on_enter_refused(self, pattern: str = "refused") -> None:
        self._gate.show(pattern)

    def on_enter_fault(self, pattern: str = "fault") -> None:
        self._gate.lock()
        self._gate.show(pattern)


class CheckinFlow:
    """Turns driver events into decisions. Runs on one thread: ``handle`` and ``tick``."""

    def __init__(
        self,
        config: TerminalConfig,
        outbox: Outbox,
        gate: GatePort,
        *,
        clock: Clock | None = None,
        clock_synced: Callable[[], bool] = lambda: False,
        online: Callable[[], bool] = lambda: True,
        on_stored: Callable[[], None] = lambda: None,
        site: SiteConfig | None = None,
        credential_inputs: frozenset[str] = frozenset(),
    ) -> None:
        self.config = config
        self._outbox = outbox
        self._clock = clock or SystemClock()
        self._clock_synced = clock_synced
        self._online = online
        self._on_stored = on_stored
        self.site = site
        self.cooldown = Cooldown()
        self.observers: list[Callable[[Decided], None]] = []
        self.faults: dict[str, str] = {}  # cause -> pattern
        self.health: dict[str, str] = {name: "ok" for name in credential_inputs}
        self.counters: dict[str, int] = {}
        self._deadline: float | None = None
        self._passing: Credential | None = None
        self.machine = CheckinMachine(lambda: self.site is not None, listeners=[GateListener(gate)])
        if site is not None:
            self.machine.send("site_config")

    @property
    def state(self) -> str:
        return self.machine.state

    # --- input ---------------------------------------------------------------------------

    def handle(self, event: DriverEvent) -> Decided | None:
        """Process one event from the queue; returns the decision if one was made."""
        credential = rules.identify(event)
        if credential is not None:
            return self._credential(event, credential)
        if isinstance(event, Passed | NotPassed):
            self._passage(event)
        elif isinstance(event, SiteConfigReceived):
            self._site_config(event.config)
        elif isinstance(event, Tampered):
            self._set_fault("tampered", "tampered", event.active)
        elif isinstance(event, ReaderFault | CameraFault):
            self._input_health("reader" if isinstance(event, ReaderFault) else "camera", event.code)
        elif isinstance(event, Forced):
            self._count("forced")
            log.warning("passage without admission (forced or tailgating)")
        elif isinstance(event, ExitRequested | CardRemoved):
            log.debug("%s: nothing to decide", type(event).__name__)
        else:
            log.warning("unexpected event %s ignored", type(event).__name__)
        return None

    def tick(self) -> None:
        """Fire the timeouts of the current state and re-check fault causes."""
        if "outbox_full" in self.faults and not self._outbox.full:
            self._set_fault("outbox_full", "fault", False)
        if self._deadline is None or self._clock.monotonic() < self._deadline:
            return
        self._deadline = None
        if self.state == "refused":
            self.machine.send("feedback_done")
        elif self.state == "waiting_passage":
            log.info("no passage reported within the window")
            self._end_passage(used=False)

    def abort(self) -> None:
        """After an error while handling an event: back to rest, whatever was under way."""
        self._deadline = None
        self._passing = None
        if self.machine.accepts("abort"):
            self.machine.send("abort")

    # --- credentials ---------------------------------------------------------------------

    def _credential(self, event: DriverEvent, found: Credential | Unreadable) -> Decided | None:
        if self.machine.accepts("hold"):
            log.info("%s while someone passes: wait", type(event).__name__)
            self._count("wait")
            self.machine.send("hold")
            return None
        if not self.machine.accepts("credential"):
            log.info("%s ignored in state %s", type(event).__name__, self.state)
            self._count("ignored_" + self.state)
            return None
        self.machine.send("credential")
        if isinstance(found, Unreadable):
            verdict = Verdict("refused", found.reason, found.pattern, publish=False)
            self._log_refusal(verdict.reason, None)
            self.machine.send("unreadable", pattern=found.pattern)
            return self._done(verdict, None, None)
        self.machine.send("identified")
        verdict = rules.decide(found, self._context())
        stored, verdict = self._store(found, verdict)
        if verdict.admitted:
            pattern = verdict.pattern if self._online() else "admitted_offline"
            self.machine.send("admit", pattern=pattern)
            self.cooldown.record(found.person, self.config.terminal.direction, self._mono())
            self._passing = found
            self._deadline = self._mono() + self.config.gate.passage_window_s + PASSAGE_GRACE_S
            self.machine.send("gate_opened")
        else:
            self.machine.send("refuse", pattern=verdict.pattern)
        return self._done(verdict, found, stored)

    def _store(self, cred: Credential, verdict: Verdict) -> tuple[CheckIn | None, Verdict]:
        """Commit the decision before anything moves: an event in the outbox, or a refusal
        the outbox does not carry in the refusal log. An admission that cannot be stored
        becomes a refusal."""
        if not verdict.publish:
            if not verdict.admitted:
                self._log_refusal(verdict.reason, cred)
            return None, verdict
        try:
            stored = self._outbox.append(lambda seq: self._event(seq, cred, verdict))
        except OutboxError as exc:
            if verdict.admitted:
                log.error("admission refused, event cannot be stored: %s", exc)
                if isinstance(exc, OutboxFull):
                    self.faults["outbox_full"] = "fault"
            else:
                log.error("refused event not stored: %s", exc)
            self._log_refusal(rules.OUTBOX_FULL if verdict.admitted else verdict.reason, cred)
            return None, Verdict("refused", rules.OUTBOX_FULL, "fault", publish=False)
        if stored is not None:
            self._on_stored()
        return stored, verdict

    def _log_refusal(self, reason: str, cred: Credential | None) -> None:
        """Write a refusal the outbox does not carry; a storage failure is logged, and the
        person still gets their answer."""
        refusal = Refusal(
            at=self._clock.now(),
            clock_synced=self._clock_synced(),
            boot_id=self._clock.boot_id(),
            mono_s=self._mono(),
            reason=reason,
            direction=self.config.terminal.direction,
            credential=cred.kind if cred is not None else None,
            person=cred.person.masked() if cred is not None else None,
        )
        try:
            self._outbox.log_refusal(refusal)
        except OutboxError as exc:
            log.error("refusal (%s) not logged: %s", reason, exc)

    def _event(self, seq: int, cred: Credential, verdict: Verdict) -> CheckIn:
        terminal = self.config.terminal
        return CheckIn(
            event_id=new_event_id(),
            terminal_id=terminal.id,
            workplace_id=terminal.workplace_id,
            seq=seq,
            scanned_at=self._clock.now(),
            clock_synced=self._clock_synced(),
            credential=cred,
            direction=terminal.direction,
            decision=verdict.decision,
            reason=verdict.reason,
            # What the controller dates by when the wall clock above cannot be trusted; only
            # for a controller that reads it (an older one would refuse the event).
            **self._clock_fields(),
        )

    def _clock_fields(self) -> dict[str, Any]:
        if not controller_reads_v2(self.site):
            return {}
        return {"boot_id": self._clock.boot_id(), "mono_s": self._mono()}

    def _context(self) -> Context:
        now = self._clock.now()
        site, policy = self.site, self.config.policy
        return Context(
            today=brussels_date(now),
            now=now,
            now_mono=self._mono(),
            direction=self.config.terminal.direction,
            site=site,
            unknown_person=site.policy.unknown_person if site else policy.unknown_person,
            allowlist_max_age_s=policy.allowlist_max_age_s,
            cooldown_s=site.policy.cooldown_s if site else policy.cooldown_s,
            cooldown=self.cooldown,
        )

    def _done(self, verdict: Verdict, cred: Credential | None, event: CheckIn | None) -> Decided:
        if verdict.decision == "refused":
            self._deadline = self._mono() + REFUSED_HOLD_S
        self._count(f"{verdict.decision}_{verdict.reason}")
        person = cred.person.masked() if cred is not None else "-"
        log.info("%s %s (%s) event %s", verdict.decision, person, verdict.reason,
                 event.event_id if event else "-")  # fmt: skip
        decided = Decided(verdict, cred, event, self._mono())
        for observer in self.observers:
            try:
                observer(decided)
            except Exception:
                log.exception("decision observer failed")
        if self.faults and self.state != "fault":
            self._enter_fault()
        return decided

    # --- passage, config, faults ---------------------------------------------------------

    def _passage(self, event: Passed | NotPassed) -> None:
        if self.state != "waiting_passage":
            log.debug("%s outside a passage window", type(event).__name__)
            return
        self._end_passage(used=isinstance(event, Passed))

    def _end_passage(self, used: bool) -> None:
        if not used and self._passing is not None:
            self.cooldown.forget(self._passing.person, self.config.terminal.direction)
        self._passing = None
        self._deadline = None
        self.machine.send("passage_done")
        if self.faults:
            self._enter_fault()

    def _site_config(self, config: SiteConfig) -> None:
        # The retained config topic always holds the controller's current config: take what
        # arrives. Ordering by issued_at would let one config from a controller whose clock
        # ran ahead freeze the allowlist for good.
        self.site = config
        log.info("site config v%s: %d allowed, %d blocked", config.version,
                 len(config.allowlist), len(config.blocklist))  # fmt: skip
        if self.state == "provisioning":
            self.machine.send("site_config")

    def _input_health(self, name: str, code: str) -> None:
        self.health[name] = code
        down = [n for n, c in self.health.items() if c != "ok"]
        self._set_fault("inputs_down", "fault", bool(self.health) and len(down) == len(self.health))

    def _set_fault(self, cause: str, pattern: str, active: bool) -> None:
        if active:
            self.faults[cause] = pattern
            self._enter_fault()
            return
        self.faults.pop(cause, None)
        if not self.faults and self.state == "fault":
            self._deadline = None
            self.machine.send("recover")

    def _enter_fault(self) -> None:
        if self.state in ("identifying", "deciding", "admitted", "fault"):
            return
        self._deadline = None
        pattern = "tampered" if "tampered" in self.faults else "fault"
        log.warning("fault: %s", ", ".join(sorted(self.faults)))
        self.machine.send("fail", pattern=pattern)

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def _mono(self) -> float:
        return self._clock.monotonic()
