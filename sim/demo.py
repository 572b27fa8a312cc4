"""``sitegate-demo``: the whole site on one machine, playing a morning shift.

A private mosquitto, the NSSO stand-in, a controller on SQLite and three terminals on
simulated hardware (the BELPIC emulator through pcscd + vpcd when this machine has them).
About fifty people check in, with an expired card, a person not on the roster, a QR code that
is no L1 code and a double pass among them; the broker goes down in the middle and NSSO
later. Each decision prints one line (ids masked); the summary must report 0 lost.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from controller import schema, views
from presence.cli import Level, share_options, site_dir_help
from presence.clock import BRUSSELS, brussels_date
from presence.version import version_line
from sim.belpic import BelpicCard, IdentityFields, card_number
from sim.crew import Worker, morning_crew
from sim.demo_site import DemoSite
from sim.virtual_terminal import Outcome, VirtualTerminal

log = logging.getLogger(__name__)

SETTLE_TIMEOUT_S = 60.0
REGISTERED_STATES = ("registered", "validated", "failed_remarks")
ANOMALY_STATES = schema.ANOMALY_STATES
NOT_AN_L1_CODE = "WIFI:S:SiteGuest;T:WPA;P:welcome2026;;"


class Shift:
    """Plays the crew through the terminals and keeps the tally."""

    def __init__(self, site: DemoSite, out: Callable[[str], None] = print) -> None:
        self.site = site
        self.out = out
        self.outcomes: list[Outcome] = []
        self.admitted_people: set[str] = set()
        self._lock = threading.Lock()

    # --- one person ----------------------------------------------------------------------

    def check_in(self, terminal: VirtualTerminal, worker: Worker, how: str = "") -> Outcome:
        how = how or worker.kind
        if how == "eid":
            outcome = terminal.present_card(card_for(worker))
        elif how == "l1":
            outcome = terminal.show_qr(worker.l1_url())
        elif how == "keypad":
            outcome = terminal.type_keys(worker.person_id)
        else:
            outcome = terminal.show_qr(NOT_AN_L1_CODE)
        if outcome.decided.verdict.admitted:
            terminal.walk_through()
        self._record(outcome, how)
        return outcome

    def _record(self, outcome: Outcome, how: str) -> None:
        decided = outcome.decided
        person = decided.credential.person if decided.credential else None
        with self._lock:
            self.outcomes.append(outcome)
            if decided.verdict.admitted and decided.event is not None and person is not None:
                self.admitted_people.add(person.digits)
            online = "" if self.site.terminals[outcome.terminal].online else "  (broker down)"
            self.out(
                f"{datetime.now(BRUSSELS):%H:%M:%S %Z} {outcome.terminal:<7} {how:<7} "
                f"{person.masked() if person else '-':<20} {decided.verdict.decision:<9}"
                f"{decided.verdict.reason:<24} {outcome.pattern}{online}"
            )

    # --- the shift -----------------------------------------------------------------------

    def play(self, crew: list[Worker]) -> None:
        entries = [self.site.terminals["gate-1"], self.site.terminals["gate-2"]]
        thirds = [crew[i::3] for i in range(3)]
        self.out("-- the gates open")
        self._in_parallel(entries, thirds[0])
        self._double_pass(crew[0])
        self.out("-- the broker goes down: terminals decide offline and keep every decision")
        self.site.broker.stop()
        self._in_parallel(entries, thirds[1])
        self.site.broker.start()
        drained_in = self.site.wait_drained()
        self.out(f"-- the broker is back: the outboxes drained in {drained_in:.1f} s")
        self.out("-- NSSO goes down (every call answers 503): the controller buffers")
        self.site.nsso.admin("/admin/faults", {"http_503_share": 1.0})
        self._in_parallel(entries, thirds[2])
        self.check_in(entries[1], crew[0], how="not_l1")
        time.sleep(2.0)
        waiting = [p for p in self.site.presences() if p["state"] in ("pending", "sent")]
        self.site.nsso.admin("/admin/faults", {"http_503_share": 0.0})
        self.out(f"-- NSSO is back: the relay sends the {len(waiting)} presences it buffered")

    def _double_pass(self, worker: Worker) -> None:
        """The same card twice at the entry, then out and in again: one registration."""
        entry, exit_ = self.site.terminals["gate-1"], self.site.terminals["gate-3"]
        self.check_in(entry, worker)
        self.check_in(exit_, worker)
        self.check_in(entry, worker)

    def _in_parallel(self, terminals: list[VirtualTerminal], workers: list[Worker]) -> None:
        lanes = [workers[i :: len(terminals)] for i in range(len(terminals))]
        threads = [
            threading.Thread(target=self._lane, args=(terminal, lane))
            for terminal, lane in zip(terminals, lanes, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _lane(self, terminal: VirtualTerminal, workers: list[Worker]) -> None:
        for worker in workers:
            try:
                self.check_in(terminal, worker)
            except Exception:
                log.exception("check-in at %s failed", terminal.id)


def card_for(worker: Worker) -> BelpicCard:
    assert worker.inss is not None and worker.card_valid_until is not None
    fields = IdentityFields(
        card_number=card_number(f"59{worker.inss[:8]}"),
        national_number=worker.inss,
        surname=worker.surname,
        given_names=worker.given_names,
        valid_from=worker.card_valid_until - timedelta(days=3652),  # not replace(): 29 Feb
        valid_until=worker.card_valid_until,
    )
    return BelpicCard.from_fields(fields)


# --- settling and the summary ------------------------------------------------------------


def settle(site: DemoSite, shift: Shift, out: Callable[[str], None]) -> list[dict[str, object]]:
    """Wait until every outbox is empty and NSSO has validated every presence."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    presences: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        depth = sum(t.outbox_depth for t in site.terminals.values())
        presences = site.presences()
        open_ = [p for p in presences if p["state"] in ("pending", "sent", "registered")]
        if depth == 0 and not open_ and len(presences) >= len(shift.admitted_people):
            return presences
        time.sleep(0.5)
    out(f"-- not settled after {SETTLE_TIMEOUT_S:.0f} s")
    return presences


