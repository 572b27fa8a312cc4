"""A team leader's phone as a door (issue 15): camera frames and typed numbers in, the gate's
decision out, through the same chain of custody as a turnstile.

The phone has no QR reader of its own: its scan page sends downscaled JPEG frames, and the
controller reads them with the decoder and ``parse_l1`` the terminals use
(``presence.qr``, ``presence.admission``): one reader of L1 codes in the project. A code
read becomes a check-in from the virtual terminal ``handheld-<account>`` (direction in),
decided by the gate's rules against the roster (``controller.doors``) and stored through
``checkins.record_many`` like a gate's; the HTTP answer is its end-to-end ack.

The page makes each frame's event id (a UUIDv7) and keeps every unanswered one to send again
with the same id, so a lost answer never makes a second event: an event id already stored
is answered from the store (``duplicate``), before anything else is decoded or decided.

Per account (in memory; a restart forgets it, the store does not):

- a **debounce** per presentation of a code, on the frames' capture times
  (``presence.qr.Debounce``, as in a turnstile's scanner): the same code held in view is
  reported once;
- the gate's **cool-down**, kept in the store (``doors.RecentAtDoor``): a person admitted by
  this phone within ``[policy] cooldown_s`` makes no second event (``already_scanned``), even
  when frames recorded offline arrive later or after a restart;
- a **rate limit** (a token bucket) and one frame at a time, so that one phone cannot slow
  down the others.

Frames are decoded in memory and never stored; their codes hold names and are never logged.
"""

from __future__ import annotations

import io
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from controller import doors, schema
from controller.audit import Actor
from controller.checkins import person_key
from controller.config import ControllerConfig
from controller.errors import ControllerError
from controller.store import Store
from presence import admission
from presence.clock import BRUSSELS, Clock, brussels_date
from presence.events import Credential
from presence.ids import PersonId
from presence.qr import REPEAT_WINDOW_S, Debounce, Decoder, make_decoder

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 1_000_000  # a 640 px JPEG is 30-80 kB; a megabyte is no frame of ours
MAX_FRAME_PIXELS = 2048 * 2048  # checked before decoding: no decompression bombs
FORMATS = ("JPEG", "PNG", "WEBP")
RATE_PER_S = 6.0  # the page sends at most 4 frames a second
BURST = 12
FUTURE_SKEW_S = 5.0  # a capture time ahead of ours by more than this is taken as now
STORED_KEPT = 1000  # per account: far more than one presentation's frames

# What a phone's scan turned out to be (the page shows it; ``already_registered``: admitted,
# and the person's presence of the day existed already).
OUTCOMES = (
    "admitted",
    "already_registered",
    "already_scanned",
    "unknown_person",
    "not_valid_today",
    "blocked",
    "not_an_l1_code",
    "bad_l1_code",
    "no_code",
    "repeat",
)


