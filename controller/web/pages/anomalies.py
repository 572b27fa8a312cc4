"""Anomalies with their evidence, and the actions on them (``controller.anomaly_actions``):
assign an employer, requeue after a correction, acknowledge a missed day with a comment,
say whether a held presence is the same person as another (``manage.resolve_same_person``),
cancel a registration with one of NSSO's reasons after a confirmation page."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from controller import accounts, anomaly_actions, manage, views
from controller.errors import ControllerError
from controller.relay import make_registry
from controller.web import auditing
from controller.web.door import Door, page

REASONS = manage.CANCEL_REASONS
ACTIONS = ("assign", "requeue", "acknowledge", "same", "different")
COMMENT_MAX = 500


@page()
def anomalies(door: Door) -> Response:
    return door.render(
        "anomalies.html", rows=views.anomalies(door.ctx.store), done=door.query("done")
    )


def _detail_page(door: Door, presence: int, status: int = 200, **values: Any) -> Response:
    try:
        detail = views.presence_detail(door.ctx.store, presence)
    except ControllerError:
        return door.render("error.html", 404, reason="not_found")
    values.setdefault("errors", {})
    employers = anomaly_actions.roster_employers(door.ctx.store) if door.may("act") else []
    return door.render(
        "anomaly.html", status, p=detail, employers=employers, reasons=REASONS, **values
    )


@page()
def detail(door: Door) -> Response:
    return _detail_page(door, door.request.path_params["presence"])


def _registry(door: Door) -> Any:
    factory = door.ctx.registry_factory or (lambda: make_registry(door.ctx.config))
    return factory()


@page(accounts.ACT)
def act(door: Door) -> Response:
    presence, action = door.request.path_params["presence"], door.request.path_params["action"]
    if action not in ACTIONS:
        return door.render("error.html", 404, reason="not_found")
    store, actor = door.ctx.store, door.actor()
    try:
        if action == "assign":
            done = anomaly_actions.assign_employer(
                store, presence, door.field("company"), actor=actor
            )
        elif action in ("same", "different"):
            decided = manage.resolve_same_person(store, presence, action == "same")
            auditing.record(
                door.ctx,
                actor.who,
                f"same_person_{action}",
                target=f"presence {presence}",
                detail=f"other presence {decided.other_id}",
                address=actor.address,
            )
            return door.redirect(f"/anomalies?done={decided.presence_id}")
        elif action == "acknowledge":
            comment = door.form.get("comment", "")[: COMMENT_MAX + 1]
            done = anomaly_actions.acknowledge_missed(store, presence, comment, actor=actor)
        else:
            registry = _registry(door)
            try:
                done = anomaly_actions.requeue_presence(
                    store, presence, registry=registry, actor=actor
                )
            finally:
                registry.close()
    except ControllerError as exc:
        field = {"assign": "company", "acknowledge": "comment", "same": "same",
                 "different": "same"}.get(action, "requeue")  # fmt: skip
        return _detail_page(door, presence, 400, errors={field: f"{exc} [{exc.code}]"})
    return door.redirect(f"/anomalies?done={done.presence_id}")


def _presence_id(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 19 else None


@page(accounts.ACT)
def cancel_confirm(door: Door) -> Response:
    presence = _presence_id(door.query("presence"))
    if presence is None:
        return door.render("error.html", 400, reason="bad_request")
    try:
        detail = views.presence_detail(door.ctx.store, presence)
    except ControllerError:
        return door.render("error.html", 404, reason="not_found")
    return door.render("cancel.html", p=detail, reasons=REASONS, errors={}, reason="")


@page(accounts.ACT)
def cancel(door: Door) -> Response:
    presence, reason = _presence_id(door.field("presence")), door.field("reason")
    if presence is None:
        return door.render("error.html", 400, reason="bad_request")
    try:
        detail = views.presence_detail(door.ctx.store, presence)
    except ControllerError:
        return door.render("error.html", 404, reason="not_found")
    errors: dict[str, str] = {}
    if reason not in REASONS:
        errors["reason"] = door._("Choose one of NSSO's reasons.")
    if door.field("confirm") != "yes":
        errors["confirm"] = door._("Tick the box to confirm the cancellation.")
    if not errors:
        registry = _registry(door)
        try:
            anomaly_actions.cancel_presence(
                door.ctx.store, registry, presence, reason, actor=door.actor()
            )
        except ControllerError as exc:
            errors["reason"] = f"{exc} [{exc.code}]"
        else:
            return door.redirect(f"/presences?day={detail['date']}&cancelled={detail['receipt']}")
        finally:
            registry.close()
    return door.render("cancel.html", 400, p=detail, reasons=REASONS, errors=errors, reason=reason)