# What the summary's counts mean, printed under them.
EXPLAINED = (
    "missed:  presences whose day ended before NSSO could be reached (none expected)",
    "lost:    people admitted at a gate with no presence at the controller (must be 0)",
    "doubled: a second NSSO registration of one person for one day (must be 0)",
)


def summary(
    shift: Shift, presences: list[dict[str, object]], registrations: list[dict[str, object]]
) -> tuple[list[str], int]:
    verdicts = [o.decided.verdict for o in shift.outcomes]
    refused = Counter(v.reason for v in verdicts if not v.admitted)
    by_state = Counter(str(p["state"]) for p in presences)
    receipts = [p for p in presences if p["receipt"] and p["state"] in REGISTERED_STATES]
    accounted = {
        "".join(ch for ch in str(p["person"]) if ch.isdigit())
        for p in presences
        if p["state"] in REGISTERED_STATES or p["state"] in ANOMALY_STATES
    }
    lost = len(shift.admitted_people - accounted)
    # Nothing doubled: NSSO holds one registration per person and day (never a second one
    # that would carry its SAME DECLARATION remark).
    per_person_day = Counter(
        (r["inss"] or r["limosa_id"], r["registration_date"]) for r in registrations
    )
    doubled = sum(n - 1 for n in per_person_day.values())
    admitted = sum(v.admitted for v in verdicts)
    anomalies = {s: by_state[s] for s in ANOMALY_STATES if by_state[s]}
    lines = [
        f"admitted      {admitted} times, {len(shift.admitted_people)} different people",
        f"refused       {sum(refused.values())}"
        + "".join(
            f"\n                 {n} x {_refusal_words(r)}" for r, n in sorted(refused.items())
        ),
        f"registered    {len(receipts)} presences with an NSSO receipt "
        f"({by_state['validated']} validated, {by_state['failed_remarks']} with remarks)",
        f"anomalies     {sum(anomalies.values())}"
        + "".join(
            f"\n                 {n} x {_STATE_WORDS.get(s, s)}" for s, n in anomalies.items()
        ),
        f"missed        {by_state['missed']}",
        f"lost          {lost}",
        f"doubled       {doubled} (NSSO holds {len(registrations)} registrations)",
        *EXPLAINED,
    ]
    return lines, lost + doubled


_STATE_WORDS = {
    schema.NEEDS_EMPLOYER: "need an employer",
    schema.REJECTED: "refused by NSSO",
    schema.FAILED_REMARKS: "registered with remarks",
    schema.MISSED: "missed",
    schema.POSSIBLE_SAME: "maybe the same person",
}


def _refusal_words(reason: str) -> str:
    words = views.NOT_PUBLISHED.get(reason) or views.REFUSAL_REASONS.get(reason) or reason
    return f"{words} ({reason})"


def print_summary(lines: list[str]) -> None:
    print("-- summary")
    for line in lines:
        print("   " + line)


def command_hint(name: str) -> str:
    """How to run our command ``name`` from here, as it must be typed: the virtual
    environment's script (``.venv/bin/sitegate-controller`` from the repository)."""
    script = Path(sys.executable).parent / name
    if not script.exists():
        return name
    relative = os.path.relpath(script)
    return relative if not relative.startswith("..") else str(script)


