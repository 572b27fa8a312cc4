"""Register 20,000 presences through RegistryClient into the NSSO stand-in, 200 per call.

The stand-in runs as its own process (``sitegate-registry`` on a free loopback port), so the
client's figures are not mixed with the server's CPU time. Prints one JSON line: presences/s,
our client's milliseconds per call of 200 items (building + parsing: what does not move with
the stand-in's speed), and the share of wall time they are against HTTP+server (which does).

    .venv/bin/python bench/registry_roundtrip.py [--presences 20000] [--server-latency S]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from registry.client import RegistryClient
from registry.wire import MAX_ITEMS_PER_CALL, PresenceItem, RegistrationResult
from sim.identifiers import with_inss_check
from sim.nsso.works import declared_site, render_works

WORKPLACE = "1Y102M7NZF7PZ"
COMPANY = 403170701
SITE = declared_site(WORKPLACE, ["0403170701"], date(2000, 1, 1), date(2099, 12, 31), [])


def inss_numbers(count: int) -> list[str]:
    """Distinct valid national numbers (born 1980-1999: no '2' prefix in the checksum)."""
    numbers = []
    for n in range(count):
        day = 1 + n % 28
        month = 1 + (n // 28) % 12
        year = 80 + (n // 336) % 20
        serial = 1 + n // 6720
        base = f"{year:02d}{month:02d}{day:02d}{serial:03d}"
        numbers.append(with_inss_check(base))
    return numbers


def start_stand_in(folder: Path, latency_s: float) -> tuple[subprocess.Popen[str], str]:
    works = folder / "works.toml"
    works.write_text(render_works(SITE), encoding="utf-8")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim.registry_server",
            "--listen",
            "127.0.0.1:0",
            "--db",
            str(folder / "nsso.db"),
            "--works",
            str(works),
            "--validation-delay",
            "3600",
            "--latency",
            str(latency_s),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("sitegate-registry listening on "):
        process.kill()
        raise SystemExit(f"the stand-in did not start: {line!r}")
    return process, line.split()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presences", type=int, default=20_000)
    parser.add_argument(
        "--server-latency",
        type=float,
        default=0.0,
        metavar="S",
        help="added by the stand-in to each call (a real service is slower)",
    )
    args = parser.parse_args()
    items = [
        PresenceItem(WORKPLACE, inss=inss, company_id=COMPANY, client_reference=f"bench-{i}")
        for i, inss in enumerate(inss_numbers(args.presences))
    ]
    with tempfile.TemporaryDirectory() as folder:
        process, endpoint = start_stand_in(Path(folder), args.server_latency)
        try:
            with RegistryClient(endpoint) as client:
                client.register(items[:MAX_ITEMS_PER_CALL])  # warm-up: connection, caches
                client.stats.__init__()  # type: ignore[misc]
                started = time.perf_counter()
                answers = client.register(items)
                elapsed = time.perf_counter() - started
                stats = client.stats
        finally:
            process.terminate()
            process.wait(timeout=10)
    registered = sum(isinstance(a, RegistrationResult) for a in answers)
    ours = stats.encode_s + stats.parse_s
    print(
        json.dumps(
            {
                "benchmark": "registry_roundtrip",
                "presences": len(items),
                "server_latency_s": args.server_latency,
                "registered": registered,
                "calls": stats.calls,
                # answers read from their text without a tree (registry/register_scan.py)
                "scanned_calls": stats.scanned_calls,
                "seconds": round(elapsed, 3),
                "presences_per_s": round(len(items) / elapsed, 1),
                "client_encode_s": round(stats.encode_s, 3),
                "client_parse_s": round(stats.parse_s, 3),
                "http_and_server_s": round(stats.wire_s, 3),
                # in neither bucket: the chunking loop and the timers themselves
                "unattributed_s": round(elapsed - ours - stats.wire_s, 3),
                "client_share": round(ours / elapsed, 4),
                # per call of MAX_ITEMS_PER_CALL items: the figure to compare between machines
                "client_ms_per_call": round(1000 * ours / max(stats.calls, 1), 3),
                "client_encode_ms_per_call": round(1000 * stats.encode_s / max(stats.calls, 1), 3),
                "client_parse_ms_per_call": round(1000 * stats.parse_s / max(stats.calls, 1), 3),
                "http_and_server_ms_per_call": round(1000 * stats.wire_s / max(stats.calls, 1), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
