"""Roster: upload (preview, then confirm), list, search, block, remove; a person's history."""

from __future__ import annotations

from starlette.responses import Response

from controller import accounts
from controller.web.door import Door, page


@page()
def roster(door: Door) -> Response:
    return door.render("roster.html", rows=[], search="", errors={}, plan=None)


@page(accounts.ACT, upload=True)
def upload(door: Door) -> Response:
    return door.render("roster.html", 400, rows=[], search="", errors={}, plan=None)


@page(accounts.ACT)
def apply(door: Door) -> Response:
    return door.redirect("/roster")


@page(accounts.ACT)
def change(door: Door) -> Response:
    return door.redirect("/roster")


@page()
def person(door: Door) -> Response:
    return door.render("error.html", 404, reason="not_found")
