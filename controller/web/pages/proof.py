"""Proof for an inspection: a day's registrations with receipts, as PDF, CSV or XLSX."""

from __future__ import annotations

from starlette.responses import Response

from controller import reports, views
from controller.web.door import Door, page
from controller.web.pages.presences import download, read_day

FORMATS = ("pdf", *reports.EXPORT_FORMATS)


@page()
def proof(door: Door) -> Response:
    day, errors = read_day(door)
    return door.render("proof.html", day=day, errors=errors)


@page()
def download_proof(door: Door) -> Response:
    fmt = door.request.path_params["fmt"]
    day, errors = read_day(door)
    if errors or fmt not in FORMATS:
        return door.render(
            "proof.html", 400, day=day, errors=errors or {"day": door._("Unknown format.")}
        )
    if fmt == "pdf":
        return download(reports.proof_pdf(door.ctx.store, door.ctx.config, day, actor=door.actor()))
    rows = views.day_presences(door.ctx.store, day)
    return download(
        reports.export(
            door.ctx.store,
            rows,
            reports.PROOF_COLUMNS,
            fmt,
            what=f"proof-{day.isoformat()}",
            actor=door.actor(),
        )
    )
