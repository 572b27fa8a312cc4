"""Small typed readers over lxml elements that turn every surprise into ``MalformedResponse``.

Lookups are by namespace and local name, so any prefix and any whitespace are accepted.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime

from lxml import etree

from presence.clock import BRUSSELS
from registry.errors import MalformedResponse

_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?", re.ASCII)
_DATETIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?", re.ASCII
)


def pick(parent: etree._Element, slots: dict[str, int]) -> list[etree._Element | None]:
    """The children named in ``slots`` (tag -> index) in one pass; each at most once.

    The decoders' fast path: one loop over the children instead of one search per field.
    """
    found: list[etree._Element | None] = [None] * len(slots)
    for child in parent:
        index = slots.get(child.tag)
        if index is not None:
            if found[index] is not None:
                raise MalformedResponse(f"more than one {_local(child)} in {_local(parent)}")
            found[index] = child
    return found


def need(element: etree._Element | None, name: str) -> etree._Element:
    if element is None:
        raise MalformedResponse(f"{name} is missing")
    return element


def maybe_text(element: etree._Element | None) -> str | None:
    return None if element is None else text(element)


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


def to_int(value: str, what: str) -> int:
    if not _INT.fullmatch(value):
        raise MalformedResponse(f"{what} is not an integer")
    return int(value)


@functools.lru_cache(maxsize=4096)
def to_date(value: str, what: str) -> date:
    match = _DATE.fullmatch(value)
    if not match:
        raise MalformedResponse(f"{what} is not an xs:date")
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise MalformedResponse(f"{what} is not a real date") from None


@functools.lru_cache(maxsize=4096)
def to_datetime(value: str, what: str) -> datetime:
    """An xs:dateTime; without an offset it is read as Brussels time. Result is UTC."""
    match = _DATETIME.fullmatch(value)
    if not match:
        raise MalformedResponse(f"{what} is not an xs:dateTime")
    fraction = (match[3] or "")[:7].ljust(7, "0") if match[3] else ""
    zone = (match[4] or "").replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(f"{match[1]}T{match[2]}{fraction}{zone}")
    except ValueError:
        raise MalformedResponse(f"{what} is not a real time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BRUSSELS)
    return moment.astimezone(UTC)


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else "?"
