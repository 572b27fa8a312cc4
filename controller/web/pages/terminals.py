"""Terminals: link state, heartbeat age, outbox depth, clock, version, revoked."""

from __future__ import annotations

from starlette.responses import Response

from controller import views
from controller.web.door import Door, page


@page()
def terminals(door: Door) -> Response:
    rows = views.terminals(door.ctx.store)
    return door.render("terminals.html", rows=rows)
