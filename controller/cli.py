"""``sitegate-controller``: the site controller and the site manager's commands."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from controller import config as config_module
from controller import console_cli, views
from controller.config import ControllerConfig
from controller.errors import ControllerError
from controller.manage import CANCEL_REASONS
from controller.output import FORMATS, render
from controller.owner import open_database
from controller.store import Store
from presence.cli import Level, share_options, site_dir, site_dir_help
from presence.clock import brussels_date
from presence.version import version_line

if TYPE_CHECKING:
    from controller.roster import RosterRow

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sitegate-controller", description=__doc__)
    parser.add_argument("--version", action="version", version=version_line("sitegate-controller"))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="ingest check-ins and relay presences to NSSO")
    roster = sub.add_parser("roster", help="the roster of people and their employers")
    roster_sub = roster.add_subparsers(dest="roster_command", required=True)
    roster_import = roster_sub.add_parser(
        "import",
        help="import a roster file (CSV or XLSX): shows what changes, then applies the good rows",
    )
    roster_import.add_argument("file", type=Path)
    roster_import.add_argument(
        "--dry-run", action="store_true", help="show the plan (added, changed, refused) only"
    )
    roster_list = roster_sub.add_parser("list", help="people on the roster")
    roster_list.add_argument("--search", help="last digits of a number, or part of a name")
    roster_list.add_argument("--format", choices=FORMATS, default="table")
    for name, words in (
        ("block", "refuse a person at every gate"),
        ("unblock", "let a blocked person in again"),
        ("remove", "take a person off the roster"),
        ("history", "a person's check-ins, presences and receipts"),
    ):
        person_parser = roster_sub.add_parser(name, help=words)
        person_parser.add_argument(
            "person", help="national number, Limosa id, or last digits / name matching one person"
        )
        if name == "remove":
            person_parser.add_argument("--employer", help="only this employer's entry")
    listing = sub.add_parser("presences", help="list presences")
    listing.add_argument("--date", help="YYYY-MM-DD, today or tomorrow")
    listing.add_argument(
        "--state",
        choices=views.schema.STATES,
        metavar="STATE",
        help="only presences in this state: "
        + "; ".join(f"{state}: {words}" for state, words in STATE_WORDS.items()),
    )
    listing.add_argument("--format", choices=FORMATS, default="table")
    onsite = sub.add_parser("onsite", help="who is on site now (evacuation list)")
    onsite.add_argument("--format", choices=FORMATS, default="table")
    anomalies = sub.add_parser("anomalies", help="presences that need the site manager")
    anomalies.add_argument("--format", choices=FORMATS, default="table")
    cancel = sub.add_parser(
        "cancel",
        help="cancel a registration at NSSO",
        description="Cancel a registration at NSSO, by its receipt number (see presences). "
        "NSSO has no update: to correct one, fix the cause, cancel it, then requeue.",
    )
    cancel.add_argument("receipt", help="the registration's NSSO receipt number")
    cancel.add_argument(
        "--reason",
        required=True,
        choices=CANCEL_REASONS,
        metavar="REASON",
        help="why the person does not work here that day: "
        + "; ".join(f"{code}: {words}" for code, words in CANCEL_REASON_WORDS.items()),
    )
    pre = sub.add_parser(
        "preregister",
        help="register a day's planned crew ahead (tomorrow by default)",
        description="Register a day's crew with NSSO ahead, so that an NSSO outage that "
        "morning blocks nobody at the gate. Without --from: everyone on the roster who is "
        "valid that day and not blocked.",
    )
    pre.add_argument("--date", default="tomorrow", help="tomorrow (default), today or YYYY-MM-DD")
    pre.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="FILE",
        help="only the people in this CSV (the roster file's columns); without it, the "
        "whole roster",
    )
    pre.add_argument("--include-refused", action="store_true", help="also people the gates refuse")
    held = sub.add_parser("quarantine", help="messages the controller refused, and why")
    held.add_argument("--format", choices=FORMATS, default="table")
    held.add_argument(
        "--replay",
        action="store_true",
        help="store check-ins refused as unknown_terminal or unstorable, if they now pass",
    )
    again = sub.add_parser("requeue", help="send rejected or cancelled presences again")
    again.add_argument(
        "--state",
        required=True,
        choices=("rejected", "cancelled"),
        help="rejected: refused by NSSO (after you fixed the cause); cancelled: cancelled "
        "with cancel (to register it again, corrected)",
    )
    again.add_argument("--date", default="today", help="today (default), tomorrow or YYYY-MM-DD")
    same = sub.add_parser(
        "same-person", help="decide whether a possible_same_person presence is the same person"
    )
    same.add_argument("presence", type=int, help="the presence id (see anomalies)")
    answer = same.add_mutually_exclusive_group(required=True)
    answer.add_argument("--same", dest="same", action="store_true", default=None)
    answer.add_argument("--different", dest="same", action="store_false")
    purge = sub.add_parser("purge", help="take personal data older than [retention] days out")
    purge.add_argument("--dry-run", action="store_true", help="only count what would go")
    terminals = sub.add_parser("terminals", help="known terminals and their status")
    terminals.add_argument("--format", choices=FORMATS, default="table")
    console_cli.add_commands(sub)
    _add_console_commands(sub)
    share_options(parser, _global_options)
    return parser


STATE_WORDS = {
    "pending": "waiting to be sent to NSSO",
    "needs_employer": "no employer known (a national number needs one: see the roster)",
    "sent": "sent, NSSO's answer not stored yet",
    "registered": "registered, with a receipt number",
    "validated": "registered and validated by NSSO",
    "failed_remarks": "registered, but NSSO's validation gave remarks",
    "rejected": "refused by NSSO",
    "missed": "the day passed before NSSO could be reached",
    "cancelled": "cancelled at NSSO",
    "possible_same_person": "held: maybe the same person as another presence (same-person)",
}
CANCEL_REASON_WORDS = {
    "HOLIDAY": "on holiday",
    "DISEASE": "ill",
    "PLANNING": "the planning changed (also to correct a registration)",
    "C32A": "temporary unemployment (C3.2A form)",
}


def _global_options(group: argparse._ArgumentGroup, level: Level) -> None:
    group.add_argument("--dir", default=level.default(None), help=site_dir_help())
    group.add_argument(
        "--config",
        default=level.default(None),
        metavar="FILE",
        help="the controller's config (default: controller/controller.toml in the site directory)",
    )
    group.add_argument(
        "--reveal",
        action="store_true",
        default=level.default(False),
        help="show national numbers and Limosa ids in full (recorded in the audit trail)",
    )
    group.add_argument(
        "-v", "--verbose", action="store_true", default=level.default(False),
        help="debug logging",
    )  # fmt: skip


def config_path(args: argparse.Namespace) -> Path:
    """``--config``, else ``controller/controller.toml`` in the site directory."""
    if args.config:
        return Path(args.config)
    return site_dir(args.dir) / "controller" / "controller.toml"


def _add_console_commands(sub: argparse._SubParsersAction) -> None:
    """``web`` and ``user``: the web console and its accounts."""
    from controller.accounts import ROLES

    web = sub.add_parser("web", help="serve the web console alone (without ingest and relay)")
    web.add_argument("--host", help="listen address (default: [web] host)")
    web.add_argument("--port", type=int, help="port (default: [web] port)")
    user = sub.add_parser("user", help="accounts of the web console")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="a new account (the password is asked for)")
    add.add_argument("name")
    add.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="viewer: reads every page; team-leader: reads, and checks a crew in with a "
        "phone; manager: also acts (registrations, cancellations, roster, anomalies) and may "
        "reveal a number",
    )
    add.add_argument("--password-file", type=Path, help="read the password from this file")
    passwd = user_sub.add_parser("passwd", help="a new password (ends the account's sessions)")
    passwd.add_argument("name")
    passwd.add_argument("--password-file", type=Path, help="read the password from this file")
    disable = user_sub.add_parser("disable", help="disable an account (ends its sessions)")
    disable.add_argument("name")
    enable = user_sub.add_parser("enable", help="enable a disabled account again")
    enable.add_argument("name")
    user_sub.add_parser("list", help="accounts, roles and last sign-in")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        # The service logs its work; a site manager's command shows only its answer.
        level=logging.DEBUG
        if args.verbose
        else (logging.INFO if args.command == "run" else logging.WARNING),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per NSSO call
    try:
        config = config_module.load(config_path(args))
        store = open_database(config, argv)
    except ControllerError as exc:
        print(f"sitegate-controller: {exc} [{exc.code}]", file=sys.stderr)
        return EXIT_USAGE if exc.code != "unavailable" else EXIT_FAILED
    command: Callable[[argparse.Namespace, ControllerConfig, Store], int] = COMMANDS[args.command]
    try:
        console_cli.audit_reveal(store, args)
        return command(args, config, store)
    except ControllerError as exc:
        print(f"sitegate-controller: {exc} [{exc.code}]", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.close()


def _run(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller.service import run

    return run(config, store)


def _roster(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller import roster, roster_cli

    if args.roster_command == "import":
        return roster_cli.import_file(store, args.file, args.dry_run)
    if args.roster_command == "list":
        rows = roster.people(store, args.search, reveal=args.reveal)
        print(render(rows, roster.PEOPLE_COLUMNS, args.format))
        return EXIT_OK
    return roster_cli.person_command(store, args)


def _presences(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller.manage import parse_day

    day = parse_day(args.date, brussels_date(store.clock.now())) if args.date else None
    rows = views.presences(store, day=day, state=args.state, reveal=args.reveal)
    print(render(rows, views.PRESENCE_COLUMNS, args.format))
    return EXIT_OK


def _onsite(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    rows = views.onsite(store, reveal=args.reveal)
    print(render(rows, views.ONSITE_COLUMNS, args.format))
    if args.format == "table":
        print(f"{len(rows)} on site")
    return EXIT_OK


def _anomalies(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    rows = views.anomalies(store, reveal=args.reveal)
    print(render(rows, views.ANOMALY_COLUMNS, args.format))
    return EXIT_OK


def _terminals(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller.terminals import TerminalRegistry

    TerminalRegistry(config.terminals_path, store).reload_if_changed()
    print(render(views.terminals(store), views.TERMINAL_COLUMNS, args.format))
    return EXIT_OK


def _cancel(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller.manage import cancel
    from controller.relay import make_registry

    registry = make_registry(config)
    try:
        result = cancel(store, registry, args.receipt, args.reason)
    finally:
        registry.close()
    print(f"receipt {result.receipt_id}: {result.status or 'cancelled'}")
    return EXIT_OK


def _preregister(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller.manage import crew_from_roster, parse_day, preregister
    from controller.relay import Relay
    from controller.roster import read_rows

    day = parse_day(args.date, brussels_date(store.clock.now()))
    bad: list[tuple[int, str]] = []
    skipped_people = 0
    if args.source is not None:
        good, bad = read_rows(args.source)
        for line, reason in bad:
            print(f"line {line}: refused: {reason}")
        good, skipped_people = _without_gate_refusals(
            store, config, day, good, args.include_refused
        )
        crew = [row for _line, row in good]
    else:
        crew = crew_from_roster(store, day)
    done = preregister(store, config.site.workplace_id, day, crew)
    for reason in done.skipped:
        print(f"skipped {reason}")
    relay = Relay(config, store)
    try:
        report = relay.run_once()
    finally:
        relay.close()
    print(
        f"{day}: {done.created} planned presences added, {done.existing} already there; "
        f"sent {report.sent}, registered {report.registered}, rejected {report.rejected}"
        + (
            " (registry unavailable: the running controller will retry)"
            if report.unavailable
            else ""
        )
    )
    return EXIT_FAILED if bad or done.skipped or skipped_people else EXIT_OK


def _without_gate_refusals(
    store: Store,
    config: ControllerConfig,
    day: date,
    rows: list[tuple[int, RosterRow]],
    include: bool,
) -> tuple[list[tuple[int, RosterRow]], int]:
    """The crew rows the gates would admit on ``day``; each one they would refuse is named
    with why, and kept only with ``include`` (then the gate still refuses them)."""
    from controller.manage import gate_would_refuse, masked_person

    refused = gate_would_refuse(
        store, day, [row for _line, row in rows], config.policy.unknown_person
    )
    kept: list[tuple[int, RosterRow]] = []
    skipped = 0
    for line, row in rows:
        why = refused.get((row.person_kind, row.person_id))
        if why is None:
            kept.append((line, row))
            continue
        who = masked_person(row) + (f" ({row.name})" if row.name else "")
        if include:
            print(f"line {line}: warning: {who}: {why}: the gate will refuse them; sent anyway")
            kept.append((line, row))
        else:
            print(f"line {line}: skipped: {who}: {why}: the gate would refuse them "
                  "(--include-refused sends them anyway)")  # fmt: skip
            skipped += 1
    return kept, skipped


def _quarantine(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    if args.replay:
        from controller.quarantine import replay

        done = replay(store, config)
        print(f"{done.stored} check-ins stored, {done.still_refused} still refused")
        return EXIT_OK
    print(render(views.quarantined(store), views.QUARANTINE_COLUMNS, args.format))
    return EXIT_OK


def _requeue(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller.manage import parse_day, requeue

    day = parse_day(args.date, brussels_date(store.clock.now()))
    count = requeue(store, args.state, day)
    print(f"{day}: {count} {args.state} presences will be sent again by the running controller")
    return EXIT_OK


def _same_person(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller.manage import resolve_same_person

    done = resolve_same_person(store, args.presence, args.same)
    if done.merged:
        print(f"presence {done.presence_id} merged into presence {done.other_id} "
              f"({done.state}): one person, one registration")  # fmt: skip
    else:
        print(f"presence {done.presence_id} released ({done.state}): "
              f"not the person of presence {done.other_id}")  # fmt: skip
    return EXIT_OK


def _purge(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller.retention import purge

    done = purge(store, config.retention.days, dry_run=args.dry_run)
    print(
        f"before {done.cutoff} ({config.retention.days} days): {done.checkins} check-ins, "
        f"{done.presences} presences, {done.roster} roster rows, {done.quarantine} "
        f"quarantined messages, {done.links} identity links "
        + ("would be purged (dry run)" if args.dry_run else "purged")
    )
    return EXIT_OK


def _web(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller.web.server import serve_until_stopped

    return serve_until_stopped(config, store, host=args.host, port=args.port)


def _user(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller import accounts

    if args.user_command == "list":
        rows = [
            {"name": a.name, "role": a.role, "disabled": a.disabled,
             "last_login": views.local_time(a.last_login_at)}
            for a in accounts.list_accounts(store)
        ]  # fmt: skip
        print(render(rows, ("name", "role", "disabled", "last_login")))
        return EXIT_OK
    if args.user_command in ("disable", "enable"):
        accounts.set_disabled(store, args.name, args.user_command == "disable")
        print(f"account {args.name} {args.user_command}d")
        return EXIT_OK
    accounts.check_name(args.name)
    password = _read_password(args.password_file)
    if args.user_command == "add":
        account = accounts.add_account(store, args.name, args.role, password)
        print(f"account {account.name} added ({account.role})")
    else:
        accounts.set_password(store, args.name, password)
        print(f"account {args.name}: password changed, its sessions ended")
    return EXIT_OK


def _read_password(source: Path | None) -> str:
    """From a file (first line), else typed twice at a prompt; never from the command line."""
    from controller.accounts import AccountError, check_password

    if source is not None:
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AccountError("bad_password", f"{source}: cannot read ({exc})") from None
        return check_password(text.splitlines()[0] if text else "")
    import getpass

    first = check_password(getpass.getpass("password: "))
    if getpass.getpass("again: ") != first:
        raise AccountError("bad_password", "the two passwords differ")
    return first


COMMANDS: dict[str, Callable[[argparse.Namespace, ControllerConfig, Store], int]] = {
    "run": _run,
    "roster": _roster,
    "presences": _presences,
    "onsite": _onsite,
    "anomalies": _anomalies,
    "terminals": _terminals,
    "cancel": _cancel,
    "preregister": _preregister,
    "requeue": _requeue,
    "quarantine": _quarantine,
    "purge": _purge,
    "same-person": _same_person,
    **console_cli.HANDLERS,
    "web": _web,
    "user": _user,
}


if __name__ == "__main__":
    sys.exit(main())
