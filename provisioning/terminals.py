"""The site's terminal registry, ``terminals.toml`` (read by the controller, which refuses the
events of a revoked terminal): add, list, revoke, rotate. Pure functions over records; the
commands write the result."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from provisioning import tomlgen
from provisioning.broker import ADMIN_USER, CONTROLLER_USER
from provisioning.errors import ProvisioningError

Direction = Literal["in", "out"]
DIRECTIONS: tuple[Direction, ...] = ("in", "out")
TERMINAL_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
RESERVED_IDS = frozenset({CONTROLLER_USER, ADMIN_USER})
HEX = re.compile(r"[0-9a-f]{1,40}")
_HEADER = (
    "# The site's terminals. Written by sitegate-provision (add-terminal, revoke-terminal,\n"
    "# rotate-terminal); the controller re-reads it when it changes. Do not edit by hand.\n"
)


@dataclass(frozen=True, slots=True)
class TerminalRecord:
    id: str
    direction: Direction
    cert_serial: str
    revoked: bool = False


def check_id(name: str) -> str:
    if not TERMINAL_ID.fullmatch(name):
        raise ProvisioningError(
            "bad_name",
            f"terminal name {name!r}: 1-64 of a-z 0-9 _ -, starting with a letter or digit",
        )
    if name in RESERVED_IDS:
        raise ProvisioningError("bad_name", f"terminal name {name!r} is reserved")
    return name


def check_direction(direction: str) -> Direction:
    for known in DIRECTIONS:
        if direction == known:
            return known
    raise ProvisioningError("bad_direction", f"direction {direction!r}: expected in or out")


def find(records: list[TerminalRecord], name: str) -> TerminalRecord:
    for record in records:
        if record.id == name:
            return record
    raise ProvisioningError("unknown_terminal", f"no terminal named {name!r} on this site")


def add(records: list[TerminalRecord], record: TerminalRecord) -> list[TerminalRecord]:
    check_id(record.id)
    if any(r.id == record.id for r in records):
        raise ProvisioningError("duplicate_terminal", f"a terminal named {record.id!r} exists")
    return [*records, record]


def revoke(records: list[TerminalRecord], name: str) -> list[TerminalRecord]:
    current = find(records, name)
    if current.revoked:
        raise ProvisioningError("already_revoked", f"terminal {name!r} is already revoked")
    return [replace(r, revoked=True) if r.id == name else r for r in records]


def rotate(records: list[TerminalRecord], name: str, new_serial: str) -> list[TerminalRecord]:
    current = find(records, name)
    if current.revoked:
        raise ProvisioningError(
            "revoked", f"terminal {name!r} is revoked; add it again under a new name"
        )
    return [replace(r, cert_serial=new_serial) if r.id == name else r for r in records]


def reenrol(
    records: list[TerminalRecord], name: str, direction: Direction, new_serial: str
) -> list[TerminalRecord]:
    """A known terminal enrolled again (a replaced Pi): a new certificate, and the
    direction its enrolment code gave."""
    rotated = rotate(records, name, new_serial)
    return [replace(r, direction=direction) if r.id == name else r for r in rotated]


def active_ids(records: list[TerminalRecord]) -> list[str]:
    return [r.id for r in records if not r.revoked]


def render(records: list[TerminalRecord]) -> str:
    tables = [
        {"id": r.id, "direction": r.direction, "cert_serial": r.cert_serial, "revoked": r.revoked}
        for r in records
    ]
    return _HEADER + (tomlgen.dumps({"terminal": tables}) if tables else "")


def _hex(value: object) -> str:
    if not isinstance(value, str) or not HEX.fullmatch(value):
        raise TypeError(f"cert_serial {value!r} is not lower-case hex")
    return value


def load(path: Path) -> list[TerminalRecord]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProvisioningError("bad_site", f"{path}: unreadable ({exc})") from None
    records: list[TerminalRecord] = []
    try:
        for table in document.get("terminal", []):
            records.append(
                TerminalRecord(
                    id=check_id(table["id"]),
                    direction=check_direction(table["direction"]),
                    cert_serial=_hex(table["cert_serial"]),
                    revoked=bool(table["revoked"]),
                )
            )
    except (KeyError, TypeError) as exc:
        raise ProvisioningError("bad_site", f"{path}: bad terminal entry ({exc})") from None
    return records
