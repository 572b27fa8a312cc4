"""Reveal one national number or Limosa id (managers only, one at a time, audited)."""

from __future__ import annotations

from starlette.responses import Response

from controller import accounts, views
from controller.errors import ControllerError
from controller.web.door import Door, page

REFS = {"presence": "presence_id", "entry": "roster_id", "event": "event_row_id"}


@page(accounts.REVEAL)
def reveal(door: Door) -> Response:
    given = {arg: door.field(name) for name, arg in REFS.items() if door.field(name)}
    if len(given) != 1 or not all(v.isdigit() and len(v) < 19 for v in given.values()):
        return door.render("error.html", 400, reason="bad_request")
    refs = {arg: int(value) for arg, value in given.items()}
    try:
        number = views.reveal_number(door.ctx.store, actor=door.actor(), **refs)
    except ControllerError:
        return door.render("error.html", 404, reason="not_found")
    back = door.field("back")
    if not back.startswith("/") or back.startswith("//"):
        back = "/"
    return door.render("reveal.html", number=number, back=back)
