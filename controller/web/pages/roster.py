"""Roster: upload (preview, then confirm), list, search, block, remove; a person's history.

An upload changes nothing: the plan ``controller.roster.plan_import`` makes is kept for this
session (in memory, one per session, for ``PLAN_TTL_S``) and shown; only the manager's
confirmation applies its good rows, with ``apply_import``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import PurePath

from starlette.responses import Response

from controller import accounts, roster
from controller.errors import ControllerError
from controller.roster_file import MAX_UPLOAD_BYTES, Upload
from controller.web.door import Door, page
from controller.web.lookup import person_of_roster_entry

PLAN_TTL_S = 30 * 60
FORMATS = (".csv", ".xlsx")
MAX_SHOWN = 1000  # rows of each kind a preview lists (all are applied)


@dataclass
class Pending:
    plan: roster.ImportPlan
    made: float


class Plans:
    """The plan each session is looking at, waiting for a confirmation."""

    def __init__(self) -> None:
        self._plans: dict[str, Pending] = {}
        self._lock = threading.Lock()

    def keep(self, session: str, plan: roster.ImportPlan) -> None:
        with self._lock:
            now = time.monotonic()
            self._plans = {k: v for k, v in self._plans.items() if now - v.made < PLAN_TTL_S}
            self._plans[session] = Pending(plan, now)

    def take(self, session: str, digest: str) -> roster.ImportPlan | None:
        with self._lock:
            pending = self._plans.get(session)
            if pending is None or pending.plan.digest != digest:
                return None
            if time.monotonic() - pending.made >= PLAN_TTL_S:
                return None
            del self._plans[session]
            return pending.plan


def _plans(door: Door) -> Plans:
    plans = door.ctx.extra.get("roster_plans")
    if plans is None:
        plans = door.ctx.extra.setdefault("roster_plans", Plans())
    return plans


def _list(door: Door, status: int = 200, **values: object) -> Response:
    search = door.query("search").strip()[:60]
    rows = roster.people(door.ctx.store, search or None)
    values.setdefault("errors", {})
    values.setdefault("plan", None)
    return door.render(
        "roster.html", status, rows=rows, search=search, done=door.query("done"), **values
    )


@page()
def roster_page(door: Door) -> Response:
    return _list(door)


@page(accounts.ACT, upload=True)
def upload(door: Door) -> Response:
    file = door.uploads.get("file")
    problem = _check_upload(door, file)
    if problem or file is None or file.data is None:
        return _list(door, 400, errors={"file": problem})
    try:
        plan = roster.plan_import(door.ctx.store, Upload(PurePath(file.filename).name, file.data))
    except ControllerError as exc:
        return _list(door, 400, errors={"file": f"{exc} [{exc.code}]"})
    assert door.session is not None
    _plans(door).keep(door.session.token_hash, plan)
    return door.render("roster_preview.html", plan=plan, shown=MAX_SHOWN)


def _check_upload(door: Door, file: object) -> str:
    from controller.web.door import Upload as Received

    if not isinstance(file, Received) or not file.filename:
        return door._("Choose a CSV or XLSX file.")
    if not file.filename.lower().endswith(FORMATS):
        return door._("Only CSV or XLSX files can be imported.")
    if file.data is None or file.size > MAX_UPLOAD_BYTES:
        return door._("The file is larger than 5 MB: nothing was imported.")
    if not file.data:
        return door._("The file is empty.")
    return ""


@page(accounts.ACT)
def apply(door: Door) -> Response:
    assert door.session is not None
    plan = _plans(door).take(door.session.token_hash, door.field("plan"))
    if plan is None:
        expired = door._("This preview has expired or was already applied: upload it again.")
        return _list(door, 400, errors={"file": expired})
    result = roster.apply_import(door.ctx.store, plan, door.actor())
    return door.redirect(f"/roster?done={result.added}-{result.changed}-{result.refused}")


ACTIONS = ("block", "unblock", "remove")


@page(accounts.ACT)
def change(door: Door) -> Response:
    action = door.request.path_params["action"]
    if action not in ACTIONS:
        return door.render("error.html", 404, reason="not_found")
    try:
        person = person_of_roster_entry(door.ctx.store, door.request.path_params["entry"])
        if action == "block":
            roster.block(door.ctx.store, person, door.actor())
        elif action == "unblock":
            roster.unblock(door.ctx.store, person, door.actor())
        else:
            roster.remove(door.ctx.store, person, actor=door.actor())
    except ControllerError as exc:
        return _list(door, 400, errors={"list": f"{exc} [{exc.code}]"})
    return door.redirect("/roster")


@page()
def person(door: Door) -> Response:
    try:
        who = person_of_roster_entry(door.ctx.store, door.request.path_params["entry"])
    except ControllerError:
        return door.render("error.html", 404, reason="not_found")
    return door.render(
        "person.html",
        person=roster.history(door.ctx.store, who),
        entry=door.request.path_params["entry"],
    )
