"""The simple migration: columns the schema gained are added to an existing database."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, MetaData, Table, create_engine, inspect, select

from controller import schema
from controller.store import open_store


def _database_of_an_older_controller(db_url: str, missing: set[str]) -> None:
    """Every table as today, except the roster, which lacks the ``missing`` columns."""
    engine = create_engine(db_url)
    with engine.begin() as conn:
        for table in schema.metadata.sorted_tables:
            if table.name != "roster":
                table.create(conn)
        older = [
            Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in schema.roster.columns
            if c.name not in missing
        ]
        Table("roster", MetaData(), *older).create(conn)
        conn.execute(
            schema.schema_version.insert().values(
                version=schema.SCHEMA_VERSION, applied_at=datetime.now(UTC)
            )
        )
        conn.exec_driver_sql(
            "INSERT INTO roster (id, person_kind, person_id, company_id, source, imported_at) "
            "VALUES (1, 'inss', '85073003328', '0403170701', 'old.csv', '2026-01-02 03:04:05')"
        )
    engine.dispose()


def test_columns_added_since_are_created_with_their_defaults(db_url: str) -> None:
    _database_of_an_older_controller(db_url, {"name", "limosa_id", "blocked"})
    store = open_store(db_url)
    try:
        with store.transaction() as conn:
            present = {c["name"] for c in inspect(conn).get_columns("roster")}
            row = conn.execute(select(schema.roster)).one()
        assert {"name", "limosa_id", "blocked"} <= present
        assert row.person_id == "85073003328"
        assert (row.name, row.limosa_id, row.blocked) == (None, None, False)
    finally:
        store.close()


def test_opening_a_current_database_again_changes_nothing(db_url: str) -> None:
    open_store(db_url).close()
    store = open_store(db_url)
    try:
        with store.transaction() as conn:
            versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
        assert versions == [schema.SCHEMA_VERSION]
    finally:
        store.close()


def test_indexes_added_since_are_created_on_an_existing_table(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        for table in schema.metadata.sorted_tables:
            table.create(conn)
        conn.exec_driver_sql("DROP INDEX ix_events_dated")
        conn.execute(
            schema.schema_version.insert().values(
                version=schema.SCHEMA_VERSION, applied_at=datetime.now(UTC)
            )
        )
    engine.dispose()
    store = open_store(db_url)
    try:
        with store.transaction() as conn:
            names = {i["name"] for i in inspect(conn).get_indexes("checkin_events")}
        assert {"ix_events_dated", "ix_events_presence"} <= names
    finally:
        store.close()
