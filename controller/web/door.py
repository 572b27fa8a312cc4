"""The plumbing every page shares: who is asking, in which language, with which form.

``page(permission)`` wraps a route handler. Before the handler runs it resolves the session
(no session: to the login page), checks the role's permission (403), reads a POST's form
under size limits and checks its CSRF token (403), then runs the handler (plain, blocking
code: it calls the controller's functions) in a worker thread. Handlers receive a ``Door``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from controller import accounts
from controller.web import i18n
from controller.web.context import WebContext
from controller.web.sessions import Session

log = logging.getLogger(__name__)

MAX_FIELDS = 50
MAX_FIELD_BYTES = 64 * 1024
UPLOAD_LIMIT = 5 * 1024 * 1024  # the roster upload: larger files are refused, nothing read
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"  # a page's script posting with fetch (the scan page) sends it here

Handler = Callable[["Door"], Response]


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes | None  # None: larger than UPLOAD_LIMIT
    size: int


@dataclass
class Door:
    request: Request
    ctx: WebContext
    lang: i18n.Language
    session: Session | None
    form: dict[str, str] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)

    # --- who -------------------------------------------------------------------------------

    @property
    def account(self) -> accounts.Account | None:
        return self.session.account if self.session else None

    @property
    def user(self) -> str:
        return self.session.account.name if self.session else ""

    @property
    def address(self) -> str:
        return self.request.client.host if self.request.client else ""

    def may(self, permission: str) -> bool:
        return self.account is not None and self.account.may(permission)

    def actor(self) -> Any:
        from controller.audit import Actor

        return Actor(self.user, self.address)

    # --- input -----------------------------------------------------------------------------

    def query(self, name: str, default: str = "") -> str:
        value = self.request.query_params.get(name, default)
        return value[:200]

    def field(self, name: str) -> str:
        return self.form.get(name, "").strip()

    def _(self, text: str) -> str:
        return self.lang.gettext(text)

    # --- output ----------------------------------------------------------------------------

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        return render(self.request, self.ctx, self.lang, self.session, template, status, values)

    def redirect(self, path: str) -> Response:
        return RedirectResponse(path, status_code=303)


def render(
    request: Request,
    ctx: WebContext,
    lang: i18n.Language,
    session: Session | None,
    template: str,
    status: int,
    values: dict[str, Any],
) -> Response:
    account = session.account if session else None
    context = {
        "_": lang.gettext,
        "ngettext": lang.ngettext,
        "lang": lang,
        "languages": i18n.LANGUAGE_NAMES,
        "user": account,
        "may": (lambda permission: account is not None and account.may(permission)),
        "csrf": session.csrf_token if session else request.scope.get("sg_login_csrf", ""),
        "path": request.url.path,
        "full_path": _local_path(request),
        "site": ctx.config.site,
        **values,
    }
    return ctx.templates.TemplateResponse(request, template, context, status_code=status)


def _local_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def language(request: Request, ctx: WebContext) -> i18n.Language:
    code = i18n.negotiate(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))
    return i18n.Language(code, ctx.catalogs[code])


def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


def session_cookie(ctx: WebContext) -> str:
    return "__Host-sg_session" if ctx.secure else "sg_session"


def page(
    permission: str = accounts.READ, *, live: bool = False, upload: bool = False
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: session, permission, form and CSRF, then the handler in a thread."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            ctx = context(request)
            lang = language(request, ctx)
            cookie = request.cookies.get(session_cookie(ctx))
            session = await run_in_threadpool(ctx.sessions.find, cookie, not live)
            door = Door(request, ctx, lang, session)
            if session is None:
                if request.method != "GET" or live:
                    return door.render("error.html", 401, reason="signed_out")
                return RedirectResponse(f"/login?next={quote(_local_path(request))}", 303)
            if not session.account.may(permission):
                return door.render("error.html", 403, reason="forbidden")
            if request.method == "POST":
                refused = await read_form(door, upload)
                if refused is not None:
                    return refused
                sent = door.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
                if not hmac.compare_digest(sent, session.csrf_token):
                    return door.render("error.html", 403, reason="csrf")
            return await run_in_threadpool(handler, door)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


async def read_form(door: Door, upload: bool) -> Response | None:
    """The POST's fields (and, for an upload page, its file, kept only when small enough)."""
    try:
        form = await door.request.form(
            max_files=1 if upload else 0, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES
        )
    except HTTPException:
        return door.render("error.html", 400, reason="bad_form")
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                door.uploads[key] = await _upload(value)
            elif key not in door.form:
                door.form[key] = value
    finally:
        await form.close()
    return None


async def _upload(value: UploadFile) -> Upload:
    size = value.size if value.size is not None else 0
    data = None
    if size <= UPLOAD_LIMIT:
        data = await value.read(UPLOAD_LIMIT + 1)
        size = len(data)
        if size > UPLOAD_LIMIT:
            data = None
    return Upload(value.filename or "", value.content_type or "", data, size)
