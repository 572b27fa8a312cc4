"""Fixtures of the console tests: a site on a real store, an account per role, a client."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from controller import accounts
from controller import config as config_module
from controller.config import ControllerConfig
from controller.store import Store, open_store
from controller.web.app import create_app
from controller.web.context import WebContext
from presence.clock import ManualClock, SystemClock
from tests.controller.support import write_site

PASSWORD = "site office 2026"
ROLES = {"vera": accounts.VIEWER, "mia": accounts.MANAGER, "tom": accounts.TEAM_LEADER}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Console:
    config: ControllerConfig
    store: Store
    ctx: WebContext
    client: TestClient
    clock: ManualClock | SystemClock

    def csrf(self, path: str = "/") -> str:
        answer = self.client.get(path)
        found = CSRF.search(answer.text)
        assert found, f"no CSRF token on {path} ({answer.status_code})"
        return found.group(1)

    def login(self, name: str, password: str = PASSWORD) -> str:
        """Signs in; returns the session's CSRF token."""
        token = self.csrf("/login")
        answer = self.client.post(
            "/login",
            data={"name": name, "password": password, "csrf": token, "next": "/"},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text[:500]
        return self.csrf("/")

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: object):
        return self.client.post(path, data=data or {}, follow_redirects=False, **kwargs)


@pytest.fixture
def web_config(tmp_path: Path) -> ControllerConfig:
    return config_module.load(
        write_site(tmp_path / "site", db_url=f"sqlite:///{tmp_path / 'c.db'}")
    )


@pytest.fixture
def make_console(web_config: ControllerConfig) -> Iterator[Callable[..., Console]]:
    opened: list[tuple[Store, TestClient]] = []

    def make(clock: ManualClock | None = None, secure: bool = False, **kwargs: object) -> Console:
        store = open_store(web_config.database.url, clock=clock)
        for name, role in ROLES.items():
            try:
                accounts.add_account(store, name, role, PASSWORD)
            except accounts.AccountError:
                pass  # a second console on the same database
        ctx = WebContext.build(web_config, store, clock=clock, secure=secure, **kwargs)  # type: ignore[arg-type]
        base = "https://127.0.0.1" if secure else "http://127.0.0.1"
        client = TestClient(create_app(ctx), base_url=base)
        client.__enter__()
        opened.append((store, client))
        return Console(web_config, store, ctx, client, clock or SystemClock())

    yield make
    for store, client in opened:
        client.__exit__(None, None, None)
        store.close()


@pytest.fixture
def console(make_console: Callable[..., Console]) -> Console:
    return make_console()
