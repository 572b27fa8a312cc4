"""``sitegate-terminal``: the program that runs on each turnstile.

``run --config FILE`` runs the turnstile (readers, gate, outbox, MQTT link) until SIGTERM;
``check-config FILE`` reads a config and says what is wrong with it, or prints a summary.
Exit status: 0 fine, 2 bad config, 1 the terminal could not start.
"""

from __future__ import annotations

import argparse
import logging
import sys

from presence.cli import Level, share_options
from presence.version import version_line
from terminal import config as terminal_config
from terminal.config import ConfigError, TerminalConfig
from terminal.errors import TerminalError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_START_FAILED = 1
EXIT_BAD_CONFIG = 2
DEFAULT_CONFIG = "/etc/sitegate-terminal/terminal.toml"  # where the bundle is installed


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sitegate-terminal", description="The program that runs on each turnstile."
    )
    parser.add_argument("--version", action="version", version=version_line("sitegate-terminal"))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the turnstile: readers, gate, outbox and MQTT link")
    check = sub.add_parser("check-config", help="check a terminal.toml and summarise it")
    check.add_argument(
        "file", nargs="?", metavar="FILE", help="the config to check (else --config's)"
    )
    share_options(parser, _global_options)
    return parser


def _global_options(group: argparse._ArgumentGroup, level: Level) -> None:
    group.add_argument(
        "--config",
        default=level.default(DEFAULT_CONFIG),
        metavar="FILE",
        help=f"the terminal's config (default {DEFAULT_CONFIG}, where the bundle is installed)",
    )
    group.add_argument(
        "-v", "--verbose", action="store_true", default=level.default(False),
        help="log at DEBUG level",
    )  # fmt: skip


def summary(config: TerminalConfig) -> str:
    t, b = config.terminal, config.broker
    return "\n".join(
        [
            f"{config.path}: config_version {config.config_version}, OK",
            f"terminal {t.id} ({t.direction}) at workplace {t.workplace_id}",
            f"state (outbox) in {t.state_dir}",
            f"broker {b.host}:{b.port} tls={'on' if b.tls else 'off'}"
            f" client cert={'yes' if b.cert_file else 'no'}",
            f"reader {config.reader.backend}, camera {config.camera.backend}"
            f" ({config.qr.decoder}), keypad {config.keypad.backend}",
            f"policy unknown_person={config.policy.unknown_person}"
            f" allowlist_max_age_s={config.policy.allowlist_max_age_s}"
            f" cooldown_s={config.policy.cooldown_s}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    path = getattr(args, "file", None) or args.config
    try:
        config = terminal_config.load(path)
    except ConfigError as exc:
        print(f"sitegate-terminal: bad config ({exc.code}): {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if args.command == "check-config":
        print(summary(config))
        return EXIT_OK
    return _run(config)


def _run(config: TerminalConfig) -> int:
    from terminal.app import App

    try:
        app = App(config)
        app.install_signal_handlers()
        return app.run()
    except TerminalError as exc:
        print(f"sitegate-terminal: cannot start ({exc.code}): {exc}", file=sys.stderr)
        return EXIT_START_FAILED


if __name__ == "__main__":
    sys.exit(main())
