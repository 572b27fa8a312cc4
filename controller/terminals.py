"""The known terminals, from ``terminals.toml`` (written by provisioning), mirrored in the
store; reloaded whenever the file's mtime changes."""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from controller import schema
from controller.errors import ConfigError
from controller.store import Store
from presence.events import is_valid_terminal_id

log = logging.getLogger(__name__)

_KEYS = {"id", "direction", "cert_serial", "revoked"}


@dataclass(frozen=True, slots=True)
class TerminalEntry:
    id: str
    direction: str
    cert_serial: str
    revoked: bool


def parse_terminals(path: Path) -> dict[str, TerminalEntry]:
    """Read ``terminals.toml``; raises ``ConfigError`` naming the file, entry and key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("unreadable", f"{path}: cannot read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("syntax", f"{path}: not valid TOML ({exc})") from None
    extra = set(raw) - {"terminal"}
    if extra:
        raise ConfigError("unknown_section", f"{path}: unknown key '{sorted(extra)[0]}'")
    entries = raw.get("terminal", [])
    if not isinstance(entries, list):
        raise ConfigError("wrong_type", f"{path}: [[terminal]] must be an array of tables")
    found: dict[str, TerminalEntry] = {}
    for number, item in enumerate(entries, start=1):
        entry = _entry(path, number, item)
        if entry.id in found:
            raise ConfigError("duplicate", f"{path}: [[terminal]] #{number} repeats id {entry.id}")
        found[entry.id] = entry
    return found


def _entry(path: Path, number: int, item: Any) -> TerminalEntry:
    where = f"{path}: [[terminal]] #{number}"
    if not isinstance(item, dict):
        raise ConfigError("wrong_type", f"{where} must be a table")
    for key in item:
        if key not in _KEYS:
            raise ConfigError("unknown_key", f"{where} unknown key '{key}'")
    for key in _KEYS:
        if key not in item:
            raise ConfigError("missing", f"{where} key '{key}' is missing")
    if not isinstance(item["id"], str) or not is_valid_terminal_id(item["id"]):
        raise ConfigError("bad_value", f"{where} key 'id' must be 1-64 of a-z 0-9 _ -")
    if item["direction"] not in ("in", "out"):
        raise ConfigError("bad_value", f"{where} key 'direction' must be in or out")
    serial = item["cert_serial"]
    if not isinstance(serial, str) or not all(c in "0123456789abcdefABCDEF" for c in serial):
        raise ConfigError("bad_value", f"{where} key 'cert_serial' must be hex")
    if not isinstance(item["revoked"], bool):
        raise ConfigError("wrong_type", f"{where} key 'revoked' must be true or false")
    return TerminalEntry(item["id"], item["direction"], serial.lower(), item["revoked"])


class TerminalRegistry:
    """The terminals this site accepts check-ins from."""

    def __init__(self, path: Path, store: Store) -> None:
        self.path = path
        self.store = store
        self._mtime: float | None = None
        self._loaded = False
        self._entries: dict[str, TerminalEntry] = {}

    def check(self, terminal_id: str) -> str | None:
        """None when ``terminal_id`` may publish; else the refusal reason code."""
        entry = self._entries.get(terminal_id)
        if entry is None:
            return "unknown_terminal"
        if entry.revoked:
            return "revoked_terminal"
        return None

    def reload_if_changed(self) -> bool:
        """Re-read the file when its mtime moved. A broken or vanished file keeps the
        previous list; at the first load it is an error (``ConfigError``): without it every
        check-in would be refused as ``unknown_terminal``."""
        try:
            mtime: float | None = os.stat(self.path).st_mtime
        except OSError as exc:
            if not self._loaded:
                raise ConfigError(
                    "terminals_missing",
                    f"{self.path}: terminals file cannot be read ({exc.strerror}); without it "
                    "every check-in would be refused: write it with sitegate-provision",
                ) from None
            mtime = None
        if self._loaded and mtime == self._mtime:
            return False
        try:
            entries = parse_terminals(self.path)
        except ConfigError as exc:
            if not self._loaded:
                raise
            log.error("terminals file not reloaded, keeping the previous list: %s", exc)
            self._mtime = mtime
            return False
        self._entries, self._mtime, self._loaded = entries, mtime, True
        self._sync(entries)
        log.info(
            "terminals loaded: %d known, %d revoked",
            len(entries),
            sum(e.revoked for e in entries.values()),
        )
        return True

    def _sync(self, entries: dict[str, TerminalEntry]) -> None:
        t = schema.terminals.c
        with self.store.transaction() as conn:
            existing = set(conn.execute(select(t.terminal_id)).scalars())
            for entry in entries.values():
                values = {
                    "direction": entry.direction,
                    "cert_serial": entry.cert_serial,
                    "revoked": entry.revoked,
                }
                if entry.id in existing:
                    conn.execute(
                        schema.terminals.update().where(t.terminal_id == entry.id).values(**values)
                    )
                else:
                    conn.execute(schema.terminals.insert().values(terminal_id=entry.id, **values))
            gone = existing - entries.keys()
            if gone:  # no longer listed: keep the history, refuse its check-ins
                conn.execute(
                    schema.terminals.update().where(t.terminal_id.in_(gone)).values(revoked=True)
                )
