"""Proof for an inspection: a day's registrations with receipts, as PDF, CSV or XLSX."""

from __future__ import annotations

from starlette.responses import Response

from controller.web.door import Door, page


@page()
def proof(door: Door) -> Response:
    return door.render("proof.html")


@page()
def download(door: Door) -> Response:
    return door.render("error.html", 404, reason="not_found")
