"""Register by hand: a worker whose card is broken or forgotten (today or tomorrow).

The registration enters the same path as a gate check-in (``controller.doors``: an event
from the virtual terminal ``console-<user>``), so it is deduplicated, relayed and receipted
like any other; the checksums are checked there again, whatever the page's script said."""

from __future__ import annotations

from datetime import timedelta

from starlette.responses import Response

from controller import accounts, doors
from controller.web.door import Door, page
from presence.clock import brussels_date

FIELDS = ("inss", "company", "limosa", "day")


@page(accounts.ACT)
def form(door: Door) -> Response:
    return door.render("register.html", values={"day": "today"}, errors={}, done="")


@page(accounts.ACT)
def submit(door: Door) -> Response:
    values = {name: door.field(name)[:40] for name in FIELDS}
    errors: dict[str, str] = {}
    inss, limosa = values["inss"], values["limosa"]
    if bool(inss) == bool(limosa):
        errors["inss" if not limosa else "limosa"] = door._(
            "Give a national number with its employer, or a Limosa id (one of the two)."
        )
    today = brussels_date(door.ctx.clock.now())
    days = {"today": today, "tomorrow": today + timedelta(days=1)}
    if values["day"] not in days:
        errors["day"] = door._("Today or tomorrow only.")
    if errors:
        return door.render("register.html", 400, values=values, errors=errors, done="")
    try:
        done = doors.register_by_hand(
            door.ctx.store,
            door.ctx.config,
            user=door.user,
            person=inss or limosa,
            company=values["company"] or None,
            day=days[values["day"]],
            actor=door.actor(),
        )
    except doors.DoorError as exc:
        field = exc.field if exc.field in FIELDS else ("inss" if inss else "limosa")
        if exc.field == "person":
            field = "inss" if inss else "limosa"
        errors[field] = f"{exc} [{exc.code}]"
        return door.render("register.html", 400, values=values, errors=errors, done="")
    return door.render(
        "register.html", values={"day": values["day"]}, errors={}, done=_outcome(door, done)
    )


def _outcome(door: Door, done: doors.Submitted) -> str:
    if done.decision != "admitted":
        return door._("Refused, as at a gate: %(reason)s. The refusal is recorded.") % {
            "reason": done.reason
        }
    if done.created:
        return door._("Registered for %(day)s: it is on its way to NSSO.") % {
            "day": door.lang.date(done.day, "medium")
        }
    return door._("Already registered for %(day)s: nothing was sent twice.") % {
        "day": door.lang.date(done.day, "medium")
    }
