"""A small TOML writer for the flat files provisioning produces (tables of scalars, arrays of
tables, lists of strings). ``tomllib`` reads them back; the tests round-trip every file."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

Scalar = str | int | float | bool | date


def _string(value: str) -> str:
    # A JSON string is a TOML basic string, except that TOML forbids a raw DEL.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if text in ("inf", "-inf", "nan"):
            raise ValueError(f"TOML value out of range: {text}")
        return text
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _key(key: str) -> str:
    if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
        return key
    return _string(key)


def _scalars(table: Mapping[str, Any]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in table.items() if not isinstance(v, Mapping)]


def dumps(document: Mapping[str, Any]) -> str:
    """Top-level scalars, then ``[table]`` sections, then ``[[array]]`` sections, in the order
    given. A table holds scalars only; an array of tables is a list of such mappings."""
    lines: list[str] = []
    top = {k: v for k, v in document.items() if not _is_table(v) and not _is_table_array(v)}
    lines += _scalars(top)
    for name, value in document.items():
        if _is_table(value):
            lines += ["", f"[{_key(name)}]", *_scalars(value)]
        elif _is_table_array(value):
            for item in value:
                lines += ["", f"[[{_key(name)}]]", *_scalars(item)]
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines) + "\n"


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_table_array(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) > 0
        and all(isinstance(item, Mapping) for item in value)
    )