class HandheldError(ControllerError):
    """A frame or entry refused before any decision. Codes: ``too_large`` (over
    ``MAX_FRAME_BYTES``), ``too_many_pixels``, ``not_an_image``, ``too_frequent`` (the rate
    limit; ``retry_after_s``), ``busy`` (a frame of the account is being read), ``stale``
    (scanned on another day), ``event_taken`` (the event id is another terminal's)."""

    def __init__(self, code: str, message: str, retry_after_s: float = 0.0) -> None:
        super().__init__(code, message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to one frame or entry: what happened, for the page and the tests."""

    event_id: uuid.UUID
    outcome: str  # one of OUTCOMES
    decision: str | None = None  # admitted | refused; None: nothing decided (no person)
    reason: str | None = None  # the check-in's reason code
    stored: bool = False  # a check-in with this event id is in the store
    ack: str | None = None  # stored | duplicate (the end-to-end ack); None: nothing stored
    person: str | None = None  # masked
    name: str | None = None  # from the roster
    credential: str | None = None
    presence_state: str | None = None
    scanned_at: datetime | None = None


def read_frame(data: bytes) -> Any:
    """A frame's bytes as a grey image (numpy array); a JPEG is decoded to its grey plane
    only. Raises ``HandheldError`` (``too_large``, ``not_an_image``, ``too_many_pixels``)."""
    if len(data) > MAX_FRAME_BYTES:
        raise HandheldError("too_large", f"a frame is at most {MAX_FRAME_BYTES} bytes")
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in FORMATS:
            raise HandheldError("not_an_image", "a frame is a JPEG, PNG or WebP picture")
        width, height = image.size
        if width * height > MAX_FRAME_PIXELS:
            raise HandheldError("too_many_pixels", f"a {width}x{height} picture is no frame")
        image.draft("L", image.size)  # JPEG: skip the colour planes (about half the time)
        grey = image.convert("L")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise HandheldError("not_an_image", "not a picture, or a damaged one") from None
    except Image.DecompressionBombError:
        raise HandheldError("too_many_pixels", "a picture far too large") from None
    return np.asarray(grey)


class RateLimit:
    """A token bucket on the monotonic clock: ``take()`` is 0 when a request may go ahead,
    else the seconds to wait."""

    def __init__(self, clock: Clock, rate_per_s: float = RATE_PER_S, burst: int = BURST):
        self.clock = clock
        self.rate = rate_per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self.at = clock.monotonic()

    def take(self) -> float:
        now = self.clock.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class _Phone:
    limit: RateLimit
    debounce: Debounce
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The event ids this door stored lately, oldest first: a repeat whose id is not here was
    # never stored (the store need not be asked).
    stored: dict[uuid.UUID, None] = field(default_factory=dict)

    def remember(self, event_id: uuid.UUID) -> None:
        self.stored[event_id] = None
        if len(self.stored) > STORED_KEPT:
            del self.stored[next(iter(self.stored))]


class Handheld:
    """The phones of one site: reads frames, decides, stores; one per console."""

    def __init__(
        self,
        store: Store,
        config: ControllerConfig,
        *,
        decoder: Decoder | None = None,
        rate_per_s: float = RATE_PER_S,
        burst: int = BURST,
        repeat_window_s: float = REPEAT_WINDOW_S,
    ) -> None:
        self.store = store
        self.config = config
        self.clock: Clock = store.clock
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.repeat_window_s = repeat_window_s
        self._decoder = decoder
        self._phones: dict[str, _Phone] = {}
        self._lock = threading.Lock()

    # --- per account ------------------------------------------------------------------------

    def _phone(self, account: str) -> _Phone:
        with self._lock:
            return self._phone_unlocked(account)

    def admit(self, account: str) -> None:
        """Count one request of ``account`` against its rate limit; raises ``too_frequent``
        (with the seconds to wait) past it. Called before the request's body is read."""
        with self._lock:
            wait = self._phone_unlocked(account).limit.take()
        if wait > 0:
            raise HandheldError(
                "too_frequent",
                f"at most {self.rate_per_s:g} frames a second per account",
                retry_after_s=wait,
            )

    def _phone_unlocked(self, account: str) -> _Phone:
        phone = self._phones.get(account)
        if phone is None:
            phone = _Phone(
                RateLimit(self.clock, self.rate_per_s, self.burst), Debounce(self.repeat_window_s)
            )
            self._phones[account] = phone
        return phone

    @property
    def decoder(self) -> Decoder:
        if self._decoder is None:
            with self._lock:
                if self._decoder is None:
                    self._decoder = make_decoder()
        return self._decoder

    # --- the two kinds of scan ----------------------------------------------------------------

    def frame(
        self,
        account: str,
        data: bytes,
        event_id: uuid.UUID,
        captured_ms: int | None = None,
        actor: Actor | None = None,
    ) -> Answer:
        """One camera frame: no code, the same presentation again, a code that names nobody,
        or a decision stored as a check-in with ``event_id``."""
        terminal = doors.handheld_terminal(account)
        at = self.moment(captured_ms)
        pixels = read_frame(data)
        phone = self._phone(account)
        with _held(phone):
            texts = self.decoder.decode(pixels)
            if not texts:  # a frame sent again reads as it did: no code, nothing was stored
                return Answer(event_id, "no_code", scanned_at=at)
            text, seen_at = _pick(texts), at.timestamp()
            repeat = not phone.debounce.is_new(text, seen_at)
            # A repeat can be a stored frame sent again only if this door stored it: the
            # store is asked then, and for every new presentation (after a restart too).
            if not repeat or event_id in phone.stored:
                known = self._known(event_id, terminal)
                if known is not None:
                    return known
            if repeat:
                phone.debounce.record(text, seen_at)
                return Answer(event_id, "repeat", scanned_at=at)
            found = admission.from_qr_text(text)
            if isinstance(found, admission.Unreadable):
                answer = Answer(event_id, found.reason, "refused", found.reason, scanned_at=at)
            else:
                answer = self._submit(terminal, found, event_id, at, actor)
            if answer.stored:
                phone.remember(event_id)
            phone.debounce.record(text, seen_at)  # only once handled: a failure is retried
            return answer

    def entry(
        self,
        account: str,
        text: str,
        company: str | None,
        event_id: uuid.UUID,
        captured_ms: int | None = None,
        actor: Actor | None = None,
    ) -> Answer:
        """A national number (with its employer) or a Limosa id typed on the phone's keypad.
        Bad input raises ``doors.DoorError`` naming the field (``bad_person``,
        ``company_required``, ``bad_company``, ``employer_not_on_roster``)."""
        terminal = doors.handheld_terminal(account)
        at = self.moment(captured_ms)
        with _held(self._phone(account)):
            known = self._known(event_id, terminal)
            if known is not None:
                return known
            found = admission.from_keypad(text or "")
            if isinstance(found, admission.Unreadable):
                raise doors.DoorError(
                    "bad_person",
                    "neither a national number (check digits) nor a Limosa id",
                    "person",
                )
            employer = doors.employer_named(found.person, company)
            return self._submit(terminal, found, event_id, at, actor, employer)

    # --- the steps ----------------------------------------------------------------------------

    def moment(self, captured_ms: int | None) -> datetime:
        """When the phone scanned (its clock, which the page keeps in step with ours): now
        when not given or ahead of us; ``stale`` when on another (Brussels) day than today:
        NSSO registers today or tomorrow only, so such a scan is registered by hand."""
        now = self.clock.now()
        if captured_ms is None:
            return now
        try:
            at = datetime.fromtimestamp(captured_ms / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise HandheldError("bad_time", "the capture time is no time") from None
        if at > now + timedelta(seconds=FUTURE_SKEW_S):
            return now
        at = min(at, now)
        if brussels_date(at) != brussels_date(now):
            shown = at.astimezone(BRUSSELS).strftime("%Y-%m-%d %H:%M %Z")
            raise HandheldError(
                "stale", f"scanned on {shown}, another day: register the worker by hand"
            )
        return at

    def _known(self, event_id: uuid.UUID, terminal: str) -> Answer | None:
        """The answer for an event id already stored (the page sent it again)."""
        e, p = schema.events.c, schema.presences.c
        with self.store.transaction() as conn:
            row = conn.execute(
                select(
                    e.terminal_id,
                    e.decision,
                    e.reason,
                    e.person_kind,
                    e.person_id,
                    e.credential_kind,
                    e.scanned_at,
                    p.state,
                    p.first_event_id,
                )
                .select_from(schema.events.outerjoin(schema.presences, e.presence_id == p.id))
                .where(e.event_id == str(event_id))
            ).first()
            if row is None:
                return None
            if row.terminal_id != terminal:
                raise HandheldError("event_taken", "this event id belongs to another terminal")
            name = _name(conn, row.person_kind, row.person_id)
        person = _masked(row.person_kind, row.person_id)
        outcome = _outcome(row.decision, row.reason, row.first_event_id == str(event_id))
        return Answer(
            event_id, outcome, row.decision, row.reason, True, "duplicate", person, name,
            row.credential_kind, row.state, row.scanned_at,
        )  # fmt: skip

    def _submit(
        self,
        terminal: str,
        credential: Credential,
        event_id: uuid.UUID,
        at: datetime,
        actor: Actor | None,
        employer: str | None = None,
    ) -> Answer:
        person = credential.person
        kind, digits = person_key(person)
        with self.store.transaction() as conn:
            verdict = doors.decide(
                conn,
                person,
                brussels_date(at),
                recent=doors.RecentAtDoor(conn, terminal),
                at=at,
                cooldown_s=self.config.policy.cooldown_s,
            )
            name = _name(conn, kind, digits)
        if not verdict.publish:
            return Answer(
                event_id, "already_scanned", verdict.decision, verdict.reason, False, None,
                person.masked(), name, credential.kind, None, at,
            )  # fmt: skip
        doors.check_employer(verdict, employer)
        checkin = doors.build_checkin(
            self.store,
            self.config,
            terminal_id=terminal,
            person=person,
            credential_kind=credential.kind,
            event_id=event_id,
            scanned_at=at,
        )
        done = doors.submit_checkin(self.store, self.config, checkin, company=employer, actor=actor)
        assert done.ack is not None  # a check-in of today always has its ack
        outcome = _outcome(done.decision, done.reason, done.created)
        return Answer(
            event_id, outcome, done.decision, done.reason, True, done.ack.status,
            person.masked(), name, credential.kind, done.presence_state, checkin.scanned_at,
        )  # fmt: skip


class _held:
    """One frame or entry of an account at a time; a second one meanwhile is ``busy``
    (the page sends one at a time: a second means a retry while the first is still read)."""

    def __init__(self, phone: _Phone) -> None:
        self.phone = phone

    def __enter__(self) -> None:
        if not self.phone.lock.acquire(blocking=False):
            raise HandheldError("busy", "a frame of this account is being read", 0.5)

    def __exit__(self, *exc: object) -> None:
        self.phone.lock.release()


def _pick(texts: list[str]) -> str:
    """Of several codes in one frame, an L1 code first (a poster behind the worker's paper
    must not hide it)."""
    for text in texts:
        if not isinstance(admission.from_qr_text(text), admission.Unreadable):
            return text
    return texts[0]


def _outcome(decision: str, reason: str, created: bool) -> str:
    if decision == "admitted":
        return "admitted" if created else "already_registered"
    return reason if reason in OUTCOMES else "unknown_person"


def _masked(kind: str, digits: str) -> str:
    from controller.siteconfig import make_person

    person: PersonId = make_person(kind, digits)
    return person.masked()


def _name(conn: Any, kind: str, digits: str) -> str | None:
    r = schema.roster.c
    return conn.execute(
        select(r.name)
        .where(r.person_kind == kind, r.person_id == digits, r.name.is_not(None))
        .order_by(r.imported_at.desc())
        .limit(1)
    ).scalar_one_or_none()
