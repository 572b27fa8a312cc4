"""Register by hand: a worker whose card is broken or forgotten (today or tomorrow)."""

from __future__ import annotations

from starlette.responses import Response

from controller import accounts
from controller.web.door import Door, page


@page(accounts.ACT)
def form(door: Door) -> Response:
    return door.render("register.html", values={}, errors={})


@page(accounts.ACT)
def submit(door: Door) -> Response:
    return door.render("register.html", 400, values=door.form, errors={})
