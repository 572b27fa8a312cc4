"""Terminals: link state, heartbeat age, outbox depth, clock offset, version, revoked; red
when the heartbeat is older than 3 intervals (``views.terminal_health`` says ``silent``)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from controller import accounts, enrolment, views
from controller.enrolment import EnrolmentRefused
from controller.web.door import Door, page
from presence.clock import BRUSSELS


def level(row: dict[str, object]) -> str:
    if row["revoked"] or row["silent"] or row["tampered"] or row["link"] != "online":
        return "bad"
    if row["outbox_alarm"] or row["clock_synced"] is False:
        return "wait"
    return "ok"


def _page(door: Door, status: int = 200, **values: Any) -> Response:
    rows = views.terminal_health(door.ctx.store)
    for row in rows:
        row["level"] = level(row)
    can_enrol = door.may(accounts.ACT) and door.ctx.config.enrolment is not None
    values.setdefault("errors", {})
    values.setdefault("values", {})
    return door.render("terminals.html", status, rows=rows, can_enrol=can_enrol, **values)


@page()
def terminals(door: Door) -> Response:
    return _page(door)


@page(accounts.ACT)
def enrol(door: Door) -> Response:
    """A single-use enrolment code for a new (or replaced) terminal, shown as a QR code."""
    name, direction = door.field("terminal").strip(), door.field("direction")
    try:
        token, text = enrolment.new_code(
            door.ctx.store, door.ctx.config, name, direction, actor=door.actor()
        )
    except EnrolmentRefused as exc:
        where = "direction" if exc.code == "bad_direction" else "terminal"
        return _page(door, 400, errors={where: str(exc)}, values={"terminal": name})
    return door.render(
        "terminal_enrol.html",
        terminal=token.terminal_id,
        direction=token.direction,
        expires=token.expires_at.astimezone(BRUSSELS).strftime("%H:%M"),
        qr=enrolment.qr_data_uri(text),
    )
