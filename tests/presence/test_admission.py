"""The shared admission rules, judged against a plain list of people (neither a terminal's
hashes nor the controller's roster: the rules must not care which)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

import pytest

from presence import admission
from presence.admission import Situation, Unreadable, Verdict
from presence.events import Credential, Direction
from presence.ids import PersonId, parse_inss, parse_limosa_id

ALICE = parse_inss("85073003328")
BOB = parse_inss("90010112395")
POSTED = parse_limosa_id("24901234567890123")
TODAY = date(2026, 3, 2)
L1 = "https://www.limosa.be/q.html?id=24901234567890123&3=Kowalski"


@dataclass
class People:
    listed: set[str] = field(default_factory=lambda: {ALICE.digits, POSTED.digits})
    ended: set[str] = field(default_factory=set)
    blocked_ones: set[str] = field(default_factory=set)
    fresh: bool = True

    def blocked(self, person: PersonId) -> bool:
        return person.digits in self.blocked_ones

    def standing(self, person: PersonId) -> str:
        if person.digits in self.listed:
            return admission.LISTED
        if person.digits in self.ended:
            return admission.NOT_VALID_TODAY
        return admission.UNKNOWN_PERSON


@dataclass
class Recent:
    admitted: dict[tuple[str, str], float] = field(default_factory=dict)

    def within(self, person: PersonId, direction: Direction, now: float, window_s: float) -> bool:
        at = self.admitted.get((person.digits, direction))
        return at is not None and abs(now - at) < window_s


def situation(**changes: object) -> Situation:
    base = Situation(
        today=TODAY,
        now=1000.0,
        direction="in",
        people=People(),
        unknown_person="refuse",
        cooldown_s=60,
        recent=Recent(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_listed_person_is_admitted() -> None:
    assert admission.decide(Credential("l1_qr", POSTED), situation()) == Verdict("admitted", "ok")


def test_someone_on_the_list_but_not_for_today_is_told_apart_from_a_stranger() -> None:
    people = People(ended={BOB.digits})
    verdict = admission.decide(Credential("keypad_inss", BOB), situation(people=people))
    assert verdict == Verdict("refused", "not_valid_today")
    stranger = parse_inss("75122424614")
    assert admission.decide(Credential("keypad_inss", stranger), situation()).reason == (
        "unknown_person"
    )


def test_blocked_wins_over_listed() -> None:
    people = People(blocked_ones={ALICE.digits})
    verdict = admission.decide(Credential("keypad_inss", ALICE), situation(people=people))
    assert verdict == Verdict("refused", "blocked")


def test_an_expired_card_is_refused_first() -> None:
    card = Credential("eid", ALICE, "591234567890", date(2026, 3, 1))
    assert admission.decide(card, situation()).reason == "card_expired"


def test_a_stale_list_follows_the_unknown_person_policy() -> None:
    stale = People(fresh=False)
    bob = Credential("keypad_inss", BOB)
    assert admission.decide(bob, situation(people=stale)).reason == "allowlist_stale"
    flagged = admission.decide(bob, situation(people=stale, unknown_person="admit_and_flag"))
    assert flagged == Verdict("admitted", "unknown_person_admitted")


def test_no_list_at_all_is_a_stale_list() -> None:
    assert admission.decide(Credential("keypad_inss", ALICE), situation(people=None)).reason == (
        "allowlist_stale"
    )


def test_a_repeat_within_the_cool_down_makes_no_event() -> None:
    recent = Recent({(POSTED.digits, "in"): 950.0})
    verdict = admission.decide(Credential("l1_qr", POSTED), situation(recent=recent))
    assert verdict == Verdict("refused", "already_inside", publish=False)
    later = admission.decide(Credential("l1_qr", POSTED), situation(recent=recent, now=1011.0))
    assert later == Verdict("admitted", "ok")


def test_a_door_without_memory_has_no_cool_down() -> None:
    assert admission.decide(Credential("l1_qr", POSTED), situation(recent=None)).admitted


def test_an_l1_code_presents_its_limosa_id() -> None:
    assert admission.from_qr_text(L1) == Credential("l1_qr", POSTED)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("https://example.com/q.html?id=24901234567890123", "not_an_l1_code"),
        ("WIFI:S:site;T:WPA;P:secret;;", "not_an_l1_code"),
        ("https://www.limosa.be/q.html?3=Kowalski", "bad_l1_code"),
    ],
)
def test_other_codes_identify_nobody(text: str, reason: str) -> None:
    assert admission.from_qr_text(text) == Unreadable(reason)


def test_typed_numbers_are_told_apart_by_their_length_and_checksum() -> None:
    assert admission.from_keypad("85.07.30-033.28") == Credential("keypad_inss", ALICE)
    assert admission.from_keypad(POSTED.digits) == Credential("keypad_limosa", POSTED)
    assert admission.from_keypad("85073003329") == Unreadable("bad_keypad_entry")
    assert admission.from_keypad("12") == Unreadable("bad_keypad_entry")
