"""On site now: the evacuation list, live; a print view that fits A4 and a PDF download."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from controller import reports, views
from controller.web.door import Door, page
from controller.web.pages.presences import download


def _rows(door: Door) -> dict[str, Any]:
    return {"rows": views.onsite(door.ctx.store), "now": door.ctx.clock.now()}


@page()
def onsite(door: Door) -> Response:
    return door.render("onsite.html", **_rows(door))


@page(live=True)
def fragment(door: Door) -> Response:
    return door.render("onsite_list.html", **_rows(door))


@page()
def printable(door: Door) -> Response:
    return door.render("onsite_print.html", **_rows(door))


@page()
def pdf(door: Door) -> Response:
    done = reports.evacuation_pdf(door.ctx.store, door.ctx.config, actor=door.actor())
    return download(done)
