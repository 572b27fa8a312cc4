"""``sitegate-provision``: set up a site, its broker and its terminals.

Every command checks all of its input before it writes anything; on an error it prints one
line on stderr, exits 1 (2 for a usage error) and leaves the site directory unchanged.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import NoReturn

from presence.version import version_line
from provisioning import site_setup, terminal_admin
from provisioning.errors import ProvisioningError
from provisioning.site import SECTORS
from provisioning.terminals import DIRECTIONS

PROG = "sitegate-provision"
DEFAULT_DIR = "/etc/sitegate"
EXIT_ERROR = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see {PROG} --help)\n")


def _site_dir(parser: argparse.ArgumentParser, required: bool = False) -> None:
    default = os.environ.get("SITEGATE_SITE_DIR", DEFAULT_DIR)
    help_text = "the site directory" if required else f"the site directory (default {default})"
    parser.add_argument(
        "--dir", required=required, default=None if required else default, help=help_text
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is written")
    parser.add_argument("--version", action="version", version=version_line(PROG))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    init = sub.add_parser("init-site", help="create the site's CA, broker and controller config")
    init.add_argument("--workplace", required=True, help="workplace id (Declaration of Works)")
    init.add_argument("--company", required=True, help="KBO/BCE number of the main contractor")
    init.add_argument("--sector", required=True, choices=SECTORS)
    init.add_argument("--contract-amount", help="total contract amount in EUR")
    init.add_argument("--works-start", required=True, help="date the works began, YYYY-MM-DD")
    init.add_argument("--name", help="site name for the poster and reports")
    init.add_argument(
        "--broker-host",
        action="append",
        default=[],
        help="name or address terminals use to reach the broker (repeatable; first is used)",
    )
    init.add_argument("--broker-port", type=int, default=8883)
    _site_dir(init, required=True)

    add = sub.add_parser("add-terminal", help="create a terminal's credentials, config, bundle")
    add.add_argument("name", help="terminal id, e.g. gate-1")
    add.add_argument("--direction", required=True, choices=DIRECTIONS)
    add.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a terminal.toml setting, e.g. keypad.backend=evdev (repeatable)",
    )
    _site_dir(add)

    listing = sub.add_parser("list-terminals", help="list the site's terminals")
    _site_dir(listing)

    revoke = sub.add_parser("revoke-terminal", help="revoke a terminal's certificate")
    revoke.add_argument("name")
    _site_dir(revoke)

    rotate = sub.add_parser("rotate-terminal", help="issue a terminal a new key and certificate")
    rotate.add_argument("name")
    _site_dir(rotate)

    poster = sub.add_parser("poster", help="make the A4 entrance poster")
    poster.add_argument("--out", required=True, help="FILE.pdf or FILE.png")
    _site_dir(poster)
    return parser


def _run(args: argparse.Namespace) -> None:
    if args.command == "init-site":
        request = site_setup.SiteRequest(
            directory=args.dir,
            workplace=args.workplace,
            company=args.company,
            sector=args.sector,
            works_start=args.works_start,
            contract_amount=args.contract_amount,
            name=args.name,
            broker_hosts=args.broker_host,
            broker_port=args.broker_port,
        )
        duty = site_setup.init_site(request)
        verdict = "mandatory" if duty.mandatory else "not mandatory"
        print(f"presence registration: {verdict} ({duty.reason})")
        print(f"site set up in {os.path.abspath(args.dir)}")
    elif args.command == "add-terminal":
        record = terminal_admin.add_terminal(args.dir, args.name, args.direction, args.settings)
        bundle = os.path.join(os.path.abspath(args.dir), "terminals", record.id)
        print(f"terminal {record.id} ({record.direction}) added: bundle {bundle}.tar.gz")
    elif args.command == "list-terminals":
        for record in terminal_admin.list_terminals(args.dir):
            state = "revoked" if record.revoked else "active"
            print(f"{record.id}\t{record.direction}\t{state}\t{record.cert_serial}")
    elif args.command == "revoke-terminal":
        record = terminal_admin.revoke_terminal(args.dir, args.name)
        print(f"terminal {record.id} revoked; restart mosquitto to apply the new CRL")
    elif args.command == "rotate-terminal":
        record = terminal_admin.rotate_terminal(args.dir, args.name)
        print(f"terminal {record.id} has certificate {record.cert_serial}; copy its new bundle")
    elif args.command == "poster":
        print(f"poster written to {site_setup.make_poster(args.dir, args.out)}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        _run(args)
    except ProvisioningError as exc:
        print(f"{PROG}: error [{exc.code}]: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
