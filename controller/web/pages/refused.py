"""Refused at the gate: every refusal of a day with time, gate and reason, and the refusals
the gates only counted (unreadable cards, cool-down repeats...) per minute and reason."""

from __future__ import annotations

from starlette.responses import Response

from controller import refusals, views
from controller.web.door import Door, page
from controller.web.pages.presences import read_day


@page()
def refused(door: Door) -> Response:
    day, errors = read_day(door)
    rows = [] if errors else views.refusals(door.ctx.store, day)
    counted = [] if errors else refusals.listing(door.ctx.store, day)
    return door.render(
        "refused.html",
        400 if errors else 200,
        rows=rows,
        counted=counted,
        day=day,
        errors=errors,
        unpublished=views.NOT_PUBLISHED,
    )
