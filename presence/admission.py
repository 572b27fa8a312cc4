"""The admission rules: who gets in, the same at every door of a site.

A turnstile decides with them against the allowlist of salted hashes the controller gave it
(``terminal.flows.rules``); the controller decides with them against its roster for its own
doors: a team leader's phone (``controller.handheld``) and a registration by hand
(``controller.doors``). One copy of the rules, two lists of people behind one small
interface (``People``).

Pure functions; no I/O beyond what the ``People`` and ``Recent`` given to them do. Each
refusal and each flagged admission carries a stable reason code (the check-in's ``reason``).

Rule order (first that answers wins): the card is not expired; the person is not blocked;
the person is on the list for today (or, the list being stale or absent, the
``unknown_person`` policy); the person was not admitted at this door within the cool-down.

Cool-down: a door knows only its own direction, so the window is kept per (person,
direction). A second ``in`` of the same person within the window is refused
(``already_inside``, anti-passback: one card lets one person in); a second ``out`` at an exit
opens (nobody is kept in) but, like the refused ``in``, makes no second event.

Identification from text (``from_qr_text``, ``from_keypad``) is shared too: an L1 code is
read with ``presence.l1.parse_l1``, a typed number is a national number when it has eleven
digits (checksum verified), else a Limosa id of the right length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from presence.events import Credential, Decision, Direction
from presence.ids import (
    LIMOSA_MAX_LENGTH,
    LIMOSA_MIN_LENGTH,
    InvalidIdentifier,
    PersonId,
    parse_inss,
    parse_limosa_id,
)
from presence.l1 import BadL1Code, NotAnL1Code, parse_l1
from presence.messages import UnknownPersonPolicy

INSS_LENGTH = 11

# reason codes
OK = "ok"
UNKNOWN_PERSON_ADMITTED = "unknown_person_admitted"
COOLDOWN_EXIT = "cooldown_exit"
CARD_EXPIRED = "card_expired"
BLOCKED = "blocked"
UNKNOWN_PERSON = "unknown_person"
NOT_VALID_TODAY = "not_valid_today"  # on the list, but not for this day (its validity)
ALLOWLIST_STALE = "allowlist_stale"
ALREADY_INSIDE = "already_inside"
NOT_AN_L1_CODE = "not_an_l1_code"
BAD_L1_CODE = "bad_l1_code"
BAD_KEYPAD_ENTRY = "bad_keypad_entry"

# what ``People.standing`` says of a person
LISTED = "listed"


class People(Protocol):
    """Who may come in today: a terminal's allowlist, or the controller's roster."""

    @property
    def fresh(self) -> bool:
        """Whether the list may be trusted to refuse people missing from it."""
        ...

    def blocked(self, person: PersonId) -> bool: ...

    def standing(self, person: PersonId) -> str:
        """``LISTED``, ``UNKNOWN_PERSON`` (not on the list) or ``NOT_VALID_TODAY`` (on it,
        but not for today: a list that cannot tell says ``UNKNOWN_PERSON``)."""
        ...


class Recent(Protocol):
    """When people were last admitted at this door: the cool-down's memory."""

    def within(self, person: PersonId, direction: Direction, now: float, window_s: float) -> bool:
        """Whether ``person`` was admitted in ``direction`` less than ``window_s`` seconds
        from ``now`` (seconds on the memory's own clock)."""
        ...


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A credential that identifies nobody: refused, and not published (no person to name)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reason: str
    publish: bool = True  # False: no event (cool-down repeat)

    @property
    def admitted(self) -> bool:
        return self.decision == "admitted"


@dataclass(frozen=True, slots=True)
class Situation:
    """What the rules need besides the credential, read once per decision."""

    today: date
    now: float  # on the clock of ``recent``
    direction: Direction
    people: People | None  # None: no list at all (a terminal never configured)
    unknown_person: UnknownPersonPolicy
    cooldown_s: float
    recent: Recent | None  # None: no cool-down at this door


# --- identification -----------------------------------------------------------------------


def from_qr_text(text: str) -> Credential | Unreadable:
    """The credential a QR code's text presents: an L1 code's Limosa id."""
    try:
        code = parse_l1(text)
    except NotAnL1Code:
        return Unreadable(NOT_AN_L1_CODE)
    except BadL1Code:
        return Unreadable(BAD_L1_CODE)
    return Credential("l1_qr", code.limosa_id)


def from_keypad(text: str) -> Credential | Unreadable:
    """Eleven digits are a national number (checksum verified, never a Limosa id); other
    lengths within the Limosa range are a Limosa id."""
    digits = "".join(c for c in text if not c.isspace() and c not in ".-/")
    try:
        if len(digits) == INSS_LENGTH:
            return Credential("keypad_inss", parse_inss(digits))
        if LIMOSA_MIN_LENGTH <= len(digits) <= LIMOSA_MAX_LENGTH:
            return Credential("keypad_limosa", parse_limosa_id(digits))
    except InvalidIdentifier:
        pass
    return Unreadable(BAD_KEYPAD_ENTRY)


# --- decision -----------------------------------------------------------------------------

Rule = Callable[[Credential, Situation], Verdict | None]


def card_not_expired(cred: Credential, s: Situation) -> Verdict | None:
    if cred.card_valid_until is not None and cred.card_valid_until < s.today:
        return Verdict("refused", CARD_EXPIRED)
    return None


def not_blocked(cred: Credential, s: Situation) -> Verdict | None:
    if s.people is not None and s.people.blocked(cred.person):
        return Verdict("refused", BLOCKED)
    return None


def on_list(cred: Credential, s: Situation) -> Verdict | None:
    standing = s.people.standing(cred.person) if s.people is not None else UNKNOWN_PERSON
    if standing == LISTED:
        return None
    if s.people is not None and s.people.fresh:
        return Verdict("refused", standing)
    if s.unknown_person == "admit_and_flag":
        return Verdict("admitted", UNKNOWN_PERSON_ADMITTED)
    return Verdict("refused", ALLOWLIST_STALE)


def cooled_down(cred: Credential, s: Situation) -> Verdict | None:
    if s.recent is None or not s.recent.within(cred.person, s.direction, s.now, s.cooldown_s):
        return None
    if s.direction == "out":
        return Verdict("admitted", COOLDOWN_EXIT, publish=False)
    return Verdict("refused", ALREADY_INSIDE, publish=False)


RULES: tuple[Rule, ...] = (card_not_expired, not_blocked, on_list, cooled_down)


def decide(cred: Credential, s: Situation, rules: tuple[Rule, ...] = RULES) -> Verdict:
    for rule in rules:
        verdict = rule(cred, s)
        if verdict is not None:
            return verdict
    return Verdict("admitted", OK)
