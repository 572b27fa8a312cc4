"""``sitegate-provision``: set up a site, its broker and its terminals.

Every command checks all of its input before it writes anything; on an error it prints one
line on stderr, exits 1 (2 for a usage error) and leaves the site directory unchanged.
``add-terminal``, ``revoke-terminal`` and ``rotate-terminal`` then apply the change to the
running broker; when they cannot, the site's files are written all the same, a warning on
stderr says what to do, and the exit status is 3.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from presence.version import version_line
from provisioning import dynsec, enrol_cli, site_setup, terminal_admin
from provisioning.errors import ProvisioningError
from provisioning.live_broker import PID_FILE, Applied, LiveBroker
from provisioning.site import SECTORS
from provisioning.terminals import DIRECTIONS

PROG = "sitegate-provision"
DEFAULT_DIR = "/etc/sitegate"
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_APPLIED = 3  # the site's files are written; the running broker is not changed


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see {PROG} --help)\n")


def _site_dir(parser: argparse.ArgumentParser, required: bool = False) -> None:
    default = os.environ.get("SITEGATE_SITE_DIR", DEFAULT_DIR)
    help_text = "the site directory" if required else f"the site directory (default {default})"
    parser.add_argument(
        "--dir", required=required, default=None if required else default, help=help_text
    )


def _pid_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker-pid-file",
        type=Path,
        default=PID_FILE,
        help=f"the running mosquitto's pid file, to make it reload the CRL (default {PID_FILE})",
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
    _pid_file(add)

    enrol_cli.add_parser(sub, _site_dir)

    listing = sub.add_parser("list-terminals", help="list the site's terminals")
    _site_dir(listing)

    revoke = sub.add_parser("revoke-terminal", help="revoke a terminal's certificate")
    revoke.add_argument("name")
    _site_dir(revoke)
    _pid_file(revoke)

    rotate = sub.add_parser("rotate-terminal", help="issue a terminal a new key and certificate")
    rotate.add_argument("name")
    _site_dir(rotate)
    _pid_file(rotate)

    poster = sub.add_parser("poster", help="make the A4 entrance poster")
    poster.add_argument("--out", required=True, help="FILE.pdf or FILE.png")
    _site_dir(poster)
    return parser


def _init_site(args: argparse.Namespace) -> int:
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
    return 0


def _add_terminal(args: argparse.Namespace) -> int:
    record = terminal_admin.add_terminal(args.dir, args.name, args.direction, args.settings)
    bundle = os.path.join(os.path.abspath(args.dir), "terminals", record.id)
    print(f"terminal {record.id} ({record.direction}) added: bundle {bundle}.tar.gz")
    workplace = terminal_admin.workplace_of(args.dir)
    applied = _live(args).apply(dynsec.add_terminal(workplace, record.id))
    return _outcome(applied, f"terminal {record.id}'s access")


def _list_terminals(args: argparse.Namespace) -> int:
    for record in terminal_admin.list_terminals(args.dir):
        state = "revoked" if record.revoked else "active"
        print(f"{record.id}\t{record.direction}\t{state}\t{record.cert_serial}")
    return 0


def _revoke_terminal(args: argparse.Namespace) -> int:
    record = terminal_admin.revoke_terminal(args.dir, args.name)
    print(f"terminal {record.id} revoked (CRL, broker access, terminals.toml)")
    applied = _live(args).apply(dynsec.remove_terminal(record.id), reload_crl=True)
    if applied.done:
        print(f"the running broker closed {record.id}'s connection and refuses its certificate")
    return _outcome(applied, f"the revocation of {record.id}")


def _rotate_terminal(args: argparse.Namespace) -> int:
    record = terminal_admin.rotate_terminal(args.dir, args.name)
    print(f"terminal {record.id} has certificate {record.cert_serial}; copy its new bundle")
    applied = _live(args).apply(dynsec.disconnect_terminal(record.id), reload_crl=True)
    if applied.done:
        print(f"the running broker closed {record.id}'s connection and refuses the old certificate")
    return _outcome(applied, f"the revocation of {record.id}'s old certificate")


def _poster(args: argparse.Namespace) -> int:
    print(f"poster written to {site_setup.make_poster(args.dir, args.out)}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "init-site": _init_site,
    "add-terminal": _add_terminal,
    "enrol": enrol_cli.run,
    "list-terminals": _list_terminals,
    "revoke-terminal": _revoke_terminal,
    "rotate-terminal": _rotate_terminal,
    "poster": _poster,
}


def _live(args: argparse.Namespace) -> LiveBroker:
    return terminal_admin.live_broker(args.dir, args.broker_pid_file)


def _outcome(applied: Applied, what: str) -> int:
    """0 when the running broker took the change; else a warning saying what to do, and 3."""
    if applied.done:
        return 0
    if applied.reached:
        todo = "reload mosquitto to apply it (sudo systemctl reload mosquitto)"
    else:
        todo = "restart mosquitto to apply it (sudo systemctl restart mosquitto)"
    print(
        f"{PROG}: warning [broker_not_changed]: {what} is written in the site directory, "
        f"but the running broker did not take it ({'; '.join(applied.problems)}): {todo}",
        file=sys.stderr,
    )
    return EXIT_NOT_APPLIED


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return COMMANDS[args.command](args)
    except ProvisioningError as exc:
        print(f"{PROG}: error [{exc.code}]: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
