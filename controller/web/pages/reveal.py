"""Reveal one national number (managers only, one at a time, audited)."""

from __future__ import annotations

from starlette.responses import Response

from controller import accounts
from controller.web.door import Door, page


@page(accounts.REVEAL)
def reveal(door: Door) -> Response:
    return door.render("error.html", 404, reason="not_found")
