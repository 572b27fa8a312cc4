"""``sitegate-controller``: the site controller and the site manager's commands."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from controller import config as config_module
from controller import views
from controller.config import ControllerConfig
from controller.errors import ControllerError
from controller.output import FORMATS, render
from controller.store import Store, open_store
from presence.clock import brussels_date

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sitegate-controller", description=__doc__)
    parser.add_argument("--config", default=config_module.DEFAULT_PATH)
    parser.add_argument(
        "--reveal", action="store_true", help="show national numbers and Limosa ids in full"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="ingest check-ins and relay presences to NSSO")
    roster = sub.add_parser("roster", help="the roster of people and their employers")
    roster_sub = roster.add_subparsers(dest="roster_command", required=True)
    roster_import = roster_sub.add_parser("import", help="import a roster CSV file")
    roster_import.add_argument("file", type=Path)
    listing = sub.add_parser("presences", help="list presences")
    listing.add_argument("--date", help="YYYY-MM-DD, today or tomorrow")
    listing.add_argument("--state", choices=views.schema.STATES)
    listing.add_argument("--format", choices=FORMATS, default="table")
    onsite = sub.add_parser("onsite", help="who is on site now (evacuation list)")
    onsite.add_argument("--format", choices=FORMATS, default="table")
    anomalies = sub.add_parser("anomalies", help="presences that need the site manager")
    anomalies.add_argument("--format", choices=FORMATS, default="table")
    cancel = sub.add_parser("cancel", help="cancel a registration")
    cancel.add_argument("receipt")
    cancel.add_argument(
        "--reason", required=True, choices=("HOLIDAY", "DISEASE", "PLANNING", "C32A")
    )
    pre = sub.add_parser("preregister", help="register tomorrow's planned crew")
    pre.add_argument("--date", default="tomorrow", help="tomorrow (default), today or YYYY-MM-DD")
    pre.add_argument("--from", dest="source", type=Path, help="crew CSV (roster columns)")
    held = sub.add_parser("quarantine", help="messages the controller refused, and why")
    held.add_argument("--format", choices=FORMATS, default="table")
    held.add_argument(
        "--replay",
        action="store_true",
        help="store check-ins refused as unknown_terminal or unstorable, if they now pass",
    )
    again = sub.add_parser("requeue", help="send rejected or cancelled presences again")
    again.add_argument("--state", required=True, choices=("rejected", "cancelled"))
    again.add_argument("--date", default="today", help="today (default), tomorrow or YYYY-MM-DD")
    terminals = sub.add_parser("terminals", help="known terminals and their status")
    terminals.add_argument("--format", choices=FORMATS, default="table")
    refused = sub.add_parser("refusals", help="refusals the terminals summarised, per minute")
    refused.add_argument("--date", default="today", help="today (default) or YYYY-MM-DD")
    refused.add_argument("--format", choices=FORMATS, default="table")
    for listing_parser in (listing, onsite, anomalies):  # --reveal after the command too
        listing_parser.add_argument("--reveal", action="store_true", default=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
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
        config = config_module.load(args.config)
        store = open_store(config.database.url)
    except ControllerError as exc:
        print(f"sitegate-controller: {exc} [{exc.code}]", file=sys.stderr)
        return EXIT_USAGE if exc.code != "unavailable" else EXIT_FAILED
    command: Callable[[argparse.Namespace, ControllerConfig, Store], int] = COMMANDS[args.command]
    try:
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
    from controller.roster import import_file

    report = import_file(store, args.file)
    print(
        f"{report.imported} rows imported, {len(report.bad)} bad rows, "
        f"{report.employers_found} waiting presences got their employer"
    )
    for line, reason in report.bad:
        print(f"line {line}: {reason}")
    return EXIT_OK if not report.bad else EXIT_FAILED


def _presences(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller.manage import parse_day

    day = parse_day(args.date, brussels_date(store.clock.now())) if args.date else None
    rows = views.presences(store, day=day, state=args.state, reveal=args.reveal)
    print(render(rows, views.PRESENCE_COLUMNS, args.format))
    return EXIT_OK


def _onsite(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    print(render(views.onsite(store, reveal=args.reveal), views.ONSITE_COLUMNS, args.format))
    return EXIT_OK


def _anomalies(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    rows = views.anomalies(store, reveal=args.reveal)
    print(render(rows, views.PRESENCE_COLUMNS, args.format))
    return EXIT_OK


def _terminals(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller.terminals import TerminalRegistry

    TerminalRegistry(config.terminals_path, store).reload_if_changed()
    print(render(views.terminals(store), views.TERMINAL_COLUMNS, args.format))
    return EXIT_OK


def _refusals(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller import refusals
    from controller.manage import parse_day

    day = parse_day(args.date, brussels_date(store.clock.now()))
    print(render(refusals.listing(store, day), refusals.COLUMNS, args.format))
    return EXIT_OK


def _cancel(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller.manage import cancel
    from controller.relay import make_registry

    registry = make_registry(config)
    try:
        result = cancel(store, registry, args.receipt, args.reason)  # type: ignore[arg-type]
    finally:
        registry.close()
    print(f"receipt {result.receipt_id}: {result.status or 'cancelled'}")
    return EXIT_OK


def _preregister(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    from controller.manage import crew_from_roster, parse_day, preregister
    from controller.relay import Relay
    from controller.roster import read_rows

    day = parse_day(args.date, brussels_date(store.clock.now()))
    if args.source is not None:
        good, bad = read_rows(args.source)
        for line, reason in bad:
            print(f"line {line}: {reason}")
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
    return EXIT_OK


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
    "refusals": _refusals,
}


if __name__ == "__main__":
    sys.exit(main())
