"""Scan: a team leader's phone checks in a crew (issue 15).

The page (``scan.html`` and ``static/scan.js``) turns the phone's rear camera into a scanner:
it sends downscaled JPEG frames, a few a second, each with a UUIDv7 it made, and shows what
the controller decided. The reading and the deciding happen here, in
``controller.handheld`` (the terminals' decoder and rules); these routes only check who is
asking and what they sent, and answer in JSON:

- ``POST /scan/frame?event=<uuid7>&at=<capture ms>``, the frame as the body;
- ``POST /scan/entry`` (form: ``event``, ``at``, ``person``, ``company``), a typed number.

Both need the ``scan`` permission and the session's CSRF token (``X-CSRF-Token``). Refusals
are JSON with a stable ``error`` code and the HTTP status that says what went wrong: 401
signed out, 403 no permission or bad token, 413 too large, 415 not a picture, 429 too
frequent (``Retry-After``), 409 another day or another terminal's event id, 400 bad input
(with the ``field``). Anything answered 200 is settled: the page forgets it.
"""

from __future__ import annotations

import hmac
import threading
import uuid
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from controller import accounts, doors
from controller.handheld import MAX_FRAME_BYTES, Answer, Handheld, HandheldError
from controller.web.door import (
    CSRF_FIELD,
    CSRF_HEADER,
    Door,
    context,
    language,
    page,
    read_form,
    session_cookie,
)

STATUS = {
    "signed_out": 401,
    "forbidden": 403,
    "csrf": 403,
    "too_large": 413,
    "too_many_pixels": 413,
    "not_an_image": 415,
    "too_frequent": 429,
    "busy": 429,
    "stale": 409,
    "event_taken": 409,
    "bad_event_id": 400,
    "bad_time": 400,
    "bad_form": 400,
}
MAX_PERSON = 40
_create = threading.Lock()


def handheld(door: Door) -> Handheld:
    """The console's one ``Handheld`` (made on first use; a test may put its own in
    ``ctx.extra["handheld"]``)."""
    extra = door.ctx.extra
    with _create:
        if "handheld" not in extra:
            extra["handheld"] = Handheld(door.ctx.store, door.ctx.config)
    found: Handheld = extra["handheld"]
    return found


@page(accounts.SCAN)
def scan(door: Door) -> Response:
    server_ms = int(door.ctx.clock.now().timestamp() * 1000)
    return door.render(
        "scan.html", account=door.user, max_frame=MAX_FRAME_BYTES, server_ms=server_ms
    )


async def frame(request: Request) -> Response:
    door = _new_door(request)
    body = await _body(request, MAX_FRAME_BYTES)  # None: over the limit, left unread
    return await run_in_threadpool(_frame, door, body)


def _frame(door: Door, body: bytes | None) -> Response:
    refused = _allowed(door, csrf_header=True) or _admit(door)
    if refused is not None:
        return refused
    if body is None:
        return _error(door, "too_large")
    event_id, captured = _event(door.query("event")), _milliseconds(door.query("at"))
    if event_id is None:
        return _error(door, "bad_event_id")
    return _answer(
        door, lambda: handheld(door).frame(door.user, body, event_id, captured, door.actor())
    )


async def entry(request: Request) -> Response:
    door = _new_door(request)
    unread = await read_form(door, upload=False)
    return await run_in_threadpool(_entry, door, unread is not None)


def _entry(door: Door, unread: bool) -> Response:
    refused = _allowed(door, csrf_header=False) or _admit(door)
    if refused is not None:
        return refused
    if unread:
        return _error(door, "bad_form")
    event_id, captured = _event(door.field("event")), _milliseconds(door.field("at"))
    if event_id is None:
        return _error(door, "bad_event_id")
    person, company = door.field("person")[:MAX_PERSON], door.field("company")[:MAX_PERSON]
    return _answer(
        door,
        lambda: handheld(door).entry(
            door.user, person, company or None, event_id, captured, door.actor()
        ),
    )


# --- the plumbing --------------------------------------------------------------------------
# The request's body is read first (at most a frame's limit), then everything else runs in
# one worker thread: one trip off the event loop per frame.


def _new_door(request: Request) -> Door:
    ctx = context(request)
    return Door(request, ctx, language(request, ctx), None)


def _allowed(door: Door, *, csrf_header: bool) -> Response | None:
    """Who is asking: a live session whose role may scan, with the session's CSRF token
    (a frame's body is no form: in its header; a typed number's: in the form or header)."""
    cookie = door.request.cookies.get(session_cookie(door.ctx))
    door.session = door.ctx.sessions.find(cookie, True)
    if door.session is None:
        return _error(door, "signed_out")
    if not door.session.account.may(accounts.SCAN):
        return _error(door, "forbidden")
    sent = door.request.headers.get(CSRF_HEADER, "")
    if not csrf_header:
        sent = door.form.get(CSRF_FIELD) or sent
    if not hmac.compare_digest(sent, door.session.csrf_token):
        return _error(door, "csrf")
    return None


