"""The morning rush: 600 workers through 6 gates in 10 minutes, NSSO answering in 50-300 ms.

The whole site in real processes, as ``sitegate-demo chaos`` runs it, without faults: five
entry gates and one exit (gate-1 reads eID cards through pcscd + vpcd), the controller on
SQLite (or PostgreSQL), the NSSO stand-in behind a loopback proxy that holds each request
and each answer 25-150 ms (so a call takes 50-300 ms). Time is compressed: ``--compress 4``
(the default) plays the 10 minutes in 2.5, four times the arrival rate, so the gates and
the controller see four times the load of the real rush. Prints one JSON line: p50/p99 from
the gate's decision to the receipt stored by the controller, and to VALIDATED known.

    .venv/bin/python bench/morning_rush.py [--workers 600] [--gates 6] [--minutes 10]
        [--compress 4] [--db sqlite|postgresql] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

from sim.chaos.campaign import Options, run, stop_on_sigterm
from sim.chaos.cli import DEFAULT_PG_URL
from sim.chaos.proxy import PathFaults

ONE_WAY_S = (0.025, 0.150)  # request and answer each: a call takes 50-300 ms


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=600)
    parser.add_argument("--gates", type=int, default=6)
    parser.add_argument("--minutes", type=float, default=10.0, help="the rush's real length")
    parser.add_argument("--compress", type=float, default=4.0, help="time compression factor")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    low, high = ONE_WAY_S
    options = Options(
        seed=args.seed,
        minutes=args.minutes / args.compress,
        gates=args.gates,
        workers=args.workers,
        db=args.db,
        pg_url=args.pg_url,
        profile="baseline",
        kinds=(),
        nsso_path=PathFaults(latency_s=low, jitter_s=high - low),
    )
    started = time.monotonic()
    stop_on_sigterm()
    result = run(options, out=lambda line: print(line, file=sys.stderr))
    for line in result.report():
        print(line, file=sys.stderr)
    f = result.findings
    print(
        json.dumps(
            {
                "bench": "morning_rush",
                "workers": args.workers,
                "gates": args.gates,
                "rush_minutes": args.minutes,
                "compress": args.compress,
                "played_s": round(args.minutes * 60 / args.compress),
                "db": args.db,
                "card_reader_gate_1": result.card_reader,
                "nsso_call_ms": [2 * low * 1000, 2 * high * 1000],
                "decisions": f.decisions,
                "admissions_published": f.admitted,
                "receipts": len(f.receipt_delays),
                "badge_to_receipt_p50_s": _p(f.receipt_delays, 0.5),
                "badge_to_receipt_p99_s": _p(f.receipt_delays, 0.99),
                "badge_to_receipt_max_s": _p(f.receipt_delays, 1.0),
                "badge_to_validated_p50_s": _p(f.validated_delays, 0.5),
                "badge_to_validated_p99_s": _p(f.validated_delays, 0.99),
                "receipt_mean_s": round(statistics.fmean(f.receipt_delays), 3)
                if f.receipt_delays
                else None,
                "outbox_high_water": result.outbox_high_water,
                "violations": len(f.violations),
                "wall_s": round(time.monotonic() - started),
            }
        )
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
