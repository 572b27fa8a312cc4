"""The real terminal program (``terminal.app.App``) with fake input back-ends, for process tests.

    python -m tests.terminal.terminal_process CONFIG [synced|unsynced]

Each stdin line ``type DIGITS`` is typed on the fake keypad followed by Enter; every decision
is printed as ``decided <decision> <reason> <event_id or ->`` once the gate has moved. The
clock probe answers as the second argument says (no systemd-timedated in a test container).
"""

from __future__ import annotations

import logging
import sys
import threading

from terminal import config as terminal_config
from terminal.app import App
from terminal.flows.checkin import Decided


def report(decided: Decided) -> None:
    event = decided.event.event_id if decided.event else "-"
    print(f"decided {decided.verdict.decision} {decided.verdict.reason} {event}", flush=True)


def feed(app: App) -> None:
    keypad = app.drivers["keypad"]
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "type":
            keypad.type(argument + "\n")


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")  # fmt: skip
    config = terminal_config.load(sys.argv[1])
    synced = len(sys.argv) > 2 and sys.argv[2] == "synced"
    app = App(config, clock_probe=lambda: synced)
    app.flow.observers.append(report)
    app.install_signal_handlers()
    threading.Thread(target=feed, args=(app,), daemon=True).start()
    return app.run()


if __name__ == "__main__":
    sys.exit(main())
