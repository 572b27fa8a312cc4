"""Server time of the console's views on a big site: 30 days of 2,000 workers (60,000
presences, two check-ins each) and 500 people on site now.

Prints one JSON line: p50/p95 milliseconds per view, and the CSV/XLSX export of a day.
Targets (issue 14): p95 <= 50 ms per page, a day's export <= 300 ms.

    .venv/bin/python bench/console_views.py [--db sqlite|URL] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from controller import reports, schema, views
from controller.checkins import new_client_refs
from controller.store import Store, open_store
from presence.clock import ManualClock, brussels_date
from presence.events import new_event_id
from sim.identifiers import with_inss_check

WORKPLACE = "1Y102M7NZF7PZ"
COMPANIES = ("0403170701", "0202239951")
NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def people(count: int) -> list[str]:
    return [with_inss_check(f"{80 + n // 900:02d}0101{n % 900 + 1:03d}") for n in range(count)]


def build(store: Store, workers: int, days: int, on_site: int) -> None:
    crew = people(workers)
    now = store.db_datetime(NOW)
    with store.transaction() as conn:
        conn.execute(
            schema.roster.insert(),
            [
                {"person_kind": "inss", "person_id": p, "company_id": COMPANIES[i % 2],
                 "source": "bench.csv", "imported_at": NOW, "name": f"Worker {i:04d}"}
                for i, p in enumerate(crew)
            ],
        )  # fmt: skip
    next_id = 1
    for back in range(days - 1, -1, -1):
        day_start = NOW - timedelta(days=back)
        day = brussels_date(day_start)
        refs = new_client_refs(workers)
        presence_rows, event_rows = [], []
        for i, person in enumerate(crew):
            state = schema.VALIDATED if back else schema.REGISTERED
            first = new_event_id()
            presence_rows.append(
                (next_id + i, refs[i], "inss", person, WORKPLACE, store.db_date(day),
                 COMPANIES[i % 2], state, "checkin", str(first), now, now, 1,
                 f"1000{next_id + i:011d}")
            )  # fmt: skip
            scan = day_start.replace(hour=6) + timedelta(seconds=i * 3)
            leave = back > 0 or i >= on_site
            for event_id, direction, at in (
                (first, "in", scan),
                (new_event_id(), "out", scan + timedelta(hours=8)),
            ):
                if direction == "out" and not leave:
                    continue
                event_rows.append(
                    (str(event_id), "gate-1", WORKPLACE, 1, store.db_datetime(at),
                     store.db_datetime(at), store.db_datetime(at), True, None, "inss", person,
                     "eid", direction, "admitted", "ok", next_id + i, b"{}")
                )  # fmt: skip
        with store.transaction() as conn:
            store.insert_rows(conn, schema.presences, (
                "id", "client_ref", "person_kind", "person_id", "workplace_id", "date",
                "company_id", "state", "source", "first_event_id", "created_at", "updated_at",
                "attempts", "receipt_id"), presence_rows)  # fmt: skip
            store.insert_rows(conn, schema.events, (
                "event_id", "terminal_id", "workplace_id", "seq", "scanned_at", "received_at",
                "dated_at", "clock_synced", "clock_correction_s", "person_kind", "person_id",
                "credential_kind", "direction", "decision", "reason", "presence_id", "payload",
            ), event_rows)  # fmt: skip
        next_id += workers


def timed(run: Callable[[], Any], runs: int) -> dict[str, float]:
    run()  # warm caches
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite", help="sqlite (a temporary file) or a URL")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if args.db == "sqlite" else args.db
        store = open_store(url, ManualClock(NOW))
        started = time.perf_counter()
        build(store, args.workers, args.days, on_site=500)
        built_s = time.perf_counter() - started
        with store.transaction() as conn:  # a live database has its statistics
            conn.exec_driver_sql("ANALYZE")
        today = brussels_date(NOW)
        day_rows = views.day_presences(store, today)
        figures: dict[str, Any] = {
            "bench": "console_views",
            "database": store.engine.dialect.name,
            "presences": args.workers * args.days,
            "build_s": round(built_s, 1),
            "today_counts": timed(lambda: views.today_counts(store), args.runs),
            "feed": timed(lambda: views.feed(store), args.runs),
            "onsite": timed(lambda: views.onsite(store), args.runs),
            "day_presences": timed(lambda: views.day_presences(store, today), args.runs),
            "day_search": timed(
                lambda: views.day_presences(store, today, search="0042"), args.runs
            ),
            "refusals": timed(lambda: views.refusals(store), args.runs),
            "anomalies": timed(lambda: views.anomalies(store), args.runs),
            "terminal_health": timed(lambda: views.terminal_health(store), args.runs),
            "export_csv_day": timed(
                lambda: reports.to_csv(views.day_presences(store, today), views.DAY_COLUMNS),
                max(5, args.runs // 3),
            ),
            "export_xlsx_day": timed(
                lambda: reports.to_xlsx(views.day_presences(store, today), views.DAY_COLUMNS),
                max(5, args.runs // 3),
            ),
            "on_site_now": len(views.onsite(store)),
            "day_rows": len(day_rows),
        }
        store.close()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
