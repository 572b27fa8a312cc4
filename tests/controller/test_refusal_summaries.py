"""Refusal summaries from the terminals: stored once per key, acknowledged, listed (real
mosquitto, both databases)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from controller import heartbeats, refusals, schema
from controller.store import Store
from presence import topics
from presence.messages import (
    ClockPin,
    RefusalCount,
    RefusalSummary,
    TerminalStatus,
    encode_refusal_summary,
)
from tests.controller.support import WORKPLACE, FakeTerminal, count_rows

pytestmark = pytest.mark.integration

BOOT = "0b0a0a0a-0000-4000-8000-00000000000a"
AT = datetime(2026, 3, 2, 6, 12, tzinfo=UTC)  # 07:12 in Brussels


def count(minute: int, n: int, span: int = 1, reason: str = "unknown_person") -> RefusalCount:
    return RefusalCount(BOOT, minute, span, reason, AT, True, n)


def send(terminal: FakeTerminal, *counts: RefusalCount) -> uuid.UUID:
    summary = RefusalSummary(uuid.uuid4(), counts)
    topic = topics.status_topic(WORKPLACE, terminal.terminal)
    terminal.client.publish(topic, encode_refusal_summary(summary), qos=1).wait_for_publish(5)
    return summary.id


def rows(store: Store) -> list[tuple[int, int, str, int]]:
    r = schema.refusal_counts.c
    with store.transaction() as conn:
        found = conn.execute(select(r.minute, r.span, r.reason, r.count).order_by(r.id)).all()
    return [tuple(row) for row in found]  # type: ignore[misc]


def test_a_summary_is_stored_and_acknowledged_like_a_check_in(running, terminal) -> None:
    _controller, store = running
    sent = send(terminal, count(120, 3), count(120, 1, reason="read_error"))
    ack = terminal.ack()
    assert (ack.event_id, ack.status) == (sent, "stored")
    assert rows(store) == [(120, 1, "unknown_person", 3), (120, 1, "read_error", 1)]


def test_a_summary_sent_twice_is_counted_once(running, terminal) -> None:
    _controller, store = running
    send(terminal, count(120, 3))
    terminal.ack()
    send(terminal, count(120, 3))  # its ack was lost: the terminal sends it again
    assert terminal.ack().status == "stored"
    assert rows(store) == [(120, 1, "unknown_person", 3)]


def test_hour_counts_add_to_the_minutes_already_stored(running, terminal) -> None:
    _controller, store = running
    send(terminal, count(121, 2))
    terminal.ack()
    send(terminal, count(120, 40, span=60))  # minutes never sent, merged on the terminal
    terminal.ack()
    assert count_rows(store, schema.refusal_counts) == 2
    listed = refusals.listing(store, date(2026, 3, 2))
    assert sum(int(str(row["count"])) for row in listed) == 42
    assert {(row["minute"], row["terminal"], row["clock"]) for row in listed} == {
        ("07:12 CET", "gate-1", "terminal"),
        ("07:12 CET +1h", "gate-1", "terminal"),
    }


def test_a_boot_no_heartbeat_pinned_has_its_refusals_dated_by_its_ntp_pin(store: Store) -> None:
    """A Pi rebooted with its clock in yesterday, refused people, got its clock set by NTP
    and rebooted before any heartbeat of that boot got through: its minutes are dated by
    the pin a later heartbeat carried, not by yesterday's clock."""
    wrong = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
    synced_at = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
    later_boot = "0b0b0b0b-0000-4000-8000-00000000000b"
    with store.transaction() as conn:
        conn.execute(schema.terminals.insert().values(
            terminal_id="gate-1", direction="in", cert_serial="01", revoked=False))  # fmt: skip
        status = TerminalStatus("online", synced_at, clock_synced=True, boot_id=later_boot,
                                mono_s=5.0, expiry_s=75,
                                clock_pins=(ClockPin(BOOT, 600.0, synced_at),))  # fmt: skip
        heartbeats.record(conn, "gate-1", status, heartbeats.Arrived(synced_at, retained=True))
        summary = RefusalSummary(uuid.uuid4(), (RefusalCount(BOOT, 2, 1, "read_error", wrong,
                                                             False, 4),))  # fmt: skip
        refusals.store_summary(conn, "gate-1", summary, synced_at)
    r = schema.refusal_counts.c
    with store.transaction() as conn:
        row = conn.execute(select(r.dated_at, r.dated_by)).one()
    assert (row.dated_at, row.dated_by) == (synced_at - timedelta(seconds=480), "ntp_pin")
