"""The one table of feedback patterns: what the person at the gate sees and hears.

A pattern is a timeline of steps ``(duration, green, red, amber, buzzer)``. A permanent
pattern (idle, fault, tampered, provisioning) loops until another one replaces it; a
temporary pattern plays once, then the display falls back to the permanent one.
Rules of the vocabulary: green means go, red means no, amber means "something is not
normal"; a high beep goes with green, a low buzz with red. Refusal variants all start
with the same long low buzz; what follows tells a site manager which one it was.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


class Sound(enum.Enum):
    OFF = "off"
    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class Step:
    duration: float
    green: bool = False
    red: bool = False
    amber: bool = False
    buzzer: Sound = Sound.OFF

    def __post_init__(self) -> None:
        if not self.duration > 0:
            raise ValueError(f"a step lasts a positive time, not {self.duration}")


@dataclass(frozen=True, slots=True)
class Pattern:
    name: str
    steps: tuple[Step, ...]
    permanent: bool
    meaning: str

    @property
    def duration(self) -> float:
        """Length of one pass through the timeline."""
        return sum(step.duration for step in self.steps)


def _step(duration: float, *lights: str, buzz: Sound = Sound.OFF) -> Step:
    return Step(duration, "green" in lights, "red" in lights, "amber" in lights, buzz)


# Named timing constants of the vocabulary.
FEEDBACK_S = 3.0  # how long an admitted/refused answer stays lit
SHORT_BEEP_S = 0.2
LONG_BUZZ_S = 1.0
BLINK_S = 0.25
WAIT_S = 2.0  # a credential while the gate is open for someone else


def _refused_then_amber_blinks(count: int) -> tuple[Step, ...]:
    """Red with the long low buzz, then ``count`` amber blinks on the red: the variant."""
    steps = [_step(LONG_BUZZ_S, "red", buzz=Sound.LOW)]
    for _ in range(count):
        steps += [_step(BLINK_S, "red"), _step(BLINK_S, "red", "amber")]
    rest = FEEDBACK_S - LONG_BUZZ_S - 2 * BLINK_S * count
    steps.append(_step(max(rest, BLINK_S), "red"))
    return tuple(steps)


def _short_low_beeps(count: int, *lights: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    for _ in range(count):
        steps += [_step(SHORT_BEEP_S, *lights, buzz=Sound.LOW), _step(SHORT_BEEP_S, *lights)]
    steps.append(_step(FEEDBACK_S - 2 * SHORT_BEEP_S * count, *lights))
    return tuple(steps)


_TABLE = (
    Pattern(
        "idle",
        (_step(0.1, "green"), _step(2.9)),
        permanent=True,
        meaning="ready: a short green flash every 3 s",
    ),
    Pattern(
        "admitted",
        (_step(SHORT_BEEP_S, "green", buzz=Sound.HIGH), _step(FEEDBACK_S - SHORT_BEEP_S, "green")),
        permanent=False,
        meaning="go: green 3 s, one short high beep",
    ),
    Pattern(
        "admitted_offline",
        (
            _step(SHORT_BEEP_S, "green", "amber", buzz=Sound.HIGH),
            _step(0.4, "green"),
            _step(0.6, "green", "amber"),
            _step(0.6, "green"),
            _step(0.6, "green", "amber"),
            _step(0.6, "green"),
        ),
        permanent=False,
        meaning="go, controller not reachable: green 3 s with amber blinking, one short high beep",
    ),
    Pattern(
        "refused",
        (_step(LONG_BUZZ_S, "red", buzz=Sound.LOW), _step(FEEDBACK_S - LONG_BUZZ_S, "red")),
        permanent=False,
        meaning="no: red 3 s, one long low buzz",
    ),
    Pattern(
        "refused_card_expired",
        _refused_then_amber_blinks(1),
        permanent=False,
        meaning="no, card expired: red, long low buzz, then 1 amber blink",
    ),
    Pattern(
        "refused_unknown_person",
        _refused_then_amber_blinks(2),
        permanent=False,
        meaning="no, not on this site's list: red, long low buzz, then 2 amber blinks",
    ),
    Pattern(
        "refused_not_an_l1_code",
        _refused_then_amber_blinks(3),
        permanent=False,
        meaning="no, this QR code is not a Limosa L1: red, long low buzz, then 3 amber blinks",
    ),
    Pattern(
        "refused_read_error",
        _short_low_beeps(3, "red"),
        permanent=False,
        meaning="try again, the card could not be read: red 3 s, three short low beeps",
    ),
    Pattern(
        "refused_already_inside",
        _short_low_beeps(2, "red", "amber"),
        permanent=False,
        meaning="already inside (checked in moments ago): red and amber 3 s, two short low beeps",
    ),
    Pattern(
        "wait",
        (_step(SHORT_BEEP_S, "amber", buzz=Sound.LOW), _step(WAIT_S - SHORT_BEEP_S, "amber")),
        permanent=False,
        meaning="wait, someone is passing: amber 2 s, one short low beep; present again after",
    ),
    Pattern(
        "fault",
        (_step(1.0, "amber"), _step(1.0)),
        permanent=True,
        meaning="out of order (reader, camera or broker fault): slow amber blink, 1 s on, 1 s off",
    ),
    Pattern(
        "tampered",
        (_step(0.25, "red", buzz=Sound.HIGH), _step(0.25, "amber")),
        permanent=True,
        meaning="enclosure opened: red and amber alternating fast, intermittent high alarm",
    ),
    Pattern(
        "enrolled",
        (
            _step(SHORT_BEEP_S, "green", buzz=Sound.HIGH),
            _step(SHORT_BEEP_S, "green"),
            _step(SHORT_BEEP_S, "green", buzz=Sound.HIGH),
            _step(FEEDBACK_S - 3 * SHORT_BEEP_S, "green"),
        ),
        permanent=False,
        meaning="enrolled, starting: green 3 s, two short high beeps",
    ),
    Pattern(
        "enrolment_refused",
        _refused_then_amber_blinks(4),
        permanent=False,
        meaning="the controller refused this enrolment code (expired, used, unknown): "
        "red, long low buzz, then 4 amber blinks",
    ),
    Pattern(
        "enrolment_failed",
        _short_low_beeps(3, "amber"),
        permanent=False,
        meaning="enrolment failed (controller not reached, or not this site's CA): "
        "amber 3 s, three short low beeps",
    ),
    Pattern(
        "provisioning",
        (_step(BLINK_S, "green"), _step(BLINK_S, "amber"), _step(BLINK_S, "red")),
        permanent=True,
        meaning="set-up mode: green, amber, red chasing, silent",
    ),
)

PATTERNS: Mapping[str, Pattern] = MappingProxyType({p.name: p for p in _TABLE})
DEFAULT_PATTERN = "idle"


def _cell(step: Step) -> str:
    lights = "+".join(n for n in ("green", "red", "amber") if getattr(step, n)) or "dark"
    sound = "" if step.buzzer is Sound.OFF else f" {step.buzzer.value} tone"
    return f"{lights}{sound} {step.duration:g}s"


def markdown_table() -> str:
    """The patterns as a Markdown table (docs/gate.md carries it, a test keeps it current)."""
    rows = [
        "| pattern | kind | what the person sees and hears | timeline |",
        "|---|---|---|---|",
    ]
    for p in PATTERNS.values():
        kind = "permanent (loops)" if p.permanent else f"temporary ({p.duration:g} s)"
        timeline = ", ".join(_cell(s) for s in p.steps)
        rows.append(f"| `{p.name}` | {kind} | {p.meaning} | {timeline} |")
    return "\n".join(rows) + "\n"
