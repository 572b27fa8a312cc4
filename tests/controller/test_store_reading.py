"""``Store.reading``: the console's reads neither wait for nor hold up the writer that
acknowledges check-ins (a snapshot on SQLite in WAL mode), on both databases."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from controller import schema, views
from controller.store import Store


def test_a_page_reads_while_a_writer_holds_its_transaction(store: Store) -> None:
    writing, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.transaction() as conn:
            conn.execute(schema.terminals.delete().where(schema.terminals.c.terminal_id == "x"))
            writing.set()
            release.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(10)
        started = time.monotonic()
        counts = views.today_counts(store)
        with store.reading() as conn:
            conn.execute(select(func.count()).select_from(schema.events)).scalar_one()
        assert time.monotonic() - started < 5, "the read waited for the writer"
        assert counts["on_site"] == 0
    finally:
        release.set()
        thread.join(30)


def test_a_reader_does_not_hold_up_the_writer(store: Store) -> None:
    with store.reading() as conn:
        conn.execute(select(func.count()).select_from(schema.events)).scalar_one()
        started = time.monotonic()
        with store.transaction() as writer:
            writer.execute(schema.terminals.delete().where(schema.terminals.c.terminal_id == "x"))
        assert time.monotonic() - started < 5, "the writer waited for a reader"
