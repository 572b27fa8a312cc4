"""The red banner of every page: NSSO or the broker unreachable for more than 5 minutes, a
terminal silent or tampered. ``controller.health`` decides; the console only shows it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controller.web.door import Door


@dataclass
class Banner:
    level: str = "bad"
    lines: list[str] = field(default_factory=list)


def banner(door: Door) -> Banner | None:
    return None
