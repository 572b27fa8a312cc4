"""The controller's database: engine set-up, schema creation and small shared helpers.

SQLite (the default) runs in WAL mode with ``synchronous=FULL``: a check-in is PUBACKed only
after its commit, so that commit must survive a power cut, not only a process crash (NORMAL
would keep the database consistent but could lose the last acknowledged transactions).
Every SQLite transaction starts with ``BEGIN IMMEDIATE``: the write lock is taken up front,
so two writers (ingest and relay threads, or a command) wait on the busy timeout instead of
failing on a lock upgrade. Reads that write nothing (``Store.reading``: the console's pages,
its live watcher) begin ``DEFERRED`` instead: in WAL mode they read a snapshot and never wait
for, nor hold up, the writer that acknowledges check-ins. PostgreSQL uses its defaults
(READ COMMITTED, durable commits).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.schema import CreateColumn

from controller import schema
from controller.errors import StoreError
from presence.clock import Clock, SystemClock

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "sitegate_read_only"  # execution option of ``Store.reading`` connections
SCHEMA_LOCK_KEY = 0x5174_6761  # pg_advisory_xact_lock key serialising schema creation


class Store:
    """One database: a SQLAlchemy engine plus the dialect-specific bits the queries need."""

    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()
        self._sqlite = engine.dialect.name == "sqlite"
        self._bulk_sql: dict[tuple[str, tuple[str, ...]], str] = {}

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction; commits on success. Database failures become ``StoreError``."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError("unavailable", f"database error: {type(exc).__name__}") from exc

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A transaction that only reads: on SQLite it takes no write lock (a snapshot)."""
        try:
            options = {READ_ONLY: True}
            with self.engine.connect().execution_options(**options) as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError("unavailable", f"database error: {type(exc).__name__}") from exc

    def insert_ignore(self, table: Table) -> Any:
        """``INSERT .. ON CONFLICT DO NOTHING`` in this database's dialect."""
        if self.is_postgresql:
            return pg_insert(table).on_conflict_do_nothing()
        return sqlite_insert(table).on_conflict_do_nothing()

    def insert_rows(
        self, conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[tuple]
    ) -> None:
        """``INSERT .. ON CONFLICT DO NOTHING`` of many rows in one driver ``executemany``.

        For hot paths: the values skip SQLAlchemy's per-row type processing, so they must
        already be in the driver's form: datetimes through ``db_datetime``, dates through
        ``db_date``; strings, numbers, booleans, bytes and None as they are."""
        if not rows:
            return
        key = (table.name, columns)
        sql = self._bulk_sql.get(key)
        if sql is None:
            sql = self._bulk_sql[key] = self._insert_ignore_sql(table, columns)
        conn.exec_driver_sql(sql, list(rows))

    def _insert_ignore_sql(self, table: Table, columns: tuple[str, ...]) -> str:
        dialect = self.engine.dialect
        unknown = set(columns) - set(table.c.keys())
        if unknown:
            raise StoreError("schema", f"{table.name} has no column {sorted(unknown)[0]}")
        if dialect.paramstyle == "qmark":
            marker = "?"
        elif dialect.paramstyle in ("format", "pyformat"):
            marker = "%s"
        else:
            raise StoreError("dialect", f"unsupported parameter style {dialect.paramstyle}")
        quote = dialect.identifier_preparer.quote
        return (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join(marker for _ in columns)}) ON CONFLICT DO NOTHING"
        )

    def db_datetime(self, value: datetime | None) -> Any:
        """A timezone-aware datetime in the driver's form for ``insert_rows``: exactly what
        ``schema.UtcDateTime`` stores (naive UTC text in SQLite, aware in PostgreSQL)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        if not self._sqlite:
            return value.astimezone(UTC)
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def db_date(self, value: date | None) -> Any:
        """A date in the driver's form for ``insert_rows`` (SQLAlchemy's SQLite text)."""
        if value is None or not self._sqlite:
            return value
        return value.isoformat()

    def get_meta(self, conn: Connection, key: str) -> str | None:
        return conn.execute(
            select(schema.meta.c.value).where(schema.meta.c.key == key)
        ).scalar_one_or_none()

    def set_meta(self, conn: Connection, key: str, value: str) -> None:
        updated = conn.execute(
            schema.meta.update().where(schema.meta.c.key == key).values(value=value)
        ).rowcount
        if not updated:
            conn.execute(self.insert_ignore(schema.meta).values(key=key, value=value))

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, clock: Clock | None = None) -> Store:
    """Connect to ``url`` and create the schema on first use."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError("bad_url", f"database url is not valid: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, parsed.database)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
    store = Store(engine, clock)
    try:
        _create_schema(store)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(
            "unavailable", f"cannot open the database: {exc.__class__.__name__}"
        ) from exc
    return store


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

    return engine


