"""What the sitegate commands share on their command lines.

- **Options before or after the subcommand.** ``share_options(parser, declare)`` declares a
  command's global options on the parser *and* on every subcommand (at any depth), so that
  ``sitegate-provision --dir X poster`` and ``sitegate-provision poster --dir X`` mean the
  same. Below the top the options default to "not given" (``argparse.SUPPRESS``), so a value
  given before the subcommand is not overwritten by a subcommand's default; given twice, the
  later one wins.
- **The site directory.** ``--dir``, else ``$SITEGATE_SITE_DIR``, else ``/etc/sitegate``
  (``site_dir``): what ``sitegate-provision`` writes into and ``sitegate-controller`` reads
  its ``controller/controller.toml`` from.

Only argparse and the environment: every package may use it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SITE_DIR_ENV = "SITEGATE_SITE_DIR"
DEFAULT_SITE_DIR = "/etc/sitegate"
SHARED_TITLE = "options of every command (before or after the subcommand)"


def site_dir(given: str | os.PathLike[str] | None = None,
             environ: Mapping[str, str] | None = None) -> Path:  # fmt: skip
    """``given`` (``--dir``), else ``$SITEGATE_SITE_DIR``, else ``/etc/sitegate``."""
    if given:
        return Path(given)
    from_env = (os.environ if environ is None else environ).get(SITE_DIR_ENV, "").strip()
    return Path(from_env or DEFAULT_SITE_DIR)


def site_dir_help(what: str = "the site directory") -> str:
    """The help text of ``--dir``: where the default comes from, and what it is now."""
    return (
        f"{what} (default: ${SITE_DIR_ENV} if set, else {DEFAULT_SITE_DIR}; "
        f"here and now: {site_dir()})"
    )


@dataclass(frozen=True, slots=True)
class Level:
    """Where ``declare`` is declaring: on the command itself (``top``) or on a subcommand."""

    top: bool

    def default(self, value: Any) -> Any:
        """``value`` on the command itself; "not given" below it, so that an option given
        before the subcommand keeps its value."""
        return value if self.top else argparse.SUPPRESS


Declare = Callable[[argparse._ArgumentGroup, Level], None]


def share_options(parser: argparse.ArgumentParser, declare: Declare) -> None:
    """Declare the global options (``declare(group, level)``) on ``parser`` and on each of
    its subcommands, at any depth. Call it once every subcommand has been added."""
    declare(parser.add_argument_group(SHARED_TITLE), Level(top=True))
    for sub in subcommands(parser):
        # A subcommand that declared one of them itself (``--dir``, ``-v``) gets the shared
        # one instead, so that a value given before the subcommand still counts there.
        handler, sub.conflict_handler = sub.conflict_handler, "resolve"
        try:
            declare(sub.add_argument_group(SHARED_TITLE), Level(top=False))
        finally:
            sub.conflict_handler = handler


def subcommands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every subcommand parser below ``parser`` (each once, aliases included)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: dict[int, argparse.ArgumentParser] = {}
            for sub in action.choices.values():
                seen.setdefault(id(sub), sub)
            for sub in seen.values():
                yield sub
                yield from subcommands(sub)
