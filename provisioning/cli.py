"""``sitegate-provision``: set up a site, its broker and its terminals."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sitegate-provision", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in [
        ("init-site", "create the site's CA, broker and controller configuration"),
        ("add-terminal", "create a terminal's credentials, config and bundle"),
        ("list-terminals", "list the site's terminals"),
        ("revoke-terminal", "revoke a terminal's certificate"),
        ("rotate-terminal", "issue a terminal a new certificate"),
        ("poster", "make the entrance poster"),
    ]:
        sub.add_parser(name, help=text)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"sitegate-provision: '{args.command}' is not built yet (issue #9)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
