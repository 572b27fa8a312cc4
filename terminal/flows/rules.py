"""The admission rules: from a driver event to a credential, and from a credential to a verdict.

Pure functions and one small cool-down table; no I/O. Each refusal and each flagged admission
carries a stable reason code (the event's ``reason``) and a feedback pattern name
(``terminal.drivers.gate.PATTERNS``).

Rule order (first that answers wins): the card is not expired; the person is not blocked;
the person is on a fresh allowlist (or, the allowlist being older than its maximum age or
absent, the ``unknown_person`` policy); the person is not within the cool-down window.

Cool-down: a terminal knows only its own direction, so the window is kept per
(person, direction). A second ``in`` of the same person at an entry terminal within the
window is refused (``already_inside``, anti-passback: one card lets one person in); a second
``out`` at an exit terminal opens (nobody is kept in) but, like the refused ``in``, makes no
second event. A passage in the other direction, when the terminal learns of one, clears the
window: an ``in`` after an ``out`` always opens. An unused admission (no passage) clears it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from presence.events import Credential, Decision, Direction
from presence.ids import (
    LIMOSA_MAX_LENGTH,
    LIMOSA_MIN_LENGTH,
    InvalidIdentifier,
    PersonId,
    parse_inss,
    parse_limosa_id,
)
from presence.messages import SiteConfig, UnknownPersonPolicy
from terminal.drivers.events import CardError, CardInserted, DriverEvent, Entered, QrSeen
from terminal.drivers.l1 import BadL1Code, NotAnL1Code, parse_l1

INSS_LENGTH = 11
_CARD_NUMBER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

# reason codes
OK = "ok"
UNKNOWN_PERSON_ADMITTED = "unknown_person_admitted"
COOLDOWN_EXIT = "cooldown_exit"
CARD_EXPIRED = "card_expired"
BLOCKED = "blocked"
UNKNOWN_PERSON = "unknown_person"
ALLOWLIST_STALE = "allowlist_stale"
ALREADY_INSIDE = "already_inside"
NOT_AN_L1_CODE = "not_an_l1_code"
BAD_L1_CODE = "bad_l1_code"
BAD_KEYPAD_ENTRY = "bad_keypad_entry"
BAD_CARD_DATA = "bad_card_data"
OUTBOX_FULL = "outbox_full"

_CARD_ERROR_PATTERNS = {
    "card_expired": "refused_card_expired",
    "read_error": "refused_read_error",
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


# --- identification -----------------------------------------------------------------------


def identify(event: DriverEvent) -> Credential | Unreadable | None:
    """The credential a driver event presents, ``Unreadable``, or None (not a credential)."""
    if isinstance(event, CardInserted):
        return _from_card(event)
    if isinstance(event, CardError):
        pattern = _CARD_ERROR_PATTERNS.get(event.code, "refused")
        return Unreadable(event.code, pattern)
    if isinstance(event, QrSeen):
        return _from_qr(event.text)
    if isinstance(event, Entered):
        return _from_keypad(event.text)
    return None


def _from_card(event: CardInserted) -> Credential | Unreadable:
    identity = event.identity
    number = identity.card_number.strip().upper()
    if not 6 <= len(number) <= 16 or not set(number) <= _CARD_NUMBER_CHARS:
        return Unreadable(BAD_CARD_DATA, "refused_read_error")
    return Credential("eid", identity.national_number, number, identity.valid_until)


def _from_qr(text: str) -> Credential | Unreadable:
    try:
        code = parse_l1(text)
    except NotAnL1Code:
        return Unreadable(NOT_AN_L1_CODE, "refused_not_an_l1_code")
    except BadL1Code:
        return Unreadable(BAD_L1_CODE, "refused_not_an_l1_code")
    return Credential("l1_qr", code.limosa_id)


def _from_keypad(text: str) -> Credential | Unreadable:
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
    return Unreadable(BAD_KEYPAD_ENTRY, "refused")


# --- cool-down ----------------------------------------------------------------------------


class Cooldown:
    """When each (person, direction) was last admitted here, on the monotonic clock."""

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

Rule = Callable[[Credential, Context], Verdict | None]


def card_not_expired(cred: Credential, ctx: Context) -> Verdict | None:
    if cred.card_valid_until is not None and cred.card_valid_until < ctx.today:
        return Verdict("refused", CARD_EXPIRED, "refused_card_expired")
    return None


def not_blocked(cred: Credential, ctx: Context) -> Verdict | None:
    if ctx.site is not None and ctx.site.hash_of(cred.person) in ctx.site.blocklist:
        return Verdict("refused", BLOCKED, "refused")
    return None


def on_allowlist(cred: Credential, ctx: Context) -> Verdict | None:
    site = ctx.site
    # One slow hash per check-in (scrypt, presence.messages.HashScheme): the blocklist rule
    # computed it already, and it is remembered for the person's next passages.
    listed = site is not None and site.hash_of(cred.person) in site.allowlist
    if listed:
        return None
    if ctx.allowlist_fresh:
        return Verdict("refused", UNKNOWN_PERSON, "refused_unknown_person")
    if ctx.unknown_person == "admit_and_flag":
        return Verdict("admitted", UNKNOWN_PERSON_ADMITTED, "admitted")
    return Verdict("refused", ALLOWLIST_STALE, "refused_unknown_person")


def cooled_down(cred: Credential, ctx: Context) -> Verdict | None:
    if not ctx.cooldown.within(cred.person, ctx.direction, ctx.now_mono, ctx.cooldown_s):
        return None
    if ctx.direction == "out":
        return Verdict("admitted", COOLDOWN_EXIT, "admitted", publish=False)
    return Verdict("refused", ALREADY_INSIDE, "refused_already_inside", publish=False)


RULES: tuple[Rule, ...] = (card_not_expired, not_blocked, on_allowlist, cooled_down)


def decide(cred: Credential, ctx: Context, rules: tuple[Rule, ...] = RULES) -> Verdict:
    for rule in rules:
        verdict = rule(cred, ctx)
        if verdict is not None:
            return verdict
    return Verdict("admitted", OK, "admitted")
