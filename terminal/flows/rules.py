"""The turnstile's side of the admission rules: from a driver event to a credential, and from
a credential to a verdict with its feedback pattern.

The rules themselves are ``presence.admission``'s, the same the controller applies at its
own doors (a team leader's phone, a registration by hand); here they judge against the
allowlist of salted hashes in the site config (``SiteList``) and this terminal's in-memory
cool-down table (``Cooldown``), and each verdict gets the feedback pattern the gate shows
(``terminal.drivers.gate.PATTERNS``). The cool-down is kept per (person, direction); a
passage in the other direction, when the terminal learns of one, clears the window: an
``in`` after an ``out`` always opens. An unused admission (no passage) clears it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from presence import admission
from presence.admission import (
    ALLOWLIST_STALE,
    ALREADY_INSIDE,
    BAD_KEYPAD_ENTRY,
    BAD_L1_CODE,
    BLOCKED,
    CARD_EXPIRED,
    COOLDOWN_EXIT,
    LISTED,
    NOT_AN_L1_CODE,
    NOT_VALID_TODAY,
    OK,
    RULES,
    UNKNOWN_PERSON,
    UNKNOWN_PERSON_ADMITTED,
    Rule,
)
from presence.events import Credential, Decision, Direction
from presence.ids import PersonId
from presence.messages import SiteConfig, UnknownPersonPolicy
from terminal.drivers.events import CardError, CardInserted, DriverEvent, Entered, QrSeen

_CARD_NUMBER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

BAD_CARD_DATA = "bad_card_data"
OUTBOX_FULL = "outbox_full"

_CARD_ERROR_PATTERNS = {
    "card_expired": "refused_card_expired",
    "read_error": "refused_read_error",
}
# The feedback pattern of each reason (terminal.drivers.gate.PATTERNS).
PATTERNS = {
    OK: "admitted",
    UNKNOWN_PERSON_ADMITTED: "admitted",
    COOLDOWN_EXIT: "admitted",
    CARD_EXPIRED: "refused_card_expired",
    BLOCKED: "refused",
    UNKNOWN_PERSON: "refused_unknown_person",
    NOT_VALID_TODAY: "refused_unknown_person",
    ALLOWLIST_STALE: "refused_unknown_person",
    ALREADY_INSIDE: "refused_already_inside",
    NOT_AN_L1_CODE: "refused_not_an_l1_code",
    BAD_L1_CODE: "refused_not_an_l1_code",
    BAD_KEYPAD_ENTRY: "refused",
    BAD_CARD_DATA: "refused_read_error",
}


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A credential that identifies nobody: refused, and not published (no person to name)."""

    reason: str
    pattern: str


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reason: str
    pattern: str
    publish: bool = True  # False: no event (cool-down repeat)

    @property
    def admitted(self) -> bool:
        return self.decision == "admitted"


@dataclass(frozen=True, slots=True)
class Context:
    """What the rules need besides the credential, read once per decision."""

    today: date
    now: datetime
    now_mono: float
    direction: Direction
    site: SiteConfig | None
    unknown_person: UnknownPersonPolicy
    allowlist_max_age_s: float
    cooldown_s: float
    cooldown: Cooldown

    @property
    def allowlist_fresh(self) -> bool:
        if self.site is None:
            return False
        return (self.now - self.site.issued_at).total_seconds() <= self.allowlist_max_age_s


class SiteList:
    """The site config's lists as ``presence.admission.People``: salted hashes of the people
    on the roster for today and of the blocked ones. It cannot tell "not valid today" from
    "not on the roster" (the controller lists only today's people)."""

    def __init__(self, site: SiteConfig, fresh: bool) -> None:
        self.site = site
        self.fresh = fresh

    def blocked(self, person: PersonId) -> bool:
        return self.site.hash_of(person) in self.site.blocklist

    def standing(self, person: PersonId) -> str:
        # One slow hash per check-in (scrypt, presence.messages.HashScheme): the blocklist
        # rule computed it already, and it is remembered for the person's next passages.
        listed = self.site.hash_of(person) in self.site.allowlist
        return LISTED if listed else UNKNOWN_PERSON


# --- identification -----------------------------------------------------------------------


def identify(event: DriverEvent) -> Credential | Unreadable | None:
    """The credential a driver event presents, ``Unreadable``, or None (not a credential)."""
    if isinstance(event, CardInserted):
        return _from_card(event)
    if isinstance(event, CardError):
        pattern = _CARD_ERROR_PATTERNS.get(event.code, "refused")
        return Unreadable(event.code, pattern)
    if isinstance(event, QrSeen):
        return _with_pattern(admission.from_qr_text(event.text))
    if isinstance(event, Entered):
        return _with_pattern(admission.from_keypad(event.text))
    return None


def _from_card(event: CardInserted) -> Credential | Unreadable:
    identity = event.identity
    number = identity.card_number.strip().upper()
    if not 6 <= len(number) <= 16 or not set(number) <= _CARD_NUMBER_CHARS:
        return Unreadable(BAD_CARD_DATA, "refused_read_error")
    return Credential("eid", identity.national_number, number, identity.valid_until)


def _with_pattern(found: Credential | admission.Unreadable) -> Credential | Unreadable:
    if isinstance(found, admission.Unreadable):
        return Unreadable(found.reason, PATTERNS.get(found.reason, "refused"))
    return found


# --- cool-down ----------------------------------------------------------------------------


class Cooldown:
    """When each (person, direction) was last admitted here, on the monotonic clock
    (``presence.admission.Recent``)."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._last: dict[tuple[str, Direction], float] = {}

    def within(self, person: PersonId, direction: Direction, now: float, window_s: float) -> bool:
        at = self._last.get((person.digits, direction))
        return at is not None and now - at < window_s

    def record(self, person: PersonId, direction: Direction, now: float) -> None:
        other: Direction = "out" if direction == "in" else "in"
        self._last.pop((person.digits, other), None)
        self._last[(person.digits, direction)] = now
        if len(self._last) > self.MAX_ENTRIES:
            oldest = min(self._last, key=self._last.__getitem__)
            del self._last[oldest]

    def forget(self, person: PersonId, direction: Direction) -> None:
        self._last.pop((person.digits, direction), None)


# --- decision -----------------------------------------------------------------------------


def decide(cred: Credential, ctx: Context, rules: tuple[Rule, ...] = RULES) -> Verdict:
    """``presence.admission.decide`` on this terminal's lists, with the verdict's pattern."""
    people = SiteList(ctx.site, ctx.allowlist_fresh) if ctx.site is not None else None
    situation = admission.Situation(
        today=ctx.today,
        now=ctx.now_mono,
        direction=ctx.direction,
        people=people,
        unknown_person=ctx.unknown_person,
        cooldown_s=ctx.cooldown_s,
        recent=ctx.cooldown,
    )
    verdict = admission.decide(cred, situation, rules)
    default = "admitted" if verdict.admitted else "refused"
    return Verdict(
        verdict.decision, verdict.reason, PATTERNS.get(verdict.reason, default), verdict.publish
    )
