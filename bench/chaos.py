"""A long fault campaign with fresh seeds: the figures of docs/reliability.md.

Runs ``--runs`` campaigns of ``--minutes`` each (default: one of 20 minutes), each with a
seed drawn afresh (printed, so that any run can be replayed with ``sitegate-demo chaos
--seed``), the whole site in real processes and every fault kind, and prints one JSON line:
check-ins, faults injected by kind, violations (by code), the worst and median badge ->
receipt delay and the outbox high-water mark. Exit status 1 when any violation was found.

    .venv/bin/python bench/chaos.py [--minutes 20] [--runs 1] [--workers-per-minute 40]
        [--profile full|baseline] [--db sqlite|postgresql] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections import Counter
from pathlib import Path

from sim.chaos.campaign import Options, run, stop_on_sigterm, summary_figures
from sim.chaos.cli import DEFAULT_PG_URL


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=1, help="campaigns, each a fresh seed")
    parser.add_argument("--workers-per-minute", type=int, default=40)
    parser.add_argument("--gates", type=int, default=3)
    parser.add_argument("--profile", choices=("full", "baseline"), default="full")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--seed", type=int, help="the first seed (default: a fresh one)")
    parser.add_argument("--dir", type=Path, help="keep the work directories under DIR")
    args = parser.parse_args(argv)
    started = time.monotonic()
    stop_on_sigterm()
    runs = []
    for n in range(args.runs):
        seed = (args.seed + n) if args.seed is not None else secrets.randbelow(10**6)
        workdir = args.dir / f"seed-{seed}" if args.dir else None
        options = Options(
            seed=seed,
            minutes=args.minutes,
            gates=args.gates,
            workers=max(1, round(args.workers_per_minute * args.minutes)),
            db=args.db,
            pg_url=args.pg_url,
            profile=args.profile,
            workdir=workdir,
            mean_gap_s=4.0,
        )
        result = run(options, out=lambda line: print(line, file=sys.stderr))
        for line in result.report():
            print(line, file=sys.stderr)
        runs.append((result, summary_figures(result)))
    figures = [f for _, f in runs]
    faults: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    for f in figures:
        faults.update(f["faults"])
        codes.update(f["violation_codes"])
    worst = [f["badge_to_receipt_worst_s"] for f in figures if f["badge_to_receipt_worst_s"]]
    print(
        json.dumps(
            {
                "bench": "chaos",
                "seeds": [f["seed"] for f in figures],
                "minutes_each": args.minutes,
                "profile": args.profile,
                "db": args.db,
                "decisions": sum(f["decisions"] for f in figures),
                "admissions_published": sum(f["admissions_published"] for f in figures),
                "registrations": sum(f["registrations"] for f in figures),
                "faults_total": sum(faults.values()),
                "faults": dict(sorted(faults.items())),
                "violations": sum(codes.values()),
                "violation_codes": dict(codes),
                "badge_to_receipt_worst_s": max(worst) if worst else None,
                "badge_to_receipt_median_s": [f["badge_to_receipt_median_s"] for f in figures],
                "outbox_high_water": max(f["outbox_high_water"] for f in figures),
                "replay": [r.replay() for r, _ in runs],
                "wall_s": round(time.monotonic() - started),
            }
        )
    )
    return 0 if not codes else 1


if __name__ == "__main__":
    sys.exit(main())
