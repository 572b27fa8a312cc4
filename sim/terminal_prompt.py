"""``sitegate-demo terminal``: a turnstile on a laptop, driven from the keyboard.

It runs the real terminal program (flow, outbox, MQTT link to the site's broker with the
terminal's own certificate) from a provisioned ``terminal.toml``, with simulated hardware
instead of the config's: the in-process card reader with our BELPIC card emulator, the
synthetic camera, the fake keypad and gpiozero's mock pins, without a tamper switch (a mock
input reads "open", which would be a tampered enclosure). Its outbox goes into a state
directory of its own, never the real terminal's.

A person types what happens at the gate (``card``, ``l1``, ``keypad``, ``qr``), and reads
the decision and what the gate shows and sounds, in words. An admitted person walks through.
On ``quit`` (or end of input) it waits until the controller has acknowledged every check-in.
"""

from __future__ import annotations

import argparse
import dataclasses
import queue
import shlex
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO
from urllib.parse import urlencode

from presence.cli import site_dir
from presence.clock import brussels_date
from presence.ids import InvalidIdentifier, parse_inss
from sim.belpic import BelpicCard, IdentityFields, card_number
from sim.virtual_terminal import DECISION_TIMEOUT_S, Outcome, VirtualTerminal
from terminal.config import ConfigError, KeypadSection, ReaderSection, TerminalConfig, load
from terminal.drivers.gate.patterns import PATTERNS
from terminal.errors import TerminalError

SITE_CONFIG_TIMEOUT_S = 30.0  # how long to wait for the controller's site config at start
DRAIN_TIMEOUT_S = 30.0  # how long ``quit`` waits for the controller's acknowledgements
POLL_S = 0.1
CARD_YEARS = 10  # an eID card is valid for 10 years
STATE_NAME = "simulated-state"

HELP = """\
what happens at the gate:
  card NUMBER [SURNAME [GIVEN NAMES]]   a Belgian eID card with this national number
  expired NUMBER [SURNAME [GIVEN NAMES]]  the same card, expired yesterday
  l1 LIMOSA_ID [SURNAME [GIVEN NAMES]]  the QR code of a Limosa L1 certificate
  keypad DIGITS                         a national number or Limosa id typed on the keypad
  qr TEXT                               any other QR code held up to the camera
  status                                the gate's pattern, the connection, the outbox
  help                                  this list
  quit                                  wait for the controller's acknowledgements, stop
numbers may be typed with or without dots and dashes (85.07.30-033.28 or 85073003328)"""


class Usage(Exception):
    """A line the prompt cannot act on; the message says what to type instead."""


def simulated(config: TerminalConfig, state_dir: Path) -> TerminalConfig:
    """``config`` with the simulated hardware and its own state directory."""
    return dataclasses.replace(
        config,
        terminal=dataclasses.replace(config.terminal, state_dir=state_dir),
        reader=ReaderSection(backend="fake"),
        camera=dataclasses.replace(config.camera, backend="synthetic", device=""),
        keypad=KeypadSection(backend="fake", timeout_s=config.keypad.timeout_s),
        gate=dataclasses.replace(config.gate, pin_factory="mock", tamper_pin=0),
    )


def l1_url(limosa_id: str, surname: str, given_names: str) -> str:
    """The URL a Limosa L1 certificate's QR code carries (as ``sim.crew`` makes them)."""
    query = {"id": limosa_id, "1": "1", "3": surname, "4": given_names,
             "6": "PL5260001246", "7": "Budimex Posting", "9": "403170701"}  # fmt: skip
    return "https://www.limosa.be/q.html?" + urlencode(query)


def eid_card(number: str, surname: str, given_names: str, today: date,
             expired: bool = False) -> BelpicCard:  # fmt: skip
    try:
        inss = parse_inss(number).digits
    except InvalidIdentifier as exc:
        raise Usage(f"{number}: {exc}") from None
    until = today - timedelta(days=1) if expired else today + timedelta(days=365 * 5)
    fields = IdentityFields(
        card_number=card_number(f"59{inss[:8]}"),
        national_number=inss,
        surname=surname,
        given_names=given_names,
        valid_from=until - timedelta(days=365 * CARD_YEARS),
        valid_until=until,
    )
    return BelpicCard.from_fields(fields)


def describe(outcome: Outcome) -> list[str]:
    """The decision and what the gate shows and sounds, in words."""
    verdict = outcome.decided.verdict
    cred = outcome.decided.credential
    who = cred.person.masked() if cred is not None else "-"
    pattern = PATTERNS.get(outcome.pattern)
    shows = f"{outcome.pattern}: {pattern.meaning}" if pattern else outcome.pattern
    return [f"{who} {verdict.decision} ({verdict.reason})", f"  the gate shows {shows}"]


