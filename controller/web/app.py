"""The console as a Starlette application: routes, error pages, security headers, lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from controller.web import auth, pages
from controller.web.context import WebContext
from controller.web.door import context, language, render
from controller.web.headers import SecurityHeaders
from controller.web.timing import ServerTiming

log = logging.getLogger(__name__)

# Whole request bodies above this are refused before they are read (the roster upload's own
# limit, 5 MB, is checked on the file with a message next to the field).
MAX_BODY_BYTES = 20 * 1024 * 1024


def routes() -> list[Route | Mount]:
    get, post = ["GET"], ["POST"]
    return [
        Route("/login", auth.login_form, methods=get),
        Route("/login", auth.login, methods=post),
        Route("/logout", auth.logout, methods=post),
        Route("/lang/{code}", auth.switch_language, methods=get),
        Route("/", pages.today.today, methods=get),
        Route("/live/events", pages.today.events, methods=get),
        Route("/live/today", pages.today.fragment, methods=get),
        Route("/onsite", pages.onsite.onsite, methods=get),
        Route("/onsite/print", pages.onsite.printable, methods=get),
        Route("/onsite.pdf", pages.onsite.pdf, methods=get),
        Route("/live/onsite", pages.onsite.fragment, methods=get),
        Route("/presences", pages.presences.presences, methods=get),
        Route("/presences.{fmt}", pages.presences.export, methods=get),
        Route("/reveal", pages.reveal.reveal, methods=post),
        Route("/register", pages.register.form, methods=get),
        Route("/register", pages.register.submit, methods=post),
        Route("/scan", pages.scan.scan, methods=get),
        Route("/scan/frame", pages.scan.frame, methods=post),
        Route("/scan/entry", pages.scan.entry, methods=post),
        Route("/anomalies", pages.anomalies.anomalies, methods=get),
        Route("/anomalies/{presence:int}", pages.anomalies.detail, methods=get),
        Route("/anomalies/{presence:int}/{action}", pages.anomalies.act, methods=post),
        Route("/cancel", pages.anomalies.cancel_confirm, methods=get),
        Route("/cancel", pages.anomalies.cancel, methods=post),
        Route("/terminals", pages.terminals.terminals, methods=get),
        Route("/roster", pages.roster.roster_page, methods=get),
        Route("/roster/upload", pages.roster.upload, methods=post),
        Route("/roster/apply", pages.roster.apply, methods=post),
        Route("/roster/{entry:int}/{action}", pages.roster.change, methods=post),
        Route("/roster/{entry:int}", pages.roster.person, methods=get),
        Route("/refused", pages.refused.refused, methods=get),
        Route("/proof", pages.proof.proof, methods=get),
        Route("/proof.{fmt}", pages.proof.download_proof, methods=get),
        Route("/quarantine", pages.quarantine.quarantine, methods=get),
        Route("/quarantine/replay", pages.quarantine.replay, methods=post),
        Route("/audit", pages.audit.audit, methods=get),
        Route("/healthz", healthz, methods=get),
        Mount("/static", StaticFiles(packages=[("controller.web", "static")]), name="static"),
    ]


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    reason = {404: "not_found", 405: "not_allowed", 413: "too_large"}.get(status, "bad_request")
    ctx = context(request)
    return render(
        request, ctx, language(request, ctx), None, "error.html", status, {"reason": reason}
    )


async def server_error(request: Request, exc: Exception) -> Response:
    """Never a stack trace: a plain page, and the error in the log for the administrator."""
    log.error("console page %s failed: %s: %s", request.url.path, type(exc).__name__, exc)
    ctx = context(request)
    return render(
        request, ctx, language(request, ctx), None, "error.html", 500, {"reason": "server"}
    )


def create_app(ctx: WebContext) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await ctx.hub.start()
        try:
            yield
        finally:
            await ctx.hub.stop()

    app = Starlette(
        routes=routes(),
        middleware=[Middleware(ServerTiming), Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: http_error, 500: server_error},
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.ctx = ctx
    return app