def _admit(door: Door) -> Response | None:
    try:
        handheld(door).admit(door.user)
    except HandheldError as exc:
        return _error(door, exc.code, retry_after_s=exc.retry_after_s)
    return None


async def _body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None when it is (or says it is) larger than ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _event(text: str) -> uuid.UUID | None:
    try:
        value = uuid.UUID(text) if len(text) == 36 else None
    except ValueError:
        return None
    return value if value is not None and value.version == 7 else None


def _milliseconds(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 15 else None


def _answer(door: Door, work: Callable[[], Answer]) -> Response:
    try:
        answer = work()
    except HandheldError as exc:
        return _error(door, exc.code, retry_after_s=exc.retry_after_s)
    except doors.DoorError as exc:
        return _error(door, exc.code, field=exc.field, detail=str(exc))
    return _json(door, 200, _shown(door, answer))


def _json(door: Door, status: int, body: dict[str, Any]) -> Response:
    body["server_ms"] = int(door.ctx.clock.now().timestamp() * 1000)
    return JSONResponse(body, status_code=status)


def _error(
    door: Door,
    code: str,
    *,
    field: str | None = None,
    detail: str = "",
    retry_after_s: float = 0.0,
) -> Response:
    messages = _errors(door._)
    body: dict[str, Any] = {
        "error": code,
        "message": messages.get(code) or f"{detail} [{code}]",
    }
    if field:
        body["field"] = field
    if retry_after_s > 0:
        body["retry_after"] = round(retry_after_s, 2)
    response = _json(door, STATUS.get(code, 400), body)
    if retry_after_s > 0:
        response.headers["Retry-After"] = str(int(retry_after_s) + 1)
    return response


def _errors(_: Callable[[str], str]) -> dict[str, str]:
    return {
        "signed_out": _("Your session has ended. Sign in again."),
        "forbidden": _("Your account may not scan. Ask a site manager for the team leader role."),
        "csrf": _("This page has expired. Reload it."),
        "too_large": _("The picture is larger than 1 MB."),
        "too_many_pixels": _("The picture is too large."),
        "not_an_image": _("That is not a picture the controller can read."),
        "too_frequent": _("Too many pictures at once: slowing down."),
        "busy": _("The previous picture is still being read."),
        "stale": _("Scanned on another day: register this worker by hand."),
        "event_taken": _("This scan's number is already used by another door."),
        "bad_event_id": _("The scan has no valid number: reload the page."),
        "bad_time": _("The scan's time cannot be read: reload the page."),
        "bad_form": _("The form could not be read."),
        "bad_person": _("Neither a national number (check the digits) nor a Limosa number."),
        "company_required": _("A national number needs the employer's enterprise number."),
        "bad_company": _("Not a valid enterprise number."),
        "employer_not_on_roster": _("This person is on the roster for another employer."),
    }


def _shown(door: Door, answer: Answer) -> dict[str, Any]:
    """The answer as the page shows it: a tone, a title and a line, in the user's language."""
    _ = door._
    limosa = answer.credential in ("l1_qr", "keypad_limosa")
    texts: dict[str, tuple[str, str, str]] = {
        "admitted": ("ok", _("Admitted"), _("Registered: on its way to NSSO.")),
        "already_registered": (
            "ok",
            _("Already registered today"),
            _("Checked in earlier today: counted once."),
        ),
        "already_scanned": (
            "ok",
            _("Already scanned"),
            _("Scanned a moment ago: counted once."),
        ),
        "unknown_person": (
            "bad",
            _("Unknown person"),
            _("Not on this site's roster: check the roster or the employer."),
        ),
        "not_valid_today": (
            "bad",
            _("L1 not valid today") if limosa else _("Not valid today"),
            _("On the roster, but not for today: check the dates of the Limosa declaration.")
            if limosa
            else _("On the roster, but not for today: check the roster's dates."),
        ),
        "blocked": (
            "bad",
            _("Blocked"),
            _("Blocked on the roster: send the worker to the office."),
        ),
        "not_an_l1_code": (
            "bad",
            _("Not an L1 code"),
            _("This QR code is not a Limosa L1 certificate."),
        ),
        "bad_l1_code": (
            "bad",
            _("L1 code unusable"),
            _("This L1 code carries no usable Limosa number."),
        ),
    }
    tone, title, detail = texts.get(answer.outcome, ("none", "", ""))
    return {
        "event_id": str(answer.event_id),
        "outcome": answer.outcome,
        "decision": answer.decision,
        "reason": answer.reason,
        "stored": answer.stored,
        "ack": answer.ack,
        "person": answer.person,
        "name": answer.name,
        "credential": answer.credential,
        "presence_state": answer.presence_state,
        "at": door.lang.time(answer.scanned_at, seconds=True),
        "tone": tone,
        "title": title,
        "detail": detail,
    }
