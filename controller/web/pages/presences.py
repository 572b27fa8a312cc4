"""Presences of a day: picker, filters, search; CSV and XLSX of exactly what is shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from starlette.responses import Response

from controller import reports, schema, views
from controller.web.door import Door, page
from presence.clock import brussels_date

MAX_SEARCH = 60
PAGE_ROWS = 200  # a page a phone can scroll; the exports hold every row of the filters


@dataclass
class Query:
    day: date
    company: str = ""
    state: str = ""
    search: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def params(self) -> str:
        values = {
            "day": self.day.isoformat(),
            "company": self.company,
            "state": self.state,
            "search": self.search,
        }
        return urlencode({k: v for k, v in values.items() if v})


def read_day(door: Door) -> tuple[date, dict[str, str]]:
    """``?day=YYYY-MM-DD`` (default today); a bad value is reported next to its field."""
    today = brussels_date(door.ctx.clock.now())
    text = door.query("day").strip()
    if not text:
        return today, {}
    try:
        return date.fromisoformat(text), {}
    except ValueError:
        return today, {"day": door._("Not a date: use the picker or YYYY-MM-DD.")}


def read_query(door: Door) -> Query:
    day, errors = read_day(door)
    query = Query(day, errors=errors)
    state = door.query("state").strip()
    if state and state not in schema.STATES:
        query.errors["state"] = door._("Unknown state.")
    else:
        query.state = state
    company = door.query("company").strip()
    digits = "".join(c for c in company if c.isdigit())
    if company and (len(digits) not in (9, 10) or len(company) > 14):
        query.errors["company"] = door._("Not an enterprise number.")
    else:
        query.company = company
    search = door.query("search").strip()
    if len(search) > MAX_SEARCH:
        query.errors["search"] = door._("Too long: type a name or the last digits.")
    else:
        query.search = search
    return query


def shown(door: Door, query: Query) -> list[dict[str, object]]:
    """Exactly the rows the page shows for ``query`` (the exports use the same)."""
    return views.day_presences(
        door.ctx.store,
        query.day,
        company=query.company or None,
        state=query.state or None,
        search=query.search or None,
    )


def _page_number(door: Door, total: int) -> tuple[int, int]:
    pages = max(1, -(-total // PAGE_ROWS))
    text = door.query("page")
    number = int(text) if text.isdigit() and len(text) < 6 else 1
    return min(max(number, 1), pages), pages


@page()
def presences(door: Door) -> Response:
    query = read_query(door)
    rows = [] if query.errors else shown(door, query)
    number, pages = _page_number(door, len(rows))
    start = (number - 1) * PAGE_ROWS
    companies = views.companies_of_day(door.ctx.store, query.day)
    return door.render(
        "presences.html",
        400 if query.errors else 200,
        rows=rows[start : start + PAGE_ROWS],
        total=len(rows),
        page=number,
        pages=pages,
        first=start + 1,
        last=min(start + PAGE_ROWS, len(rows)),
        query=query,
        states=schema.STATES,
        companies=companies,
        cancelled=door.query("cancelled"),
    )


@page()
def export(door: Door) -> Response:
    fmt = door.request.path_params["fmt"]
    query = read_query(door)
    if query.errors or fmt not in reports.EXPORT_FORMATS:
        return door.render("error.html", 400, reason="bad_request")
    rows = shown(door, query)
    done = reports.export(
        door.ctx.store,
        rows,
        views.DAY_COLUMNS,
        fmt,
        what=f"presences-{query.day.isoformat()}",
        actor=door.actor(),
    )
    return download(done)


def download(done: reports.Export) -> Response:
    return Response(
        done.data,
        media_type=done.media_type,
        headers={"Content-Disposition": f'attachment; filename="{done.filename}"'},
    )
