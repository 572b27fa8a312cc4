"""Which heartbeats pin a terminal's clocks (real store, no broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from controller import heartbeats, schema
from controller.heartbeats import Arrived
from controller.store import Store
from presence.messages import TerminalStatus

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


def record(store: Store, status: TerminalStatus, arrived: Arrived) -> None:
    with store.transaction() as conn:
        heartbeats.record(conn, "gate-1", status, arrived)


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