class Prompt:
    """Reads lines, acts them out on ``terminal``, prints what happened."""

    def __init__(self, terminal: VirtualTerminal, out: Callable[[str], None] = print) -> None:
        self.terminal = terminal
        self.out = out
        self.today = brussels_date(terminal.app.clock.now())

    def handle(self, line: str) -> bool:
        """Act on one line; False once the person asked to stop."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise Usage(f"cannot read that line: {exc}") from None
        if not words:
            return True
        command, rest = words[0].lower(), words[1:]
        if command in ("quit", "exit"):
            return False
        if command == "help":
            self.out(HELP)
        elif command == "status":
            self.status()
        elif command in ("card", "expired"):
            number, surname, given = self._person(rest, "NUMBER")
            card = eid_card(number, surname, given, self.today, expired=command == "expired")
            self._answer(lambda: self.terminal.present_card(card))
        elif command == "l1":
            limosa_id, surname, given = self._person(rest, "LIMOSA_ID")
            url = l1_url(limosa_id, surname, given)
            self._answer(lambda: self.terminal.show_qr(url))
        elif command == "keypad":
            digits = "".join(ch for ch in "".join(rest) if ch.isdigit())
            if not digits:
                raise Usage("keypad DIGITS: the digits a person types")
            self._answer(lambda: self.terminal.type_keys(digits))
        elif command == "qr":
            if not rest:
                raise Usage("qr TEXT: what the QR code says")
            text = " ".join(rest)
            self._answer(lambda: self.terminal.show_qr(text))
        else:
            raise Usage(f"{command!r} is not a command here; type help for the list")
        return True

    @staticmethod
    def _person(rest: list[str], what: str) -> tuple[str, str, str]:
        if not rest:
            raise Usage(f"{what} missing (type help for the list)")
        number = rest[0]
        surname = rest[1] if len(rest) > 1 else "Doe"
        given = " ".join(rest[2:]) or "Sam"
        return number, surname, given

    def _answer(self, act: Callable[[], Outcome]) -> None:
        try:
            outcome = act()
        except queue.Empty:
            self.out(f"  no decision within {DECISION_TIMEOUT_S:.0f} s; the gate shows "
                     f"{self.terminal.app.gate.pattern}")  # fmt: skip
            return
        self.decided(outcome)

    def decided(self, outcome: Outcome) -> None:
        for line in describe(outcome):
            self.out(line)
        if outcome.decided.verdict.admitted:
            self.terminal.walk_through()
            self.out("  walked through the turnstile")

    def status(self) -> None:
        app = self.terminal.app
        online = "connected to" if self.terminal.online else "not connected to"
        broker = f"{app.config.broker.host}:{app.config.broker.port}"
        self.out(f"gate shows {app.gate.pattern}; {online} the broker {broker}; "
                 f"{self.terminal.outbox_depth} check-ins waiting for the controller")  # fmt: skip


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


def config_path(args: argparse.Namespace) -> Path:
    if args.config:
        return Path(args.config)
    if not args.terminal:
        raise Usage("name the terminal (e.g. gate-1) or its --config FILE")
    return site_dir(args.dir) / "terminals" / args.terminal / "terminal.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "terminal",
        nargs="?",
        help="a terminal of the site (its bundle terminals/ID/terminal.toml in the site "
        "directory, --dir)",
    )
    parser.add_argument("--config", metavar="FILE", help="a terminal.toml (instead of ID)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help=f"the simulated terminal's outbox (default: {STATE_NAME}/ beside the config)",
    )


def run(args: argparse.Namespace, stdin: TextIO | None = None) -> int:
    """Exit status: 0 fine, 1 could not start or check-ins left unacknowledged, 2 bad
    arguments or config."""
    stdin = stdin or sys.stdin
    try:
        path = config_path(args)
        config = load(path)
    except Usage as exc:
        print(f"sitegate-demo terminal: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"sitegate-demo terminal: bad config ({exc.code}): {exc}", file=sys.stderr)
        return 2
    state_dir = args.state_dir or path.parent / STATE_NAME
    config = simulated(config, state_dir.absolute())
    try:
        terminal = VirtualTerminal(config)
    except TerminalError as exc:
        print(f"sitegate-demo terminal: cannot start ({exc.code}): {exc}", file=sys.stderr)
        return 1
    terminal.start()
    try:
        return _session(terminal, stdin)
    finally:
        terminal.stop()


def _session(terminal: VirtualTerminal, stdin: TextIO) -> int:
    config = terminal.config
    broker = f"{config.broker.host}:{config.broker.port}"
    print(f"simulated terminal {terminal.id} ({config.terminal.direction}) of workplace "
          f"{config.terminal.workplace_id}, broker {broker}, outbox in "
          f"{config.terminal.state_dir}")  # fmt: skip
    print("hardware: emulated eID cards, synthetic camera, keyboard as keypad, mock GPIO")
    print("waiting for the site's list of people from the controller ...", flush=True)
    if wait_for(lambda: terminal.app.flow.site is not None, SITE_CONFIG_TIMEOUT_S):
        print(f"ready: the gate shows {terminal.app.gate.pattern}. Type help for the commands.")
    else:
        print(f"no list from the controller after {SITE_CONFIG_TIMEOUT_S:.0f} s (is the "
              f"broker at {broker} and sitegate-controller running?): everyone is refused "
              "as unknown until it arrives. Type help for the commands.")  # fmt: skip
    prompt = Prompt(terminal)
    interactive = stdin.isatty()
    while True:
        if interactive:
            print(f"{terminal.id}> ", end="", flush=True)
        try:
            line = stdin.readline()
        except KeyboardInterrupt:  # Ctrl-C at the prompt: as quit
            print()
            break
        if not line:
            break
        if not interactive:
            print(f"{terminal.id}> {line.rstrip()}")
        try:
            if not prompt.handle(line):
                break
        except Usage as exc:
            print(f"  {exc}")
        sys.stdout.flush()
    return _drain(terminal)


def _drain(terminal: VirtualTerminal) -> int:
    waiting = terminal.outbox_depth
    if waiting:
        print(f"waiting for the controller to acknowledge {waiting} check-ins ...", flush=True)
    if wait_for(lambda: terminal.outbox_depth == 0, DRAIN_TIMEOUT_S):
        print("every check-in is acknowledged by the controller")
        return 0
    print(f"{terminal.outbox_depth} check-ins not acknowledged yet: they stay in the outbox "
          f"({terminal.config.outbox_path}) and go at the next start")  # fmt: skip
    return 1
