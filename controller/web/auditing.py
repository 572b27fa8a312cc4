"""Audit entries for what only the console does (sign-in, sign-out, reveals, downloads).

Actions that change the site (cancel, requeue, roster, registration by hand) are recorded by
the controller's own functions, in the transaction that makes the change
(``controller.audit``); the console passes them its ``Actor``.
"""

from __future__ import annotations

from controller import audit
from controller.web.context import WebContext


def record(
    ctx: WebContext,
    who: str,
    action: str,
    *,
    target: str = "",
    detail: str = "",
    address: str | None = None,
) -> None:
    with ctx.store.transaction() as conn:
        audit.record(
            conn,
            at=ctx.clock.now(),
            who=who,
            action=action,
            target=target,
            detail=detail,
            address=address,
        )
