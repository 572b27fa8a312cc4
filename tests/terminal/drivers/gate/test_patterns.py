from __future__ import annotations

from pathlib import Path

import pytest

from terminal.drivers.gate import PATTERNS, Sound, Step
from terminal.drivers.gate.patterns import markdown_table

REPO = Path(__file__).resolve().parents[4]
DOCS = (REPO / "docs" / "gate.md", REPO / "README.md")

CONTRACT_NAMES = {
    "idle",
    "admitted",
    "admitted_offline",
    "refused",
    "refused_card_expired",
    "refused_unknown_person",
    "refused_not_an_l1_code",
    "refused_read_error",
    "refused_already_inside",
    "wait",
    "fault",
    "tampered",
    "provisioning",
    "enrolled",
    "enrolment_refused",
    "enrolment_failed",
}
REFUSALS = sorted(n for n in CONTRACT_NAMES if n.startswith("refused"))


def test_the_table_has_exactly_the_agreed_names() -> None:
    assert set(PATTERNS) == CONTRACT_NAMES
    assert all(p.name == name for name, p in PATTERNS.items())


def test_permanent_patterns_are_the_background_states() -> None:
    permanent = {n for n, p in PATTERNS.items() if p.permanent}
    assert permanent == {"idle", "fault", "tampered", "provisioning"}


def test_every_pattern_looks_or_sounds_different() -> None:
    timelines = [p.steps for p in PATTERNS.values()]
    assert len(set(timelines)) == len(timelines)


def test_admitted_is_green_with_one_short_high_beep() -> None:
    steps = PATTERNS["admitted"].steps
    assert all(s.green and not s.red for s in steps)
    beeps = [s for s in steps if s.buzzer is not Sound.OFF]
    assert [b.buzzer for b in beeps] == [Sound.HIGH]
    assert beeps[0].duration <= 0.3


def test_admitted_offline_is_green_with_amber() -> None:
    steps = PATTERNS["admitted_offline"].steps
    assert all(s.green and not s.red for s in steps)
    assert any(s.amber for s in steps) and not all(s.amber for s in steps)
    assert steps[0].buzzer is Sound.HIGH


def test_wait_is_amber_alone_with_one_short_low_beep() -> None:
    steps = PATTERNS["wait"].steps
    assert all(s.amber and not s.green and not s.red for s in steps)
    assert [s.buzzer for s in steps if s.buzzer is not Sound.OFF] == [Sound.LOW]
    assert not PATTERNS["wait"].permanent


@pytest.mark.parametrize("name", REFUSALS)
def test_refusals_are_red_and_never_green(name: str) -> None:
    steps = PATTERNS[name].steps
    assert all(s.red and not s.green for s in steps)
    assert steps[0].buzzer is Sound.LOW
    assert all(s.buzzer in (Sound.OFF, Sound.LOW) for s in steps)


def test_refused_has_a_long_buzz() -> None:
    assert PATTERNS["refused"].steps[0] == Step(1.0, red=True, buzzer=Sound.LOW)


def test_fault_is_a_slow_silent_amber_blink() -> None:
    steps = PATTERNS["fault"].steps
    assert [s.amber for s in steps] == [True, False]
    assert all(not (s.green or s.red) and s.buzzer is Sound.OFF for s in steps)
    assert all(s.duration >= 0.5 for s in steps)


def test_tampered_has_its_own_alarm() -> None:
    steps = PATTERNS["tampered"].steps
    assert any(s.buzzer is not Sound.OFF for s in steps)
    assert steps != PATTERNS["fault"].steps


def test_temporary_patterns_end_within_a_few_seconds() -> None:
    for pattern in PATTERNS.values():
        if not pattern.permanent:
            assert 2.0 <= pattern.duration <= 4.0, pattern.name


def test_a_step_cannot_last_zero_seconds() -> None:
    with pytest.raises(ValueError):
        Step(0.0)


def test_docs_show_the_current_table() -> None:
    for doc in DOCS:
        assert markdown_table() in doc.read_text(encoding="utf-8"), doc
