"""The web console on a big site, over HTTP: 30 days of a 2,000-worker site (60,000
presences) and 500 people on site now, served by uvicorn on loopback.

Measures the server's time for each page (its ``Server-Timing`` header: request in to
answer started) and the time as a browser gets it (request sent to last byte received,
loopback, one client): Today, Presences of a day, On site now, Anomalies, and the CSV export
of a day, p50/p95; and the delay from an ingest commit to the live page's server-sent event
reaching the client, p50/p99. Prints one JSON line.
Targets (issue 14): p95 <= 50 ms per page, a day's export <= 300 ms, commit -> event p99
<= 500 ms.

    .venv/bin/python bench/web_console.py [--db sqlite|URL] [--runs 40] [--events 60]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import re
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

PASSWORD = "bench console 2026"
WORKPLACE = "1Y102M7NZF7PZ"


def site_files(directory: Path, url: str) -> Path:
    """A controller.toml and terminals.toml for the console alone (no broker, no NSSO)."""
    (directory / "terminals.toml").write_text(
        '[[terminal]]\nid = "gate-1"\ndirection = "in"\ncert_serial = "01"\nrevoked = false\n'
    )
    path = directory / "controller.toml"
    path.write_text(
        f'config_version = 1\n[site]\nworkplace_id = "{WORKPLACE}"\nname = "Bench site"\n'
        f'[database]\nurl = "{url}"\n'
    )
    return path


def _views_bench() -> Any:
    """The database builder of bench/console_views.py (the same site, built the same way)."""
    path = Path(__file__).with_name("console_views.py")
    spec = importlib.util.spec_from_file_location("console_views_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def percentiles(samples: list[float], high: float) -> dict[str, float]:
    ordered = sorted(samples)
    top = ordered[min(len(ordered) - 1, int(len(ordered) * high))]
    return {"p50_ms": round(statistics.median(ordered), 1),
            f"p{round(high * 100)}_ms": round(top, 1)}  # fmt: skip


SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")


def timed(client: Any, path: str, runs: int) -> dict[str, Any]:
    """The server's time per page (its ``Server-Timing``: request in to answer started) and
    the client's (request sent to last byte received), p50/p95."""
    client.get(path).raise_for_status()  # warm up
    server, whole = [], []
    for _ in range(runs):
        start = time.perf_counter()
        answer = client.get(path)
        whole.append((time.perf_counter() - start) * 1000)
        answer.raise_for_status()
        found = SERVER_TIMING.search(answer.headers.get("server-timing", ""))
        assert found, f"{path}: no Server-Timing"
        server.append(float(found.group(1)))
    return {**percentiles(server, 0.95), "client": percentiles(whole, 0.95)}


def commit_to_event(client: Any, store: Any, count: int) -> dict[str, float]:
    """Commit a check-in, note the time; the listening thread notes when the event came."""
    from controller import checkins
    from presence.events import CheckIn, Credential, encode, new_event_id
    from presence.ids import WorkplaceId, parse_inss
    from sim.identifiers import with_inss_check

    arrived: list[float] = []
    ready = threading.Event()
    got = threading.Event()

    def listen() -> None:
        with client.stream("GET", "/live/events", timeout=None) as events:
            for line in events.iter_lines():
                if line.startswith("retry:"):
                    ready.set()
                elif line == "event: change":
                    arrived.append(time.perf_counter())
                    got.set()
                if len(arrived) >= count:
                    return

    threading.Thread(target=listen, daemon=True).start()
    if not ready.wait(10):
        raise RuntimeError("no event stream")
    time.sleep(0.5)  # the watcher has its first stamp
    delays = []
    now = store.clock.now()
    for n in range(count):
        got.clear()
        person = parse_inss(with_inss_check(f"900101{n % 900 + 1:03d}"))
        event = CheckIn(new_event_id(), "gate-1", WorkplaceId(WORKPLACE), n + 1,
                        now + timedelta(seconds=n), True, Credential("keypad_inss", person),
                        "in", "admitted", "ok")  # fmt: skip
        with store.transaction() as conn:
            checkins.record(store, conn, event, encode(event), now, 300)
        committed = time.perf_counter()
        if not got.wait(5):
            raise RuntimeError("an event never came")
        delays.append((arrived[-1] - committed) * 1000)
        time.sleep(0.05)
    return percentiles(delays, 0.99)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite", help="sqlite (a temporary file) or a URL")
    parser.add_argument("--runs", type=int, default=40, help="requests per page")
    parser.add_argument("--events", type=int, default=60, help="commits timed to their event")
    parser.add_argument("--workers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)
    logging.getLogger("controller").setLevel(logging.ERROR)  # the builder's check-ins warn

    import httpx

    from controller import accounts
    from controller import config as config_module
    from controller.heap import settle_after_start
    from controller.store import open_store
    from controller.web.server import ConsoleServer
    from presence.clock import ManualClock, brussels_date

    views_bench = _views_bench()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if args.db == "sqlite" else args.db
        config = config_module.load(site_files(Path(tmp), url))
        store = open_store(url, ManualClock(views_bench.NOW))
        started = time.perf_counter()
        views_bench.build(store, args.workers, args.days, on_site=500)
        built_s = time.perf_counter() - started
        with store.transaction() as conn:
            conn.exec_driver_sql("ANALYZE")
        accounts.add_account(store, "bench", accounts.VIEWER, PASSWORD)
        server = ConsoleServer(config, store, host="127.0.0.1", port=0, tls=False,
                               clock=store.clock).start()  # fmt: skip
        settle_after_start()  # as `sitegate-controller run` and `web` do once started
        day = brussels_date(views_bench.NOW).isoformat()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                page = client.get("/login")
                token = re.search(r'name="csrf" value="([^"]+)"', page.text)
                assert token is not None
                client.post("/login", data={"name": "bench", "password": PASSWORD,
                                            "csrf": token.group(1)})  # fmt: skip
                figures: dict[str, Any] = {
                    "bench": "web_console",
                    "database": store.engine.dialect.name,
                    "presences": args.workers * args.days,
                    "build_s": round(built_s, 1),
                    "today": timed(client, "/", args.runs),
                    "presences_day": timed(client, f"/presences?day={day}", args.runs),
                    "onsite": timed(client, "/onsite", args.runs),
                    "anomalies": timed(client, "/anomalies", args.runs),
                    "export_csv_day": timed(
                        client, f"/presences.csv?day={day}", max(5, args.runs // 4)
                    ),
                    "on_site_rows": client.get("/onsite").text.count("<tr>") - 1,
                }
                figures["commit_to_event"] = commit_to_event(client, store, args.events)
        finally:
            server.stop()
            store.close()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
