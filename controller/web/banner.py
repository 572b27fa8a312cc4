"""The red banner on Today: NSSO or the broker unreachable for more than 5 minutes, the
controller not running, a terminal silent or tampered. ``controller.health`` decides; the
console only words it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller import health

if TYPE_CHECKING:
    from controller.web.door import Door


def banner(door: Door) -> list[str]:
    _ = door._
    words = {
        "controller_not_running": _(
            "The controller is not running (last seen %(since)s): "
            "nothing is stored or sent to NSSO."
        ),
        "nsso_unreachable": _(
            "NSSO has been unreachable since %(since)s: registrations wait "
            "and are sent when it answers. %(detail)s"
        ),
        "broker_unreachable": _(
            "The broker has been unreachable since %(since)s: the gates "
            "decide offline and keep their check-ins."
        ),
        "terminal_silent": _("Terminal %(subject)s is silent: no heartbeat for 3 intervals."),
        "terminal_tampered": _("Terminal %(subject)s: enclosure opened."),
    }
    lines = []
    for item in health.read(door.ctx.store).banners():
        text = words.get(item.code, item.code)
        lines.append(
            text % {"since": item.since or "?", "subject": item.subject, "detail": item.detail}
        )
    return lines
