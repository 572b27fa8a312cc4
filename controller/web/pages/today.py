"""Today: the counts, the live feed of decisions at the gates, the health banner."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response, StreamingResponse

from controller import views
from controller.web.banner import banner
from controller.web.door import Door, page
from presence.clock import brussels_date

FEED_ROWS = 25


def _today(door: Door) -> dict[str, Any]:
    store = door.ctx.store
    counts = views.today_counts(store)
    return {
        "day": brussels_date(door.ctx.clock.now()),
        "counts": counts,
        "feed": views.feed(store, limit=FEED_ROWS),
        "banner": banner(door),
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
    return StreamingResponse(
        hub.stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )
