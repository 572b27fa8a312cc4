"""Signing in and out, and the language switch.

The session cookie is HttpOnly, ``SameSite=Lax`` and, over TLS, ``Secure`` with the
``__Host-`` prefix. Lax rather than Strict: the link in an alert e-mail must open the page
signed in, and Lax already keeps the cookie off every cross-site POST; every state change is
a POST with a CSRF token besides. The login form itself carries a token too (double submit:
a cookie and a hidden field that must match), so no other site can sign someone in.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from controller import accounts
from controller.web import auditing, i18n
from controller.web.door import (
    CSRF_FIELD,
    Door,
    context,
    language,
    page,
    read_form,
    render,
    session_cookie,
)

LOGIN_CSRF_COOKIE = "sg_login_csrf"
MAX_NAME = 64


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (another site) is home."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target[:500]


async def login_form(request: Request) -> Response:
    ctx = context(request)
    lang = language(request, ctx)
    cookie = request.cookies.get(session_cookie(ctx))
    if await run_in_threadpool(ctx.sessions.find, cookie, False) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), 303)
    return _login_page(request, lang, next_path=request.query_params.get("next", "/"))


def _login_page(
    request: Request,
    lang: i18n.Language,
    *,
    next_path: str,
    name: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    ctx = context(request)
    token = secrets.token_urlsafe(24)
    request.scope["sg_login_csrf"] = token
    response = render(
        request,
        ctx,
        lang,
        None,
        "login.html",
        status,
        {"next": safe_next(next_path), "name": name, "error": error},
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, path="/login", secure=ctx.secure, httponly=True, samesite="strict"
    )
    return response


async def login(request: Request) -> Response:
    ctx = context(request)
    lang = language(request, ctx)
    door = Door(request, ctx, lang, None)
    refused = await read_form(door, upload=False)
    if refused is not None:
        return refused
    name = door.field("name").lower()[:MAX_NAME]
    password = door.form.get("password", "")
    next_path = door.field("next")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(door.form.get(CSRF_FIELD, ""), expected):
        return _login_page(
            request, lang, next_path=next_path, name=name, error="expired", status=403
        )
    address = door.address
    wait = ctx.throttle.blocked(name, address)
    if wait > 0:
        await run_in_threadpool(
            auditing.record, ctx, _who(name), "login.throttled", address=address
        )
        response = _login_page(
            request, lang, next_path=next_path, name=name, error="throttled", status=429
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    account = await run_in_threadpool(accounts.authenticate, ctx.store, name, password)
    if account is None:
        ctx.throttle.failed(name, address)
        await run_in_threadpool(auditing.record, ctx, _who(name), "login.failed", address=address)
        return _login_page(request, lang, next_path=next_path, name=name, error="wrong", status=401)
    ctx.throttle.succeeded(name)
    await run_in_threadpool(ctx.sessions.purge_expired)
    cookie, _session = await run_in_threadpool(ctx.sessions.open, account, address)
    await run_in_threadpool(auditing.record, ctx, account.name, "login", address=address)
    response = RedirectResponse(safe_next(next_path), 303)
    response.set_cookie(
        session_cookie(ctx),
        cookie,
        max_age=int(ctx.sessions.max.total_seconds()),
        path="/",
        secure=ctx.secure,
        httponly=True,
        samesite="lax",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _who(name: str) -> str:
    """The name tried, as the audit shows it: only when it could be an account name."""
    return name if accounts.NAME.fullmatch(name) else "?"


@page(accounts.READ)
def logout(door: Door) -> Response:
    assert door.session is not None
    door.ctx.sessions.close(door.session)
    auditing.record(door.ctx, door.user, "logout", address=door.address)
    response = door.redirect("/login")
    response.delete_cookie(
        session_cookie(door.ctx), path="/", secure=door.ctx.secure, httponly=True, samesite="lax"
    )
    return response


async def switch_language(request: Request) -> Response:
    """``/lang/nl?next=/today``: remembered in a cookie for a year (a preference only)."""
    code = request.path_params["code"]
    response = RedirectResponse(safe_next(request.query_params.get("next")), 303)
    if code in i18n.LANGUAGES:
        ctx = context(request)
        response.set_cookie(
            i18n.COOKIE,
            code,
            max_age=365 * 86400,
            path="/",
            secure=ctx.secure,
            httponly=True,
            samesite="lax",
        )
    return response
