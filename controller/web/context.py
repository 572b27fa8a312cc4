"""What every page needs: the controller's config and store, sessions, languages, templates."""

from __future__ import annotations

import gettext
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.templating import Jinja2Templates

from controller.config import ControllerConfig
from controller.store import Store
from controller.views import show_company
from controller.web.i18n import load_catalogs
from controller.web.live import LiveHub
from controller.web.sessions import Sessions
from controller.web.throttle import LoginThrottle
from presence.clock import Clock, SystemClock

DEFAULT_IDLE_S = 7200
DEFAULT_MAX_S = 43200


@dataclass
class WebContext:
    config: ControllerConfig
    store: Store
    clock: Clock
    sessions: Sessions
    throttle: LoginThrottle
    catalogs: dict[str, gettext.NullTranslations]
    templates: Jinja2Templates
    hub: LiveHub
    secure: bool  # served over TLS: Secure cookies with the __Host- prefix
    # The NSSO client for cancellations (the relay's own factory by default).
    registry_factory: Callable[[], Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        config: ControllerConfig,
        store: Store,
        *,
        clock: Clock | None = None,
        secure: bool | None = None,
        registry_factory: Callable[[], Any] | None = None,
        live_poll_s: float | None = None,
    ) -> WebContext:
        web = config.web
        idle = web.session_idle_s if web else DEFAULT_IDLE_S
        longest = web.session_max_s if web else DEFAULT_MAX_S
        environment = Environment(
            loader=PackageLoader("controller.web", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        environment.filters["company"] = show_company
        clock = clock or store.clock or SystemClock()
        return cls(
            config=config,
            store=store,
            clock=clock,
            sessions=Sessions(store, idle, longest),
            throttle=LoginThrottle(clock),
            catalogs=load_catalogs(),
            templates=Jinja2Templates(env=environment),
            hub=LiveHub(store, poll_s=live_poll_s),
            secure=bool(web and web.tls) if secure is None else secure,
            registry_factory=registry_factory,
        )
