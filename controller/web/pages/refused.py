"""Refused at the gate: every refusal with time, gate and reason."""

from __future__ import annotations

from starlette.responses import Response

from controller.web.door import Door, page


@page()
def refused(door: Door) -> Response:
    return door.render("refused.html", rows=[])
