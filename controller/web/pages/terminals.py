"""Terminals: link state, heartbeat age, outbox depth, clock offset, version, revoked; red
when the heartbeat is older than 3 intervals (``views.terminal_health`` says ``silent``)."""

from __future__ import annotations

from starlette.responses import Response

from controller import views
from controller.web.door import Door, page


def level(row: dict[str, object]) -> str:
    if row["revoked"] or row["silent"] or row["tampered"] or row["link"] != "online":
        return "bad"
    if row["outbox_alarm"] or row["clock_synced"] is False:
        return "wait"
    return "ok"


@page()
def terminals(door: Door) -> Response:
    rows = views.terminal_health(door.ctx.store)
    for row in rows:
        row["level"] = level(row)
    return door.render("terminals.html", rows=rows)
