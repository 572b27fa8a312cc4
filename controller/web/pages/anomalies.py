"""Anomalies with their evidence and the actions on them; cancelling a registration."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from controller import accounts, manage, views
from controller.errors import ControllerError
from controller.relay import make_registry
from controller.web import auditing
from controller.web.door import Door, page

REASONS = manage.CANCEL_REASONS


@page()
def anomalies(door: Door) -> Response:
    return door.render("anomalies.html", rows=views.anomalies(door.ctx.store))


@page()
def detail(door: Door) -> Response:
    return door.render("error.html", 404, reason="not_found")


@page(accounts.ACT)
def act(door: Door) -> Response:
    return door.render("error.html", 404, reason="not_found")


def _receipt(text: str) -> str:
    return text.strip()[:64]


@page(accounts.ACT)
def cancel_confirm(door: Door) -> Response:
    receipt = _receipt(door.query("receipt"))
    return door.render("cancel.html", receipt=receipt, reasons=REASONS, errors={}, reason="")


@page(accounts.ACT)
def cancel(door: Door) -> Response:
    receipt, reason = _receipt(door.field("receipt")), door.field("reason")
    errors: dict[str, str] = {}
    if not receipt:
        errors["receipt"] = door._("Give the receipt number of the registration.")
    if reason not in REASONS:
        errors["reason"] = door._("Choose one of NSSO's reasons.")
    if door.field("confirm") != "yes":
        errors["confirm"] = door._("Tick the box to confirm the cancellation.")
    if not errors:
        factory = door.ctx.registry_factory or (lambda: make_registry(door.ctx.config))
        registry: Any = factory()
        try:
            result = manage.cancel(door.ctx.store, registry, receipt, reason)
        except ControllerError as exc:
            errors["receipt"] = f"{exc} [{exc.code}]"
        else:
            auditing.record(
                door.ctx,
                door.user,
                "presence.cancel",
                target=receipt,
                detail=f"{reason}: {result.status}",
                address=door.address,
            )
            return door.redirect(f"/presences?cancelled={receipt}")
        finally:
            registry.close()
    return door.render(
        "cancel.html", 400, receipt=receipt, reasons=REASONS, errors=errors, reason=reason
    )
