"""Quarantine: messages the controller refused, with the reason; replay those that may pass."""

from __future__ import annotations

from starlette.responses import Response

from controller import accounts, views
from controller import quarantine as held
from controller.web import auditing
from controller.web.door import Door, page


@page()
def quarantine(door: Door) -> Response:
    rows = views.quarantined(door.ctx.store)
    return door.render("quarantine.html", rows=rows, replayed=door.query("replayed"))


@page(accounts.ACT)
def replay(door: Door) -> Response:
    done = held.replay(door.ctx.store, door.ctx.config)
    auditing.record(
        door.ctx,
        door.user,
        "quarantine.replay",
        address=door.address,
        detail=f"{done.stored} stored, {done.still_refused} still refused",
    )
    return door.redirect(f"/quarantine?replayed={done.stored}-{done.still_refused}")
