"""``sitegate-terminal``: the program that runs on each turnstile."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sitegate-terminal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the turnstile: readers, gate, outbox and MQTT link")
    run.add_argument("--config", default="/etc/sitegate/terminal.toml")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"sitegate-terminal: '{args.command}' is not built yet (issue #8)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
