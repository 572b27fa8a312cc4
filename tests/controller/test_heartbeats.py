"""Which heartbeats pin a terminal's clocks (real store, no broker)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from controller import checkins, heartbeats, schema
from controller.heartbeats import Arrived
from controller.store import Store
from presence.messages import ClockPin, TerminalStatus
from tests.controller.support import checkin, limosa

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
BOOT = "0b0a0a0a-0000-4000-8000-00000000000a"
OTHER_BOOT = "0b0b0b0b-0000-4000-8000-00000000000b"
BEHIND = timedelta(hours=2)


@pytest.fixture
def terminal(store: Store) -> Store:
    with store.transaction() as conn:
        conn.execute(schema.terminals.insert().values(
            terminal_id="gate-1", direction="in", cert_serial="01", revoked=False))  # fmt: skip
    return store


def beat(at: datetime, boot: str | None = BOOT, mono: float = 1000.0) -> TerminalStatus:
    if boot is None:
        return TerminalStatus("online", at)
    return TerminalStatus("online", at, boot_id=boot, mono_s=mono, expiry_s=75)


def record(
    store: Store, status: TerminalStatus, arrived: Arrived, skew_max_s: float = 300.0
) -> None:
    with store.transaction() as conn:
        heartbeats.record(conn, "gate-1", status, arrived, skew_max_s)


def offset(store: Store) -> float | None:
    with store.transaction() as conn:
        return conn.execute(
            select(schema.terminals.c.clock_offset_s)
            .where(schema.terminals.c.terminal_id == "gate-1")
        ).scalar_one()  # fmt: skip


def pins(store: Store) -> dict[str, tuple[float, datetime]]:
    c = schema.terminal_clocks.c
    with store.transaction() as conn:
        rows = conn.execute(select(c.boot_id, c.mono_s, c.seen_at)).all()
    return {row.boot_id: (row.mono_s, row.seen_at) for row in rows}


@pytest.mark.parametrize(
    ("arrived", "why"),
    [
        (Arrived(NOW, retained=True), "retained"),
        (Arrived(NOW, backlog=True), "backlog"),
        (Arrived(NOW, expiry_left_s=70), "waited"),
        (Arrived(NOW, expiry_left_s=74), None),
        (Arrived(NOW, expiry_left_s=75), None),
        (Arrived(NOW), None),
    ],
)
def test_only_a_heartbeat_that_came_at_once_is_live(arrived: Arrived, why: str | None) -> None:
    assert heartbeats.not_live(beat(NOW - BEHIND), arrived) == why


def test_an_offline_status_pins_nothing() -> None:
    assert heartbeats.not_live(TerminalStatus("offline"), Arrived(NOW)) == "no_heartbeat"


def test_a_live_heartbeat_pins_its_boot_and_the_wall_offset(terminal: Store) -> None:
    record(terminal, beat(NOW - BEHIND), Arrived(NOW, expiry_left_s=75))
    assert pins(terminal) == {BOOT: (1000.0, NOW)}
    assert offset(terminal) == -BEHIND.total_seconds()


def test_a_heartbeat_that_waited_in_the_broker_pins_nothing(terminal: Store) -> None:
    record(terminal, beat(NOW - BEHIND), Arrived(NOW, expiry_left_s=65))
    assert pins(terminal) == {} and offset(terminal) is None


def test_an_older_heartbeat_of_the_same_boot_does_not_replace_a_newer_one(
    terminal: Store,
) -> None:
    record(terminal, beat(NOW - BEHIND, mono=1000.0), Arrived(NOW))
    later = NOW + timedelta(seconds=40)
    record(terminal, beat(NOW - BEHIND - timedelta(seconds=30), mono=970.0), Arrived(later))
    assert pins(terminal) == {BOOT: (1000.0, NOW)}
    record(terminal, beat(NOW - BEHIND + timedelta(seconds=30), mono=1030.0), Arrived(later))
    assert pins(terminal) == {BOOT: (1030.0, later)}


def test_a_new_boot_is_pinned_beside_the_old_one_whatever_its_wall_clock(
    terminal: Store,
) -> None:
    record(terminal, beat(NOW - BEHIND, mono=5000.0), Arrived(NOW))
    rebooted = NOW + timedelta(minutes=3)
    record(terminal, beat(NOW - timedelta(days=400), OTHER_BOOT, 15.0), Arrived(rebooted))
    assert pins(terminal) == {BOOT: (5000.0, NOW), OTHER_BOOT: (15.0, rebooted)}


def test_only_the_latest_boots_are_kept(terminal: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heartbeats, "BOOTS_KEPT", 2)
    boots = [f"0b0a0a0a-0000-4000-8000-00000000000{n}" for n in range(3)]
    for n, boot in enumerate(boots):
        record(terminal, beat(NOW, boot, 10.0), Arrived(NOW + timedelta(minutes=n)))
    assert set(pins(terminal)) == set(boots[1:])


def test_an_old_style_heartbeat_older_than_the_last_is_not_used_until_that_one_is_stale(
    terminal: Store,
) -> None:
    record(terminal, beat(NOW - BEHIND, boot=None), Arrived(NOW))
    stepped_back = NOW - BEHIND - timedelta(hours=1)  # its wall clock was set back an hour
    record(terminal, beat(stepped_back, boot=None), Arrived(NOW + timedelta(seconds=30)))
    assert offset(terminal) == -BEHIND.total_seconds()
    much_later = NOW + timedelta(seconds=heartbeats.STALE_REFERENCE_S + 60)
    record(terminal, beat(stepped_back + timedelta(seconds=150), boot=None), Arrived(much_later))
    assert offset(terminal) == pytest.approx(-(BEHIND + timedelta(hours=1)).total_seconds())


# --- clock pins: where NTP set the terminal's clock right in a boot ---------------------------


def pinned_by_ntp(store: Store) -> dict[str, tuple[float, datetime]]:
    c = schema.terminal_clock_pins.c
    with store.transaction() as conn:
        rows = conn.execute(select(c.boot_id, c.mono_s, c.synced_at)).all()
    return {row.boot_id: (row.mono_s, row.synced_at) for row in rows}


def carrying(*pins: ClockPin, at: datetime = NOW, synced: bool = True) -> TerminalStatus:
    """A heartbeat of a later boot that carries the pins of earlier ones."""
    return TerminalStatus("online", at, clock_synced=synced, boot_id=OTHER_BOOT, mono_s=20.0,
                          expiry_s=75, clock_pins=pins)  # fmt: skip


def test_a_heartbeat_keeps_the_clock_pins_it_carries(terminal: Store) -> None:
    pin = ClockPin(BOOT, 130.0, NOW - timedelta(minutes=5))
    record(terminal, carrying(pin), Arrived(NOW))
    assert pinned_by_ntp(terminal) == {BOOT: (130.0, NOW - timedelta(minutes=5))}


def test_a_pin_needs_no_live_heartbeat_it_is_the_terminals_own_pair_of_readings(
    terminal: Store,
) -> None:
    pin = ClockPin(BOOT, 130.0, NOW - timedelta(minutes=5))
    record(terminal, carrying(pin), Arrived(NOW + timedelta(minutes=10), retained=True))
    assert set(pinned_by_ntp(terminal)) == {BOOT}


def test_a_repeated_pin_of_a_known_boot_changes_nothing(terminal: Store) -> None:
    record(terminal, carrying(ClockPin(BOOT, 130.0, NOW)), Arrived(NOW))
    later = NOW + timedelta(seconds=30)
    record(terminal, carrying(ClockPin(BOOT, 900.0, later), at=later), Arrived(later))
    assert pinned_by_ntp(terminal) == {BOOT: (130.0, NOW)}


def test_a_pin_in_our_future_is_refused(terminal: Store) -> None:
    ahead = NOW + timedelta(seconds=301)
    record(terminal, carrying(ClockPin(BOOT, 130.0, ahead)), Arrived(NOW), skew_max_s=300)
    assert pinned_by_ntp(terminal) == {}


def test_a_synchronised_clock_far_from_ours_brings_no_pins(terminal: Store) -> None:
    """A terminal whose NTP is wrong (a rogue server) says "synchronised" and is an hour
    off: its pins would date check-ins by that wrong clock."""
    status = carrying(ClockPin(BOOT, 130.0, NOW - BEHIND), at=NOW - BEHIND)
    record(terminal, status, Arrived(NOW, expiry_left_s=75), skew_max_s=300)
    assert pinned_by_ntp(terminal) == {}


def test_a_pin_dates_the_check_ins_of_its_boot_by_monotonic_distance(terminal: Store) -> None:
    synced_at = NOW - timedelta(minutes=5)
    record(terminal, carrying(ClockPin(BOOT, 130.0, synced_at)), Arrived(NOW))
    wrong_clock = NOW - timedelta(days=1)
    event = replace(
        checkin(limosa(1), at=wrong_clock, clock_synced=False), boot_id=BOOT, mono_s=100.0
    )
    with terminal.transaction() as conn:
        clock = checkins._clock_offsets(conn, {"gate-1"})["gate-1"]
    dating = checkins.date_checkin(event, NOW, 300.0, clock)
    assert dating.at == synced_at - timedelta(seconds=30) and not dating.undatable


def test_a_live_heartbeat_of_the_boot_outranks_its_pin(terminal: Store) -> None:
    record(terminal, carrying(ClockPin(BOOT, 130.0, NOW - timedelta(minutes=5))), Arrived(NOW))
    record(terminal, beat(NOW, BOOT, 1000.0), Arrived(NOW))
    with terminal.transaction() as conn:
        clock = checkins._clock_offsets(conn, {"gate-1"})["gate-1"]
    assert clock.boots[BOOT].mono_s == 1000.0 and clock.boots[BOOT].seen_at == NOW
