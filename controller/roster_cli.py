"""What ``sitegate-controller roster ...`` prints: the import plan, a person's history.

Kept apart from ``controller.cli`` so that the command table stays short; the work is done
by ``controller.roster``, the same functions the console's roster page calls.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from controller import roster
from controller.audit import cli_actor
from controller.output import render
from controller.store import Store

EXIT_OK, EXIT_FAILED = 0, 1


def print_plan(plan: roster.ImportPlan) -> None:
    print(
        f"{plan.source_name} ({plan.file_format}, header on line {plan.header_line}): "
        f"{plan.summary()}"
    )
    print("columns: " + ", ".join(f"{k} <- {v!r}" for k, v in plan.columns.items()))
    if plan.ignored_columns:
        print("ignored columns: " + ", ".join(repr(c) for c in plan.ignored_columns))
    for added in plan.added:
        row = added.row
        who = " ".join(x for x in (added.person, row.name or "", _employer(row)) if x)
        print(f"line {added.line}: add {who}")
    for changed in plan.changed:
        what = "; ".join(
            f"{field} {before or '-'} -> {after or '-'}"
            for field, (before, after) in changed.changes.items()
        )
        print(f"line {changed.line}: change {changed.person}: {what}")
    for refusal in plan.refused:
        print(f"line {refusal.line}: refused: {refusal.reason} [{refusal.code}]")


def _employer(row: roster.RosterRow) -> str:
    from presence.ids import CompanyId

    return str(CompanyId(row.company_id)) if row.company_id else ""


def import_file(store: Store, path: Path, dry_run: bool) -> int:
    """Show the plan; apply its good rows unless ``dry_run``. Exit 1 when rows were refused,
    so that a script notices."""
    plan = roster.plan_import(store, path)
    print_plan(plan)
    if dry_run:
        print("dry run: nothing changed")
    else:
        result = roster.apply_import(store, plan, cli_actor())
        print(
            f"applied: {result.added} added, {result.changed} changed; "
            f"{result.employers_found} waiting presences got their employer"
        )
    return EXIT_OK if not plan.refused else EXIT_FAILED


def person_command(store: Store, args: argparse.Namespace) -> int:
    person = roster.resolve_person(store, args.person)
    actor = cli_actor()
    if args.roster_command == "block":
        done = roster.block(store, person, actor)
        print(f"{done.person}: blocked ({done.rows} roster entries); the gates refuse them")
    elif args.roster_command == "unblock":
        done = roster.unblock(store, person, actor)
        print(f"{done.person}: unblocked ({done.rows} roster entries)")
    elif args.roster_command == "remove":
        done = roster.remove(store, person, args.employer, actor)
        print(f"{done.person}: removed ({done.rows} roster entries); their records stay")
    else:
        print_history(roster.history(store, person, reveal=args.reveal, actor=actor))
    return EXIT_OK


def print_history(found: dict[str, Any]) -> None:
    print(f"{found['person']} {found['name']}".rstrip())
    print("\nroster:")
    print(render(found["roster"], ("employer", "valid_from", "valid_to", "blocked", "source")))
    print("\nchecked in:")
    print(render(found["checkins"], ("at", "gate", "channel", "direction", "decision", "reason")))
    print("\npresences:")
    print(
        render(
            found["presences"],
            ("date", "employer", "state", "receipt", "validation", "remarks", "source"),
        )
    )
    if found["receipts"]:
        print("\nearlier receipts:")
        print(render(found["receipts"], ("date", "receipt", "replaced_by")))
