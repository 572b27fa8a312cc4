"""Today: the counts, the live feed of decisions at the gates, the health banner."""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.responses import Response, StreamingResponse

from controller import schema, views
from controller.web.door import Door, page
from presence.clock import brussels_date


def _today(door: Door) -> dict[str, Any]:
    store = door.ctx.store
    day = brussels_date(door.ctx.clock.now())
    states = Counter(str(p["state"]) for p in views.presences(store, day=day))
    return {
        "day": day,
        "onsite": len(views.onsite(store)),
        "admitted": sum(states.values()),
        "registered": sum(
            states[s] for s in (schema.REGISTERED, schema.VALIDATED, schema.FAILED_REMARKS)
        ),
        "pending": states[schema.PENDING] + states[schema.SENT],
        "anomalies": sum(states[s] for s in schema.ANOMALY_STATES),
    }


@page()
def today(door: Door) -> Response:
    return door.render("today.html", **_today(door))


@page(live=True)
def fragment(door: Door) -> Response:
    return door.render("today_live.html", **_today(door))


@page(live=True)
def events(door: Door) -> Response:
    """Server-sent events for the live pages (a signed-in session is needed)."""
    hub = door.ctx.hub
    if hub.full:
        return door.render("error.html", 503, reason="busy")
    return StreamingResponse(hub.stream(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})  # fmt: skip
