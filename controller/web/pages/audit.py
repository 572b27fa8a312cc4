"""Audit: who did what and when (managers only: it names people's actions)."""

from __future__ import annotations

from starlette.responses import Response

from controller import accounts
from controller import audit as trail
from controller.web.door import Door, page


@page(accounts.ACT)
def audit(door: Door) -> Response:
    who = door.query("who").strip() or None
    action = door.query("action").strip() or None
    rows = trail.entries(door.ctx.store, who=who, action=action, limit=500)
    return door.render("audit.html", rows=rows, who=who or "", action=action or "")