def stay(site: DemoSite) -> None:
    """``--stay``: the site stays up (console included) until Ctrl-C."""
    print(f"-- the site stays up: console {site.console_url}; Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("-- stopping the site")


COMMANDS = ("shift", "chaos", "terminal")


def build_parser() -> argparse.ArgumentParser:
    from sim import terminal_prompt
    from sim.chaos import cli as chaos_cli

    parser = argparse.ArgumentParser(
        prog="sitegate-demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Without a command: the shift. sitegate-demo COMMAND --help: its options.",
    )
    parser.add_argument("--version", action="version", version=version_line("sitegate-demo"))
    sub = parser.add_subparsers(dest="command", metavar="{shift,chaos,terminal}")
    shift = sub.add_parser(
        "shift",
        help="the whole site on this machine, playing a morning shift (the default)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    shift.add_argument("--seed", type=int, default=2026, help="which crew (default %(default)s)")
    shift.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    shift.add_argument(
        "--stay", action="store_true", help="keep the site and its console up after the shift"
    )
    chaos = sub.add_parser(
        "chaos", help="the fault campaign (make chaos)", description=chaos_cli.DESCRIPTION
    )
    chaos_cli.add_arguments(chaos)
    terminal = sub.add_parser(
        "terminal",
        help="a simulated turnstile of your site, driven from the keyboard",
        description=terminal_prompt.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=terminal_prompt.HELP,
    )
    terminal_prompt.add_arguments(terminal)
    share_options(parser, _global_options)
    return parser


def _global_options(group: argparse._ArgumentGroup, level: Level) -> None:
    group.add_argument(
        "--dir",
        default=level.default(None),
        help="shift, chaos: the work directory to keep (default: a temporary one); "
        "terminal: " + site_dir_help(),
    )
    group.add_argument(
        "--no-pcscd",
        action="store_true",
        default=level.default(False),
        help="shift, chaos: the in-process card reader everywhere, not pcscd + vpcd",
    )
    group.add_argument(
        "-v", "--verbose", action="store_true", default=level.default(False),
        help="log what happens",
    )  # fmt: skip


def with_default_command(argv: list[str]) -> list[str]:
    """Without a command, the shift (what `make demo` runs); ``--help`` alone is the
    demo's own help."""
    asks_top = any(a in ("-h", "--help", "--version") for a in argv)
    if any(a in COMMANDS for a in argv) or asks_top:
        return list(argv)
    return ["shift", *argv]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(with_default_command(sys.argv[1:] if argv is None else argv))
    if args.command == "chaos":
        from sim.chaos import cli as chaos_cli

        return chaos_cli.run_parsed(parser, args)
    if args.command == "terminal":
        from sim import terminal_prompt

        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.ERROR,
            format="%(levelname)s %(name)s: %(message)s",
        )
        return terminal_prompt.run(args)
    return run_shift(args)


def run_shift(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
    started = time.monotonic()
    today = brussels_date(datetime.now(UTC))
    crew = morning_crew(today, args.seed)
    workdir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="sitegate-demo-"))
    print(f"sitegate demo: {len(crew)} workers, work directory {workdir}")
    with DemoSite(workdir, crew, today, use_pcscd=not args.no_pcscd) as site:
        print(f"site {site.nsso.endpoint} | broker 127.0.0.1:{site.broker.port} | "
              f"gate-1 card reader: {site.card_reader}")  # fmt: skip
        if site.console_url:
            print(f"console {site.console_url}  (sign in as {site.console_user}, "
                  f"password {site.console_password}): watch the shift live")  # fmt: skip
        shift = Shift(site)
        shift.play(crew)
        presences = settle(site, shift, print)
        lines, lost = summary(shift, presences, site.nsso.registrations())
        if args.stay:
            print_summary(lines)
            stay(site)
    if not args.stay:
        print_summary(lines)
    elapsed = time.monotonic() - started
    if args.dir is None and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"-- done in {elapsed:.0f} s; work directory removed "
              "(--keep or --dir DIR keeps it, to look at the site afterwards)")  # fmt: skip
    else:
        controller = command_hint("sitegate-controller")
        config = workdir / "controller.toml"
        print(f"-- done in {elapsed:.0f} s; the site manager's view:\n"
              f"   {controller} --config {config} presences\n"
              f"   {controller} --config {config} anomalies")  # fmt: skip
    return 0 if lost == 0 else 1  # lost or doubled


if __name__ == "__main__":
    sys.exit(main())
