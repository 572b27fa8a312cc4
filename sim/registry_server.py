"""``sitegate-registry``: the NSSO PresenceRegistration stand-in."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sitegate-registry", description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT (loopback)")
    parser.add_argument("--db", help="SQLite file that keeps the stand-in's state")
    parser.add_argument("--works", help="declared-works file (TOML or CSV)")
    return parser


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    print("sitegate-registry: the stand-in is not built yet (issue #3)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
