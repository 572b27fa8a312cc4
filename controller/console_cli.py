"""The site-manager commands that match the console's pages: refusals at the gate, a
registration by hand, acting on anomalies, the proof for an inspection, the evacuation
list, the audit trail. Each calls the function the page calls; ``controller.cli`` only
declares the arguments (``add_commands``) and dispatches here.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import cast

from controller import anomaly_actions, audit, doors, reports, views
from controller.audit import cli_actor
from controller.config import ControllerConfig
from controller.errors import ControllerError
from controller.output import FORMATS, render
from controller.store import Store
from presence.clock import brussels_date

EXIT_OK = 0
Command = Callable[[argparse.Namespace, ControllerConfig, Store], int]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare this module's commands on ``sub`` (their handlers are in ``HANDLERS``)."""
    refused = sub.add_parser(
        "refused", aliases=["refusals"], help="refusals at the gates today (time, gate, reason)"
    )
    refused.add_argument("--date", help="YYYY-MM-DD, today (default) or tomorrow")
    refused.add_argument("--format", choices=FORMATS, default="table")
    register = sub.add_parser(
        "register",
        help="register a worker by hand (card broken or forgotten), as if at a gate",
    )
    register.add_argument("person", help="national number or Limosa id")
    register.add_argument("--company", help="employer's enterprise number (national numbers)")
    register.add_argument("--date", default="today", help="today (default) or tomorrow")
    anomaly = sub.add_parser("anomaly", help="act on an anomaly (see `anomalies`)")
    anomaly_sub = anomaly.add_subparsers(dest="anomaly_command", required=True)
    assign = anomaly_sub.add_parser("assign-employer", help="give a presence its employer")
    assign.add_argument("presence", type=int)
    assign.add_argument("company", help="an employer's enterprise number from the roster")
    again = anomaly_sub.add_parser(
        "requeue", help="send one rejected / failed_remarks presence again after a correction"
    )
    again.add_argument("presence", type=int)
    again.add_argument(
        "--reason",
        default=anomaly_actions.CORRECTION_REASON,
        choices=("HOLIDAY", "DISEASE", "PLANNING", "C32A"),
        help="NSSO's cancel reason for a registered presence (default PLANNING: the "
        "planning changed; see cancel --help for the others)",
    )
    ack = anomaly_sub.add_parser("ack", help="acknowledge a missed presence")
    ack.add_argument("presence", type=int)
    ack.add_argument("--comment", required=True, help="what was done about it")
    stuck = anomaly_sub.add_parser("stuck", help="presences stuck in sent")
    stuck.add_argument("--format", choices=FORMATS, default="table")
    proof = sub.add_parser("proof", help="a day's registrations as a PDF for an inspection")
    proof.add_argument("--date", default="today", help="YYYY-MM-DD, today (default)")
    proof.add_argument("--out", type=Path, required=True, help="the PDF file to write")
    evacuation = sub.add_parser("evacuation", help="who is on site now, as an A4 PDF")
    evacuation.add_argument("--out", type=Path, required=True, help="the PDF file to write")
    trail = sub.add_parser("audit", help="who did what, newest first")
    trail.add_argument("--action", help="an action or its prefix (roster, export, reveal...)")
    trail.add_argument("--limit", type=int, default=100)
    trail.add_argument("--format", choices=FORMATS, default="table")


def _day(store: Store, text: str | None) -> date:
    from controller.manage import parse_day

    return parse_day(text or "today", brussels_date(store.clock.now()))


def _refused(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    rows = views.gate_refusals(store, _day(store, args.date), reveal=args.reveal)
    print(render(rows, views.GATE_REFUSAL_COLUMNS, args.format))
    if args.format == "table":
        print("\nrows without a person: refusals that name nobody (or repeat one), counted by "
              "the gate per minute; they arrive some minutes later")  # fmt: skip
    return EXIT_OK


def _register(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    actor = cli_actor()
    try:
        done = doors.register_by_hand(
            store,
            config,
            user=actor.who,
            person=args.person,
            company=args.company,
            day=_day(store, args.date),
            actor=actor,
        )
    except doors.DoorError as exc:
        raise ControllerError(exc.code, f"{exc.field}: {exc}") from None
    if done.decision != "admitted":
        print(f"{done.day}: refused ({done.reason}): {views.REFUSAL_REASONS.get(done.reason, '')}")
        return 1
    how = "planned presence" if done.ack is None else f"check-in {done.ack.status}"
    print(f"{done.day}: {how}; presence {done.presence_id} {done.presence_state}")
    return EXIT_OK


def _anomaly(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    actor = cli_actor()
    command = args.anomaly_command
    if command == "stuck":
        rows = anomaly_actions.stuck_in_sent(store, reveal=args.reveal)
        print(render(rows, anomaly_actions.STUCK_COLUMNS, args.format))
        return EXIT_OK
    if command == "assign-employer":
        done = anomaly_actions.assign_employer(store, args.presence, args.company, actor)
    elif command == "ack":
        done = anomaly_actions.acknowledge_missed(store, args.presence, args.comment, actor)
    else:
        from controller.relay import make_registry

        registry = cast(anomaly_actions.Canceller, make_registry(config))  # the real client
        try:
            done = anomaly_actions.requeue_presence(
                store, args.presence, registry=registry, reason=args.reason, actor=actor
            )
        finally:
            registry.close()  # type: ignore[attr-defined]
    print(f"presence {done.presence_id}: {done.message}")
    return EXIT_OK


def _proof(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    made = reports.proof_pdf(store, config, _day(store, args.date), reveal=args.reveal,
                             actor=cli_actor())  # fmt: skip
    return _write(args.out, made)


def _evacuation(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    return _write(args.out, reports.evacuation_pdf(store, config, reveal=args.reveal,
                                                   actor=cli_actor()))  # fmt: skip


def _write(path: Path, made: reports.Export) -> int:
    try:
        path.write_bytes(made.data)
    except OSError as exc:
        raise ControllerError("unwritable", f"{path}: cannot write ({exc.strerror})") from None
    print(f"{path}: {len(made.data)} bytes")
    return EXIT_OK


def _audit(args: argparse.Namespace, config: ControllerConfig, store: Store) -> int:
    rows = audit.entries(store, action=args.action, limit=args.limit)
    print(render(rows, audit.AUDIT_COLUMNS, args.format))
    return EXIT_OK


# Commands whose functions audit their own reveal (with what was revealed).
_SELF_AUDITED = {("roster", "history"), ("proof", None), ("evacuation", None)}


def audit_reveal(store: Store, args: argparse.Namespace) -> None:
    """A command run with ``--reveal`` shows numbers in full: the audit trail says who."""
    if not getattr(args, "reveal", False) or args.command == "run":
        return
    sub = getattr(args, "roster_command", None) or getattr(args, "anomaly_command", None)
    if (args.command, sub) in _SELF_AUDITED:
        return
    target = " ".join(x for x in (args.command, sub) if x)
    with store.transaction() as conn:
        audit.record_by(conn, cli_actor(), store.clock.now(), "reveal", target, "--reveal")


HANDLERS: dict[str, Command] = {
    "refused": _refused,
    "refusals": _refused,  # the alias of refused
    "register": _register,
    "anomaly": _anomaly,
    "proof": _proof,
    "evacuation": _evacuation,
    "audit": _audit,
}
