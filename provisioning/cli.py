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

from presence.cli import Level, share_options, site_dir, site_dir_help
from presence.version import version_line
from provisioning import console_cert, dynsec, site_setup, terminal_admin
from provisioning.controller_config import SIMULATION_ENDPOINT, STATE_DIR
from provisioning.errors import ProvisioningError
from provisioning.live_broker import PID_FILE, Applied, LiveBroker
from provisioning.site import SECTORS
from provisioning.terminals import DIRECTIONS

PROG = "sitegate-provision"
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_APPLIED = 3  # the site's files are written; the running broker is not changed


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see {PROG} --help)\n")


def _global_options(group: argparse._ArgumentGroup, level: Level) -> None:
    group.add_argument("--dir", default=level.default(None), help=site_dir_help())
    group.add_argument(
        "-v", "--verbose", action="store_true", default=level.default(False),
        help="log what is written",
    )  # fmt: skip


def _pid_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker-pid-file",
        type=Path,
        default=PID_FILE,
        help=f"the running mosquitto's pid file, to make it reload the CRL (default {PID_FILE})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=version_line(PROG))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    init = sub.add_parser(
        "init-site",
        help="create the site's CA, broker and controller config",
        description="Create a site in --dir (an empty or new directory): its certificate "
        "authority, the broker's drop-in and certificates, the controller's config and "
        "credentials. First says whether presence registration is mandatory for the site.",
    )
    init.add_argument("--workplace", required=True, help="workplace id (Declaration of Works)")
    init.add_argument("--company", required=True, help="KBO/BCE number of the main contractor")
    init.add_argument(
        "--sector",
        required=True,
        choices=SECTORS,
        help="construction: mandatory from EUR 500,000 (works begun from 2016-03-01; EUR "
        "800,000 before); concrete: ready-mixed concrete deliveries, the same rules; meat: "
        "always (FAVV/AFSCA-approved plants), no --contract-amount needed",
    )
    init.add_argument("--contract-amount", help="total contract amount in EUR")
    init.add_argument("--works-start", required=True, help="date the works began, YYYY-MM-DD")
    init.add_argument("--name", help="site name for the poster and reports")
    init.add_argument(
        "--broker-host",
        action="append",
        default=[],
        help="name or address terminals use to reach the broker (repeatable; the first goes "
        "into the terminals' config, all into the broker's certificate; default: this "
        "machine's name)",
    )
    init.add_argument("--broker-port", type=int, default=8883, help="default %(default)s")
    init.add_argument(
        "--broker-bind",
        default="",
        metavar="ADDRESS",
        help="the address the broker listens on, e.g. 127.0.0.1 to try a site on one "
        "machine (default: every interface, for the terminals on the site's network)",
    )
    init.add_argument(
        "--state-dir",
        default=STATE_DIR,
        metavar="DIR",
        help="where the controller keeps its SQLite database (default %(default)s, which "
        "systemd creates for the service user; give your own to run it by hand)",
    )
    init.add_argument(
        "--registry-endpoint",
        default=SIMULATION_ENDPOINT,
        metavar="URL",
        help="NSSO's PresenceRegistration endpoint (default: NSSO's simulation environment, "
        "%(default)s; the stand-in sitegate-registry for a trial)",
    )
    init.add_argument(
        "--web-port",
        type=int,
        default=console_cert.PORT,
        help="the web console's HTTPS port (default %(default)s)",
    )

    add = sub.add_parser("add-terminal", help="create a terminal's credentials, config, bundle")
    add.add_argument("name", help="terminal id, e.g. gate-1")
    add.add_argument(
        "--direction",
        required=True,
        choices=DIRECTIONS,
        help="in: an entrance, where people check in; out: an exit, where they check out",
    )
    add.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a terminal.toml setting, e.g. keypad.backend=evdev (repeatable)",
    )
    _pid_file(add)

    sub.add_parser("list-terminals", help="list the site's terminals")

    revoke = sub.add_parser("revoke-terminal", help="revoke a terminal's certificate")
    revoke.add_argument("name")
    _pid_file(revoke)

    rotate = sub.add_parser("rotate-terminal", help="issue a terminal a new key and certificate")
    rotate.add_argument("name")
    _pid_file(rotate)

    poster = sub.add_parser("poster", help="make the A4 entrance poster")
    poster.add_argument("--out", required=True, help="FILE.pdf or FILE.png")
    share_options(parser, _global_options)
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
        broker_bind=args.broker_bind,
        state_dir=args.state_dir,
        registry_endpoint=args.registry_endpoint,
        web_port=args.web_port,
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
    args.dir = str(site_dir(args.dir))
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
