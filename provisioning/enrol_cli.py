"""The ``enrol`` command of ``sitegate-provision`` (registered by ``provisioning.cli``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from provisioning import enrol_code
from provisioning.fileset import PUBLIC, FileSet
from provisioning.terminals import DIRECTIONS


def add_parser(sub: argparse._SubParsersAction) -> None:
    enrol = sub.add_parser("enrol", help="a single-use QR code a new terminal enrols itself with")
    enrol.add_argument("name", help="terminal id, e.g. gate-3")
    enrol.add_argument("--direction", required=True, choices=DIRECTIONS)
    enrol.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a terminal.toml setting, e.g. keypad.backend=evdev (repeatable)",
    )
    enrol.add_argument("--valid", default="15m", help="how long the code works (default 15m)")
    enrol.add_argument("--png", type=Path, help="also write the QR code to this PNG file")
    enrol.add_argument("--no-qr", action="store_true", help="do not draw the QR code here")


def run(args: argparse.Namespace) -> int:
    code = enrol_code.new_code(args.dir, args.name, args.direction, args.settings, args.valid)
    if not args.no_qr:
        print(enrol_code.qr_terminal(code.text), end="")
    if args.png is not None:
        files = FileSet()
        files.write(args.png.absolute(), enrol_code.qr_png(code.text), PUBLIC)
        files.commit()
        print(f"QR code written to {args.png}")
    expires = code.token.expires_at.isoformat(timespec="seconds")
    print(f"enrolment code for {code.terminal_id} ({code.direction}), single use, "
          f"valid until {expires}: show it to the terminal's camera")  # fmt: skip
    return 0
