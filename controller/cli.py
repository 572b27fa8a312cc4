"""``sitegate-controller``: the site controller and the site manager's commands."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sitegate-controller", description=__doc__)
    parser.add_argument("--config", default="/etc/sitegate/controller.toml")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="ingest check-ins and relay presences to NSSO")
    sub.add_parser("roster", help="import the roster of people and their employers")
    sub.add_parser("presences", help="list presences")
    sub.add_parser("onsite", help="who is on site now (evacuation list)")
    sub.add_parser("anomalies", help="presences that need the site manager")
    sub.add_parser("cancel", help="cancel a registration")
    sub.add_parser("preregister", help="register tomorrow's planned crew")
    sub.add_parser("terminals", help="known terminals and their status")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"sitegate-controller: '{args.command}' is not built yet (issue #4)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