def _create_schema(store: Store) -> None:
    with store.engine.begin() as conn:
        if store.is_postgresql:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
        found: list[int] = []
        if inspect(conn).has_table(schema.schema_version.name):
            found = list(conn.execute(select(schema.schema_version.c.version)).scalars())
        if found and max(found) > schema.SCHEMA_VERSION:
            raise StoreError(
                "schema",
                f"database schema version {max(found)} is newer than this controller "
                f"({schema.SCHEMA_VERSION})",
            )
        schema.metadata.create_all(conn)
        if found:
            _migrate(conn, max(found))
        added = _add_missing_columns(conn)
        _add_missing_indexes(conn)
        if not found or max(found) < schema.SCHEMA_VERSION:
            conn.execute(
                schema.schema_version.insert().values(
                    version=schema.SCHEMA_VERSION, applied_at=store.clock.now()
                )
            )
            log.info(
                "database schema version %s %s",
                schema.SCHEMA_VERSION,
                "created" if not found else f"applied ({len(added)} columns added)",
            )


def _migrate(conn: Connection, version: int) -> None:
    """The changes that are not additive, from the database's ``version`` to ours."""
    if version < 2:  # presences.state widened from 16 to 24 characters
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE presences ALTER COLUMN state TYPE VARCHAR(24)")
        conn.exec_driver_sql(
            "UPDATE presences SET state = 'possible_same_person' WHERE state = 'possible_same'"
        )
        log.info("database migrated to schema version 2 (presences.state widened)")


def _add_missing_columns(conn: Connection) -> list[str]:
    """The simple migration: a column the schema declares and the database lacks is added.

    Only additive changes migrate this way, so every column added to an existing table must
    be nullable or carry a ``server_default`` (existing rows need a value). Anything else (a
    renamed or retyped column) needs ``SCHEMA_VERSION`` raised and a migration of its own."""
    inspector = inspect(conn)
    added: list[str] = []
    for table in schema.metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable and column.server_default is None:
                raise StoreError(
                    "schema",
                    f"column {table.name}.{column.name} cannot be added to an existing "
                    "database: it needs a server_default or to be nullable",
                )
            ddl = CreateColumn(column).compile(dialect=conn.dialect)
            name = conn.dialect.identifier_preparer.quote(table.name)
            conn.exec_driver_sql(f"ALTER TABLE {name} ADD COLUMN {ddl}")
            added.append(f"{table.name}.{column.name}")
            log.info("database column %s.%s added", table.name, column.name)
    return added


def _add_missing_indexes(conn: Connection) -> None:
    """Indexes the schema declares on tables that already existed (``create_all`` creates a
    table's indexes only with the table)."""
    present = {
        table.name: {i["name"] for i in inspect(conn).get_indexes(table.name)}
        for table in schema.metadata.sorted_tables
    }
    for table in schema.metadata.sorted_tables:
        for index in table.indexes:
            if index.name not in present[table.name]:
                index.create(conn)
                log.info("database index %s added", index.name)
