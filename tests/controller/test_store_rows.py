"""``Store.insert_rows``: the hot path's driver-level insert stores exactly what SQLAlchemy's
Core insert stores, on SQLite and PostgreSQL, and ignores conflicts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from controller import checkins, schema
from controller.errors import StoreError
from controller.store import Store

COLUMNS = (
    "client_ref", "person_kind", "person_id", "workplace_id", "date", "company_id", "state",
    "source", "created_at", "updated_at", "attempts",
)  # fmt: skip
CET = timezone(timedelta(hours=1))


def _values(ref: str, person: str, at: datetime, day: date) -> dict[str, object]:
    return {
        "client_ref": ref, "person_kind": "limosa", "person_id": person,
        "workplace_id": "1Y102M7NZF7PZ", "date": day, "company_id": None, "state": "pending",
        "source": "checkin", "created_at": at, "updated_at": at, "attempts": 0,
    }  # fmt: skip


def _raw(store: Store, ref: str) -> tuple[object, ...]:
    with store.transaction() as conn:
        row = conn.exec_driver_sql(
            "SELECT date, created_at FROM presences WHERE client_ref = "
            + ("?" if not store.is_postgresql else "%s"),
            (ref,),
        ).one()
    return tuple(row)


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 2, 7, 1, 2, 345678, tzinfo=CET),
        datetime(2026, 3, 2, 6, 0, 0, tzinfo=UTC),  # no microseconds: still six digits
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_rows_are_stored_as_core_stores_them(store: Store, at: datetime) -> None:
    day = date(2026, 3, 2)
    with store.transaction() as conn:
        conn.execute(schema.presences.insert(), _values("core", "24900000000000001", at, day))
        fast = _values("fast", "24900000000000002", at, day)
        fast["date"] = store.db_date(day)
        fast["created_at"] = fast["updated_at"] = store.db_datetime(at)
        store.insert_rows(conn, schema.presences, COLUMNS, [tuple(fast[c] for c in COLUMNS)])
    assert _raw(store, "fast") == _raw(store, "core")
    with store.transaction() as conn:
        row = conn.execute(
            select(schema.presences.c.date, schema.presences.c.created_at).where(
                schema.presences.c.client_ref == "fast"
            )
        ).one()
    assert row == (day, at)
    assert row.created_at.tzinfo is not None


def test_conflicting_rows_are_ignored(store: Store) -> None:
    at = store.db_datetime(datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    day = store.db_date(date(2026, 3, 2))

    def row(ref: str, person: str) -> tuple[object, ...]:
        values = _values(ref, person, datetime.now(UTC), date.today())
        values.update(date=day, created_at=at, updated_at=at)
        return tuple(values[c] for c in COLUMNS)

    with store.transaction() as conn:
        store.insert_rows(conn, schema.presences, COLUMNS, [row("a", "24900000000000001")])
    with store.transaction() as conn:  # same client_ref, then same person and day
        store.insert_rows(
            conn,
            schema.presences,
            COLUMNS,
            [row("a", "24900000000000009"), row("b", "24900000000000001"), row("c", "2490")],
        )
    with store.transaction() as conn:
        refs = conn.execute(select(schema.presences.c.client_ref)).scalars().all()
    assert sorted(refs) == ["a", "c"]


def test_naive_datetimes_and_unknown_columns_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.db_datetime(datetime(2026, 3, 2, 6, 0))
    with store.transaction() as conn, pytest.raises(StoreError) as caught:
        store.insert_rows(conn, schema.presences, ("client_ref", "nope"), [("x", 1)])
    assert caught.value.code == "schema"


def test_client_refs_of_a_group_are_distinct_and_well_formed() -> None:
    refs = checkins.new_client_refs(300)
    assert len(refs) == len(set(refs)) == 300
    assert all(len(r) == 24 and int(r, 16) >= 0 for r in refs)
    assert checkins.new_client_refs(0) == []
