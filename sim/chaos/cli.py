"""``sitegate-demo chaos``: the fault campaign from the command line (also ``make chaos``).

Prints what it will do, then one verdict line; on a violation, the seed to replay, each
kind of violation with its first cases and the history around the first. Exit status 0
when the promise held, 1 when it did not, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from sim.chaos.campaign import Options, run, stop_on_sigterm
from sim.chaos.scheduler import KINDS
from sim.chaos.site import IN_DOUBT_GRACE_S

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


DESCRIPTION = (
    "Run the whole site in real processes while a seeded scheduler injects faults in "
    "combination, then check that every admitted check-in became exactly one NSSO "
    "registration (or an anomaly with its evidence), and nothing else."
)


def build_parser(prog: str = "sitegate-demo chaos") -> argparse.ArgumentParser:
    """The campaign's parser on its own (``python -m sim.chaos.cli``)."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    parser.add_argument("--no-pcscd", action="store_true", help="fake card reader everywhere")
    parser.add_argument("--dir", type=Path, help="work directory to keep (default: a temp one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the campaign's steps")
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The campaign's own options (``sitegate-demo`` shares ``--dir``, ``--no-pcscd`` and
    ``-v`` between its commands)."""
    parser.add_argument("--seed", type=int, default=1, help="fixes crew, passes and faults")
    parser.add_argument("--minutes", type=float, default=1.0, help="length of the rush")
    parser.add_argument(
        "--gates", type=int, default=3, help="terminals (the last is the exit from 3 on)"
    )
    parser.add_argument("--workers", type=int, default=60, help="people in the crew")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("SITEGATE_PG_URL", DEFAULT_PG_URL),
        help="PostgreSQL server for --db postgresql (a scratch database is "
        "made and dropped); default $SITEGATE_PG_URL or %(default)s",
    )
    parser.add_argument(
        "--profile",
        choices=("full", "baseline"),
        default="full",
        help="full: every kind of person; baseline: without people who show both an eID and an L1",
    )
    parser.add_argument(
        "--faults",
        default=",".join(KINDS),
        help="fault kinds to draw from, comma-separated (default: all)",
    )
    parser.add_argument(
        "--mean-gap", type=float, default=4.0, metavar="S", help="mean seconds between fault starts"
    )
    parser.add_argument(
        "--in-doubt-grace",
        type=float,
        default=IN_DOUBT_GRACE_S,
        metavar="S",
        help="the controller's in_doubt_grace_s (default %(default)s: above the "
        "longest delay the campaign's network makes)",
    )
    parser.add_argument(
        "--before-midnight",
        type=float,
        metavar="S",
        help="move the whole site's clock (sim.chaos.shifted) so that the rush starts "
        "S seconds before midnight in Brussels",
    )


def options_from(args: argparse.Namespace) -> Options:
    kinds = tuple(k.strip() for k in args.faults.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(KINDS)}")
    if not 1 <= args.gates <= 20 or args.workers < 1 or args.minutes <= 0:
        raise ValueError("--gates 1-20, --workers >= 1 and --minutes > 0, please")
    return Options(
        seed=args.seed,
        minutes=args.minutes,
        gates=args.gates,
        workers=args.workers,
        db=args.db,
        pg_url=args.pg_url,
        use_pcscd=not args.no_pcscd,
        workdir=Path(args.dir) if args.dir else None,
        profile=args.profile,
        kinds=kinds,
        in_doubt_grace_s=args.in_doubt_grace,
        before_midnight_s=args.before_midnight,
        mean_gap_s=args.mean_gap,
    )


def main(argv: list[str] | None = None, prog: str = "sitegate-demo chaos") -> int:
    parser = build_parser(prog)
    return run_parsed(parser, parser.parse_args(argv))


def run_parsed(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        options = options_from(args)
    except ValueError as exc:
        parser.error(str(exc))
    stop_on_sigterm()
    result = run(options)
    for line in result.report():
        print(line)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
