"""One turnstile as its own process, driven by the campaign over a control socket.

    python -m sim.chaos.terminal_proc --config gate-1.toml --control gate-1.sock \\
        --journal gate-1.journal [--pcsc] [--clock-offset S] [--clock-unsynced] [--rebooted]

It runs the real terminal program (``sim.virtual_terminal.VirtualTerminal``: ``terminal.app``
with the fake keypad, the synthetic camera and the fake card reader, or the real
pyscard -> pcscd -> vpcd path with ``--pcsc``), so the campaign can SIGKILL and SIGSTOP it
like any process. Every decision goes to the journal (``sim.chaos.journal``) as soon as the
flow made it.

The control socket (a Unix socket) takes one JSON request per connection and answers one
JSON line:

* ``{"op": "card", "card": {...}}`` (the ``card.toml`` fields of ``sim.belpic``, dates as
  ``YYYY-MM-DD``), ``{"op": "qr", "text": ...}``, ``{"op": "keys", "text": ...}``: a person
  presents a credential; the answer is the decision
  (``decision``, ``reason``, ``pattern``, ``event_id``, ``seq``);
* ``{"op": "walk"}``: the person walks through the turnstile;
* ``{"op": "clock", "offset_s": S, "synced": bool}``: the Pi's clock jumps;
* ``{"op": "state"}``: ``flow``, ``outbox_depth``, ``online``.

SIGTERM stops the terminal cleanly (the gate locked, the outbox closed).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import socket
import socketserver
import sys
import threading
from datetime import date
from pathlib import Path
from typing import Any

from sim.belpic import card_from_toml
from sim.chaos.clock import SkewedClock
from sim.chaos.journal import JournalWriter
from sim.pcscd import CardSlot
from sim.virtual_terminal import Outcome, VirtualTerminal
from terminal.flows.checkin import Decided

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024


class ControlError(ValueError):
    """A control request the terminal process cannot carry out (``code`` says why)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TerminalProcess:
    """The terminal, its journal and the handlers of the control requests."""

    def __init__(self, terminal: VirtualTerminal, clock: SkewedClock, journal: Path) -> None:
        self.terminal = terminal
        self.clock = clock
        self.journal = JournalWriter(journal, terminal.id)
        self._lock = threading.Lock()  # one person at the gate at a time
        # First observer: the journal line is on disk before anyone hears the answer.
        terminal.app.flow.observers.insert(0, self._journal)

    def _journal(self, decided: Decided) -> None:
        self.journal.write(decided, self.terminal.app.gate.pattern)

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "state":
            app = self.terminal.app
            return {
                "flow": app.flow.state,
                "outbox_depth": app.outbox.depth,
                "online": self.terminal.online,
            }
        if op == "clock":
            self.clock.set(float(request["offset_s"]), bool(request["synced"]))
            self.terminal.app.clock_sync.refresh()
            return {"offset_s": self.clock.offset_s, "synced": self.clock.synced()}
        with self._lock:
            if op == "card":
                return _answer(
                    self.terminal.present_card(card_from_request(request.get("card", {})))
                )
            if op == "qr":
                return _answer(self.terminal.show_qr(str(request["text"])))
            if op == "keys":
                return _answer(self.terminal.type_keys(str(request["text"])))
            if op == "walk":
                self.terminal.walk_through()
                return {"walked": True}
        raise ControlError("unknown_op", f"unknown control op {op!r}")


def card_from_request(data: dict[str, Any]) -> Any:
    data = dict(data)
    identity = dict(data.get("identity", {}))
    for key in ("valid_from", "valid_until"):
        if key in identity:
            identity[key] = date.fromisoformat(identity[key])
    data["identity"] = identity
    return card_from_toml(data)


def _answer(outcome: Outcome) -> dict[str, Any]:
    decided = outcome.decided
    event = decided.event
    return {
        "decision": decided.verdict.decision,
        "reason": decided.verdict.reason,
        "pattern": outcome.pattern,
        "event_id": str(event.event_id) if event else None,
        "seq": event.seq if event else None,
    }


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        raw = self.rfile.readline(MAX_REQUEST_BYTES)
        try:
            answer = self.server.process.handle(json.loads(raw))
        except ControlError as exc:
            answer = {"error": exc.code, "detail": str(exc)}
        except Exception as exc:  # reported to the campaign, which records it
            log.warning("control request failed: %s: %s", type(exc).__name__, exc)
            answer = {"error": "failed", "detail": f"{type(exc).__name__}: {exc}"}
        try:
            self.wfile.write(json.dumps(answer).encode() + b"\n")
        except OSError as exc:  # the campaign stopped waiting (this process was frozen)
            log.info("control answer not delivered: %s", exc)


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, process: TerminalProcess) -> None:
        path.unlink(missing_ok=True)
        super().__init__(str(path), _Handler)
        self.process = process


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sim.chaos.terminal_proc", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--config", type=Path, required=True, help="terminal.toml")
    parser.add_argument("--control", type=Path, required=True, help="control socket path")
    parser.add_argument("--journal", type=Path, required=True, help="decision journal path")
    parser.add_argument("--pcsc", action="store_true", help="cards through pcscd + vpcd")
    parser.add_argument("--clock-offset", type=float, default=0.0, metavar="S")
    parser.add_argument("--clock-unsynced", action="store_true", help="NTP says no")
    parser.add_argument(
        "--rebooted", action="store_true", help="a new boot: new boot id, monotonic from 0"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    clock = SkewedClock(args.clock_offset, not args.clock_unsynced, args.rebooted)
    slot = CardSlot() if args.pcsc else None
    terminal = VirtualTerminal(args.config, slot, clock=clock, clock_probe=clock.synced)
    process = TerminalProcess(terminal, clock, args.journal)
    server = _Server(args.control, process)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    terminal.start()
    threading.Thread(target=server.serve_forever, name="control", daemon=True).start()
    log.info("terminal process %s ready on %s", terminal.id, args.control)
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        if slot is not None:
            slot.remove(wait=False)
        terminal.stop()
        process.journal.close()
    return 0


def request(path: Path, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Send one control request and return the answer (raises ``OSError`` on no answer)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(body).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        raise ConnectionError("the terminal process closed the control socket")
    answer: dict[str, Any] = json.loads(data)
    return answer


if __name__ == "__main__":
    sys.exit(main())
