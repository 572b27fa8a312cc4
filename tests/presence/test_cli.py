"""``presence.cli``: options before or after the subcommand, and the site directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from presence.cli import DEFAULT_SITE_DIR, SITE_DIR_ENV, Level, share_options, site_dir


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tool")
    sub = parser.add_subparsers(dest="command", required=True)
    roster = sub.add_parser("roster")
    roster_sub = roster.add_subparsers(dest="roster_command", required=True)
    roster_sub.add_parser("list")
    sub.add_parser("run")

    def declare(group: argparse._ArgumentGroup, level: Level) -> None:
        group.add_argument("--dir", default=level.default(None))
        group.add_argument("-v", action="store_true", default=level.default(False))

    share_options(parser, declare)
    return parser


def test_a_global_option_before_the_subcommand_is_kept() -> None:
    args = _parser().parse_args(["--dir", "/s", "-v", "run"])
    assert args.dir == "/s" and args.v is True


def test_a_global_option_after_the_subcommand_is_taken() -> None:
    args = _parser().parse_args(["run", "--dir", "/s"])
    assert args.dir == "/s" and args.v is False


def test_a_global_option_after_a_nested_subcommand_is_taken() -> None:
    args = _parser().parse_args(["roster", "list", "--dir", "/s", "-v"])
    assert args.dir == "/s" and args.v is True


def test_a_global_option_given_twice_takes_the_later() -> None:
    assert _parser().parse_args(["--dir", "/a", "run", "--dir", "/b"]).dir == "/b"


def test_without_a_global_option_its_default_applies() -> None:
    args = _parser().parse_args(["roster", "list"])
    assert args.dir is None and args.v is False


def test_site_dir_prefers_the_option_then_the_environment_then_etc() -> None:
    assert site_dir("/given", environ={SITE_DIR_ENV: "/env"}) == Path("/given")
    assert site_dir(None, environ={SITE_DIR_ENV: "/env"}) == Path("/env")
    assert site_dir(None, environ={}) == Path(DEFAULT_SITE_DIR)
    assert site_dir(None, environ={SITE_DIR_ENV: "  "}) == Path(DEFAULT_SITE_DIR)


def test_a_subcommand_that_declared_a_global_option_itself_takes_the_shared_one() -> None:
    parser = argparse.ArgumentParser(prog="tool")
    sub = parser.add_subparsers(dest="command", required=True)
    enrol = sub.add_parser("enrol")
    enrol.add_argument("--dir", default="/its/own")

    def declare(group: argparse._ArgumentGroup, level: Level) -> None:
        group.add_argument("--dir", default=level.default(None))

    share_options(parser, declare)
    assert parser.parse_args(["--dir", "/s", "enrol"]).dir == "/s"
    assert parser.parse_args(["enrol", "--dir", "/t"]).dir == "/t"
    assert parser.parse_args(["enrol"]).dir is None
