"""Small typed readers over lxml elements that turn every surprise into ``MalformedResponse``.

Lookups are by namespace and local name, so any prefix and any whitespace are accepted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from lxml import etree

from presence.clock import BRUSSELS
from registry.errors import MalformedResponse

_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?", re.ASCII)
_DATETIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?", re.ASCII
)


class Shape:
    """The fields of one complex type: leaves (read as stripped text) and nested elements.

    ``read`` makes one pass over the children and dispatches on their Clark tag names, which
    are built once here: any prefix, any whitespace between elements, absent optional fields
    (None) are accepted; a repeated field or a leaf holding elements is ``MalformedResponse``.
    Children not named here are skipped.
    """

    __slots__ = ("_leaves", "_size", "_slots")

    def __init__(self, ns: str, leaves: Sequence[str], nested: Sequence[str] = ()) -> None:
        names = [*leaves, *nested]
        self._slots = {f"{{{ns}}}{name}": index for index, name in enumerate(names)}
        self._leaves = len(leaves)
        self._size = len(names)

    def read(self, parent: etree._Element) -> list[Any]:
        """The leaves' texts, then the nested elements, in declaration order; None if absent."""
        leaves = self._leaves
        found: list[Any] = [None] * self._size
        slots = self._slots
        # a slice builds the child list in C, faster than iterating (the stubs lack slices)
        for child in parent[:]:  # type: ignore[index]
            index = slots.get(child.tag)
            if index is None:
                continue
            if found[index] is not None:
                raise MalformedResponse(f"more than one {_local(child)} in {_local(parent)}")
            if index < leaves:
                if len(child):
                    raise MalformedResponse(f"{_local(child)} must hold text, not elements")
                value = child.text
                found[index] = value.strip() if value else ""
            else:
                found[index] = child
        return found


def need(element: etree._Element | None, name: str) -> etree._Element:
    if element is None:
        raise MalformedResponse(f"{name} is missing")
    return element


def elements(parent: etree._Element, ns: str, name: str) -> list[etree._Element]:
    tag = f"{{{ns}}}{name}"
    return [child for child in parent if child.tag == tag]


def one(parent: etree._Element, ns: str, name: str) -> etree._Element:
    found = elements(parent, ns, name)
    if len(found) != 1:
        raise MalformedResponse(f"expected one {name} in {_local(parent)}, found {len(found)}")
    return found[0]


def optional(parent: etree._Element, ns: str, name: str) -> etree._Element | None:
    found = elements(parent, ns, name)
    if len(found) > 1:
        raise MalformedResponse(f"more than one {name} in {_local(parent)}")
    return found[0] if found else None


def text(element: etree._Element) -> str:
    if len(element):
        raise MalformedResponse(f"{_local(element)} must hold text, not elements")
    return (element.text or "").strip()


def opt_text(parent: etree._Element, ns: str, name: str) -> str | None:
    found = optional(parent, ns, name)
    return None if found is None else text(found)


def need_text(value: str | None, name: str) -> str:
    if value is None:
        raise MalformedResponse(f"{name} is missing")
    return value


def to_int(value: str, what: str) -> int:
    """An xs:integer-like value; plain ASCII digits skip the regular expression."""
    if not (value.isascii() and value.isdigit()) and not _INT.fullmatch(value):
        raise MalformedResponse(f"{what} is not an integer")
    try:
        return int(value)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise MalformedResponse(f"{what} is too long") from None


def to_date(value: str, what: str) -> date:
    found = _date(value)
    if isinstance(found, str):
        raise MalformedResponse(f"{what} {found}")
    return found


def to_datetime(value: str, what: str) -> datetime:
    """An xs:dateTime; without an offset it is read as Brussels time. Result is UTC."""
    found = _datetime(value)
    if isinstance(found, str):
        raise MalformedResponse(f"{what} {found}")
    return found


@functools.lru_cache(maxsize=4096)
def _date(value: str) -> date | str:
    """The date, or what is wrong with ``value`` (cached: answers repeat the same days)."""
    match = _DATE.fullmatch(value)
    if not match:
        return "is not an xs:date"
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return "is not a real date"


@functools.lru_cache(maxsize=4096)
def _datetime(value: str) -> datetime | str:
    """The moment in UTC, or what is wrong with ``value`` (cached like ``_date``)."""
    match = _DATETIME.fullmatch(value)
    if not match:
        return "is not an xs:dateTime"
    fraction = (match[3] or "")[:7].ljust(7, "0") if match[3] else ""
    zone = (match[4] or "").replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(f"{match[1]}T{match[2]}{fraction}{zone}")
    except ValueError:
        return "is not a real time"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BRUSSELS)
    try:
        moment.astimezone(BRUSSELS)  # what every moment read is dated by later
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00, 9999-12-31T23:30:00Z
        return "is out of range"


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else "?"
