"""A check-in flow on a real Gate (gpiozero MockFactory), a real outbox and a manual clock.

Driver events go on the same queue the drivers use; ``run()`` feeds them to the flow, as the
program's loop does.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPWMPin

from presence.clock import ManualClock
from presence.events import CheckIn, decode
from presence.ids import PersonId
from presence.messages import SiteConfig, SitePolicy, UnknownPersonPolicy, person_hash
from terminal import config as terminal_config
from terminal.drivers.events import DriverEvent
from terminal.drivers.gate import Gate, ManualScheduler
from terminal.flows.checkin import CheckinFlow, Decided
from terminal.outbox import Outbox
from tests.terminal.people import ALICE, POSTED, SALT
from tests.terminal.sample_config import sim_config, write


def site_config(
    clock: ManualClock,
    allowed: tuple[PersonId, ...] = (ALICE, POSTED),
    blocked: tuple[PersonId, ...] = (),
    *,
    age_s: float = 0.0,
    version: int = 1,
    policy: UnknownPersonPolicy = "refuse",
) -> SiteConfig:
    return SiteConfig(
        version=version,
        issued_at=clock.now() - timedelta(seconds=age_s),
        salt=SALT,
        policy=SitePolicy(policy, 60),
        allowlist=frozenset(person_hash(SALT, p) for p in allowed),
        blocklist=frozenset(person_hash(SALT, p) for p in blocked),
    )


class Rig:
    def __init__(self, flow: CheckinFlow, gate: Gate, outbox: Outbox, clock: ManualClock,
                 scheduler: ManualScheduler, factory: MockFactory,
                 events: queue.Queue[DriverEvent]) -> None:  # fmt: skip
        self.flow, self.gate, self.outbox = flow, gate, outbox
        self.clock, self.scheduler, self.factory, self.events = clock, scheduler, factory, events
        self.synced = True
        self.online = True
        self.decisions: list[Decided] = []
        flow.observers.append(self.decisions.append)

    def run(self, *events: DriverEvent) -> Decided | None:
        """Put events on the queue and let the flow take everything queued."""
        for event in events:
            self.events.put(event)
        decided = None
        while not self.events.empty():
            decided = self.flow.handle(self.events.get_nowait()) or decided
        self.flow.tick()
        return decided

    def advance(self, seconds: float) -> None:
        """Time passes: the gate's timers fire (their events are queued), then the flow's."""
        self.scheduler.advance(seconds)
        self.run()

    def stored(self) -> list[CheckIn]:
        return [decode(p.payload) for p in self.outbox.pending(limit=1000)]

    def pass_through(self) -> None:
        sensor = self.factory.pin(self.gate.config.passage_pin)
        sensor.drive_low()
        sensor.drive_high()
        self.run()


@contextmanager
def make_rig(
    tmp_path: Path,
    *,
    site: bool = True,
    direction: str = "in",
    unknown_person: str = "refuse",
    gate: str = "tamper_pin = 0",
    inputs: frozenset[str] = frozenset({"reader", "camera"}),
    capacity: int = 1000,
) -> Iterator[Rig]:
    text = sim_config(tmp_path / "state", direction=direction, unknown_person=unknown_person,
                      gate=gate)  # fmt: skip
    config = terminal_config.load(write(tmp_path, text))
    clock = ManualClock()
    scheduler = ManualScheduler(clock)
    factory = MockFactory(pin_class=MockPWMPin)
    events: queue.Queue[DriverEvent] = queue.Queue()
    holder: dict[str, Rig] = {}
    with (
        Gate(config.gate, events, pin_factory=factory, clock=clock, scheduler=scheduler) as g,
        Outbox(config.outbox_path, capacity, clock) as outbox,
    ):
        flow = CheckinFlow(
            config, outbox, g, clock=clock,
            clock_synced=lambda: holder["rig"].synced,
            online=lambda: holder["rig"].online,
            site=site_config(clock) if site else None,
            credential_inputs=inputs,
        )  # fmt: skip
        holder["rig"] = Rig(flow, g, outbox, clock, scheduler, factory, events)
        yield holder["rig"]
