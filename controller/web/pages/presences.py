"""Presences of a day: picker, filters, search; CSV and XLSX of exactly what is shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from starlette.responses import Response

from controller import schema, views
from controller.output import render
from controller.web import auditing
from controller.web.door import Door, page
from presence.clock import brussels_date


@dataclass
class Query:
    day: date
    state: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def params(self) -> str:
        parts = [f"day={self.day.isoformat()}"]
        if self.state:
            parts.append(f"state={self.state}")
        return "&".join(parts)


def read_query(door: Door) -> Query:
    """The day and filters asked for; a bad value is reported next to its field."""
    query = Query(brussels_date(door.ctx.clock.now()))
    text = door.query("day").strip()
    if text:
        try:
            query.day = date.fromisoformat(text)
        except ValueError:
            query.errors["day"] = door._("Not a date: use the picker or YYYY-MM-DD.")
    state = door.query("state").strip()
    if state and state not in schema.STATES:
        query.errors["state"] = door._("Unknown state.")
    elif state:
        query.state = state
    return query


def _rows(door: Door, query: Query) -> list[dict[str, object]]:
    return views.presences(door.ctx.store, day=query.day, state=query.state or None)


@page()
def presences(door: Door) -> Response:
    query = read_query(door)
    rows = [] if query.errors else _rows(door, query)
    status = 400 if query.errors else 200
    return door.render("presences.html", status, rows=rows, query=query, states=schema.STATES)


@page()
def export(door: Door) -> Response:
    fmt = door.request.path_params["fmt"]
    query = read_query(door)
    if query.errors or fmt not in ("csv",):
        return door.render("error.html", 400, reason="bad_request")
    rows = _rows(door, query)
    auditing.record(door.ctx, door.user, "export.presences", address=door.address,
                    detail=f"{query.params()} {fmt} {len(rows)} rows")  # fmt: skip
    body = render(rows, views.PRESENCE_COLUMNS, "csv") + "\n"
    name = f"presences-{query.day.isoformat()}.{fmt}"
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
