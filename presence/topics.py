"""The MQTT topic scheme, in one place.

``sitegate/v1/<workplace>/<terminal>/checkin``  terminal -> controller, QoS 1
``sitegate/v1/<workplace>/<terminal>/ack``      controller -> terminal, QoS 1
``sitegate/v1/<workplace>/<terminal>/status``   retained: online/offline will, heartbeat
``sitegate/v1/<workplace>/config``              retained, controller -> terminals
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from presence.errors import PresenceError

ROOT = "sitegate/v1"
MAX_LEVEL_LENGTH = 64
TerminalTopicKind = Literal["checkin", "ack", "status"]
_TERMINAL_KINDS = ("checkin", "ack", "status")


class BadTopic(PresenceError):
    """A topic outside the scheme. Codes: ``wildcard``, ``empty_level``, ``too_long``,
    ``not_ours``, ``shape``."""


@dataclass(frozen=True, slots=True)
class Topic:
    workplace: str
    kind: str
    terminal: str | None = None


def _level(value: str, what: str) -> str:
    if not value:
        raise BadTopic("empty_level", f"{what} level is empty")
    if "+" in value or "#" in value:
        raise BadTopic("wildcard", f"{what} level contains a wildcard")
    if "/" in value or "\x00" in value:
        raise BadTopic("shape", f"{what} level contains '/' or NUL")
    if len(value) > MAX_LEVEL_LENGTH:
        raise BadTopic("too_long", f"{what} level longer than {MAX_LEVEL_LENGTH}")
    return value


def terminal_topic(workplace: str, terminal: str, kind: TerminalTopicKind) -> str:
    return f"{ROOT}/{_level(str(workplace), 'workplace')}/{_level(terminal, 'terminal')}/{kind}"


def checkin_topic(workplace: str, terminal: str) -> str:
    return terminal_topic(workplace, terminal, "checkin")


def ack_topic(workplace: str, terminal: str) -> str:
    return terminal_topic(workplace, terminal, "ack")


def status_topic(workplace: str, terminal: str) -> str:
    return terminal_topic(workplace, terminal, "status")


def config_topic(workplace: str) -> str:
    return f"{ROOT}/{_level(str(workplace), 'workplace')}/config"


def subscription(workplace: str, kind: TerminalTopicKind) -> str:
    """The filter that matches ``kind`` topics of every terminal of a workplace."""
    return f"{ROOT}/{_level(str(workplace), 'workplace')}/+/{kind}"


def parse_topic(topic: str) -> Topic:
    if len(topic) > 4 * MAX_LEVEL_LENGTH:
        raise BadTopic("too_long", "topic too long")
    if not topic.startswith(ROOT + "/"):
        raise BadTopic("not_ours", f"topic does not start with {ROOT}/")
    levels = topic[len(ROOT) + 1 :].split("/")
    if len(levels) == 2 and levels[1] == "config":
        return Topic(_level(levels[0], "workplace"), "config")
    if len(levels) == 3 and levels[2] in _TERMINAL_KINDS:
        return Topic(_level(levels[0], "workplace"), levels[2], _level(levels[1], "terminal"))
    for level in levels:
        _level(level, "topic")
    raise BadTopic("shape", "topic is not one of checkin, ack, status or config")
