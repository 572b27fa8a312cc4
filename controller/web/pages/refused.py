"""Refused at the gate: every refusal of a day with time, gate and reason."""

from __future__ import annotations

from starlette.responses import Response

from controller import views
from controller.web.door import Door, page
from controller.web.pages.presences import read_day


@page()
def refused(door: Door) -> Response:
    day, errors = read_day(door)
    rows = [] if errors else views.refusals(door.ctx.store, day)
    return door.render(
        "refused.html",
        400 if errors else 200,
        rows=rows,
        day=day,
        errors=errors,
        unpublished=views.NOT_PUBLISHED,
    )
