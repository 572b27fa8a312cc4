"""From check-in to presence, on the real store (no broker): dating and derivation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import checkins, schema
from controller.roster import import_file
from controller.store import Store
from presence.events import encode
from tests.controller.support import COMPANY, checkin, inss, limosa

MORNING = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)  # 07:30 in Brussels


def _record(store: Store, event, received_at=MORNING):
    with store.transaction() as conn:
        return checkins.record(store, conn, event, encode(event), received_at, 300.0)


def _presences(store: Store):
    with store.transaction() as conn:
        return conn.execute(select(schema.presences).order_by(schema.presences.c.id)).all()


def _event(store: Store, event_id):
    with store.transaction() as conn:
        return conn.execute(
            select(schema.events).where(schema.events.c.event_id == str(event_id))
        ).one()


def test_a_synced_clock_dates_the_presence(store: Store) -> None:
    event = checkin(limosa(1), at=MORNING - timedelta(seconds=20))
    assert _record(store, event).presence_state == "pending"
    row = _event(store, event.event_id)
    assert row.dated_at == event.scanned_at and row.clock_correction_s is None


def test_an_unsynced_clock_is_replaced_by_the_receive_time_and_recorded(store: Store) -> None:
    event = checkin(limosa(1), at=datetime(2024, 1, 1, tzinfo=UTC), clock_synced=False)
    _record(store, event)
    row = _event(store, event.event_id)
    assert row.dated_at == MORNING
    assert row.clock_correction_s == (MORNING - event.scanned_at).total_seconds()
    assert _presences(store)[0].date == date(2026, 3, 2)


def test_an_unsynced_clock_buffered_across_midnight_keeps_its_day_by_the_heartbeat_offset(
    store: Store,
) -> None:
    """A Pi two years behind scans at 23:50 in Brussels; the broker is down until 00:20."""
    behind = timedelta(days=730)
    real_scan = datetime(2026, 3, 1, 22, 50, tzinfo=UTC)  # 23:50 in Brussels
    with store.transaction() as conn:
        conn.execute(schema.terminals.insert().values(
            terminal_id="gate-1", direction="in", cert_serial="01", revoked=False,
            clock_offset_s=-behind.total_seconds()))  # fmt: skip
    event = checkin(limosa(1), at=real_scan - behind, clock_synced=False)
    _record(store, event, received_at=real_scan + timedelta(minutes=30))
    row = _event(store, event.event_id)
    assert row.dated_at == real_scan
    assert row.clock_correction_s == behind.total_seconds()
    assert _presences(store)[0].date == date(2026, 3, 1)


def test_an_offset_that_would_date_into_the_future_falls_back_to_the_receive_time() -> None:
    event = checkin(limosa(1), at=MORNING + timedelta(hours=2), clock_synced=False)
    dating = checkins.date_checkin(event, MORNING, 300.0, terminal_offset_s=-3600.0)
    assert dating.at == MORNING


def test_a_clock_more_than_five_minutes_ahead_is_replaced(store: Store) -> None:
    event = checkin(limosa(1), at=MORNING + timedelta(minutes=6))
    _record(store, event)
    row = _event(store, event.event_id)
    assert row.dated_at == MORNING and row.clock_correction_s == -360.0


def test_a_late_delivery_from_a_synced_clock_keeps_its_scan_day(store: Store) -> None:
    yesterday_evening = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)
    event = checkin(limosa(1), at=yesterday_evening)
    _record(store, event)
    assert _presences(store)[0].date == date(2026, 3, 1)


def test_brussels_midnight_not_utc_midnight_splits_days(store: Store) -> None:
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 March in Brussels
    _record(store, checkin(limosa(1), at=late), received_at=late)
    assert _presences(store)[0].date == date(2026, 3, 2)


def test_one_presence_per_person_and_day_and_a_new_one_the_next_day(store: Store) -> None:
    _record(store, checkin(limosa(1), at=MORNING))
    _record(
        store, checkin(limosa(1), at=MORNING + timedelta(hours=3)), MORNING + timedelta(hours=3)
    )
    tomorrow = MORNING + timedelta(days=1)
    _record(store, checkin(limosa(1), at=tomorrow), tomorrow)
    assert [p.date for p in _presences(store)] == [date(2026, 3, 2), date(2026, 3, 3)]


def test_exits_and_refusals_are_kept_but_make_no_presence(store: Store) -> None:
    assert _record(store, checkin(limosa(1), direction="out")).presence_state is None
    assert _record(store, checkin(limosa(2), decision="refused")).presence_state is None
    assert _presences(store) == []


def test_an_inss_needs_the_employer_from_the_roster(store: Store, tmp_path: Path) -> None:
    assert _record(store, checkin(inss(1))).presence_state == "needs_employer"
    roster = tmp_path / "roster.csv"
    roster.write_text(f"person,employer\n{inss(2)},{COMPANY}\n")
    import_file(store, roster)
    assert _record(store, checkin(inss(2))).presence_state == "pending"
    assert _presences(store)[1].company_id == COMPANY


def test_a_duplicate_event_reports_the_presence_state(store: Store) -> None:
    event = checkin(limosa(1))
    _record(store, event)
    again = _record(store, event)
    assert (again.status, again.presence_state) == ("duplicate", "pending")


@pytest.mark.parametrize("offset_s", [0, 299, -3600])
def test_dating_keeps_a_trusted_scan_time(offset_s: int) -> None:
    event = checkin(limosa(1), at=MORNING + timedelta(seconds=offset_s))
    assert checkins.date_checkin(event, MORNING, 300).at == event.scanned_at


# --- dating by the terminal's clocks (issue 13) --------------------------------------------

BOOT_A = "0b0a0a0a-0000-4000-8000-00000000000a"
BOOT_B = "0b0b0b0b-0000-4000-8000-00000000000b"
NEAR_MIDNIGHT = datetime(2026, 3, 2, 23, 5, 30, tzinfo=UTC)  # 00:05:30 on 3 March in Brussels


def _terminal(store: Store, offset_s: float | None = None, **boots: tuple[float, datetime]):
    with store.transaction() as conn:
        conn.execute(schema.terminals.insert().values(
            terminal_id="gate-1", direction="in", cert_serial="01", revoked=False,
            clock_offset_s=offset_s))  # fmt: skip
        for boot, (mono, seen_at) in boots.items():
            conn.execute(schema.terminal_clocks.insert().values(
                terminal_id="gate-1", boot_id=boot, mono_s=mono, seen_at=seen_at))  # fmt: skip


def test_a_synced_clock_behind_by_more_than_the_skew_is_corrected_by_the_heartbeat_offset(
    store: Store,
) -> None:
    """It says NTP-synchronised, but its heartbeats show it ten minutes behind: a check-in
    at 00:05:30 must not be dated 23:55:30 the day before."""
    _terminal(store, offset_s=-600.0)
    event = checkin(limosa(1), at=NEAR_MIDNIGHT - timedelta(minutes=10), clock_synced=True)
    _record(store, event, received_at=NEAR_MIDNIGHT + timedelta(seconds=1))
    assert _event(store, event.event_id).dated_at == NEAR_MIDNIGHT
    assert _presences(store)[0].date == date(2026, 3, 3)


def test_a_synced_clock_behind_by_more_than_the_skew_is_corrected_by_its_boots_clock(
    store: Store,
) -> None:
    pinned_at = NEAR_MIDNIGHT - timedelta(minutes=20)
    _terminal(store, **{BOOT_A: (5000.0, pinned_at)})
    event = replace(
        checkin(limosa(1), at=NEAR_MIDNIGHT - timedelta(minutes=10), clock_synced=True),
        boot_id=BOOT_A, mono_s=5000.0 + 20 * 60,
    )  # fmt: skip
    _record(store, event, received_at=NEAR_MIDNIGHT + timedelta(seconds=1))
    assert _event(store, event.event_id).dated_at == NEAR_MIDNIGHT
    assert _presences(store)[0].date == date(2026, 3, 3)


def test_a_synced_clock_that_agrees_within_the_skew_keeps_its_scan_time() -> None:
    pinned_at = MORNING - timedelta(hours=1)
    clock = checkins.TerminalClock(None, {BOOT_A: checkins.ClockRef(100.0, pinned_at)})
    event = replace(checkin(limosa(1), at=MORNING + timedelta(seconds=2)),
                    boot_id=BOOT_A, mono_s=100.0 + 3600)  # fmt: skip
    dating = checkins.date_checkin(event, MORNING + timedelta(seconds=3), 300.0, clock)
    assert (dating.at, dating.correction_s) == (event.scanned_at, None)


def test_an_unsynced_event_is_dated_by_its_own_boots_clock_not_by_the_wall_offset() -> None:
    """The wall offset was measured before a reboot: it says nothing about this boot."""
    clock = checkins.TerminalClock(-3 * 86400.0, {BOOT_B: checkins.ClockRef(20.0, MORNING)})
    event = replace(checkin(limosa(1), at=datetime(2025, 1, 1, tzinfo=UTC), clock_synced=False),
                    boot_id=BOOT_B, mono_s=80.0)  # fmt: skip
    dating = checkins.date_checkin(event, MORNING + timedelta(minutes=5), 300.0, clock)
    assert dating.at == MORNING + timedelta(seconds=60) and not dating.undatable


def test_an_unsynced_event_of_a_boot_no_heartbeat_pinned_is_undatable() -> None:
    clock = checkins.TerminalClock(-3600.0, {BOOT_A: checkins.ClockRef(5000.0, MORNING)})
    event = replace(checkin(limosa(1), at=MORNING - timedelta(hours=1), clock_synced=False),
                    boot_id=BOOT_B, mono_s=60.0)  # fmt: skip
    dating = checkins.date_checkin(event, MORNING, 300.0, clock)
    assert dating.undatable and dating.at == MORNING


def test_an_estimate_in_our_future_dates_nothing() -> None:
    clock = checkins.TerminalClock(None, {BOOT_A: checkins.ClockRef(100.0, MORNING)})
    event = replace(checkin(limosa(1), clock_synced=False), boot_id=BOOT_A, mono_s=100.0 + 3600)
    assert checkins.date_checkin(event, MORNING, 300.0, clock).undatable


def test_events_of_an_earlier_boot_are_dated_by_that_boots_heartbeat(store: Store) -> None:
    """Buffered before a reboot, sent after it: the old boot's pin still dates them."""
    evening = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)  # 23:00 in Brussels
    after_midnight = evening + timedelta(hours=1, minutes=15)
    _terminal(store, **{BOOT_A: (5000.0, evening), BOOT_B: (20.0, after_midnight)})
    old = replace(
        checkin(limosa(1), at=datetime(2024, 5, 5, tzinfo=UTC), clock_synced=False),
        boot_id=BOOT_A,
        mono_s=5000.0 + 50 * 60,
    )  # 23:50
    new = replace(checkin(limosa(1), at=datetime(2024, 5, 4, tzinfo=UTC), clock_synced=False),
                  boot_id=BOOT_B, mono_s=80.0)  # 00:16  # fmt: skip
    received = after_midnight + timedelta(minutes=5)
    with store.transaction() as conn:
        arrivals = [checkins.Arrival(e, encode(e), received) for e in (old, new)]
        assert checkins.undatable(conn, arrivals, 300.0) == {}
        checkins.record_many(store, conn, arrivals, 300.0)
    assert [p.date for p in _presences(store)] == [date(2026, 3, 2), date(2026, 3, 3)]


def test_undatable_arrivals_are_named_by_their_index(store: Store) -> None:
    _terminal(store, **{BOOT_A: (5000.0, MORNING)})
    lost = replace(checkin(limosa(1), clock_synced=False), boot_id=BOOT_B, mono_s=9.0)
    fine = replace(checkin(limosa(2), clock_synced=False), boot_id=BOOT_A, mono_s=5001.0)
    old_style = checkin(limosa(3), clock_synced=False)  # no boot: dated by arrival, as before
    with store.transaction() as conn:
        arrivals = [checkins.Arrival(e, encode(e), MORNING) for e in (fine, lost, old_style)]
        assert list(checkins.undatable(conn, arrivals, 300.0)) == [1]
