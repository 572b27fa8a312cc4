"""The console served for real: uvicorn on loopback, HTTPS with the certificate init-site
issued from the site CA, plain HTTP refused off loopback, live events from a commit."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from controller import accounts, checkins
from controller import config as config_module
from controller.errors import ConfigError
from controller.store import open_store
from controller.web.server import ConsoleServer
from presence.events import encode
from provisioning.site_setup import SiteRequest, init_site
from tests.controller.support import checkin, inss, write_site

PASSWORD = "served for real 2026"


def _site(tmp_path: Path):
    config = config_module.load(
        write_site(tmp_path / "site", db_url=f"sqlite:///{tmp_path / 'c.db'}")
    )
    store = open_store(config.database.url)
    accounts.add_account(store, "mia", accounts.MANAGER, PASSWORD)
    return config, store


def _login(client: httpx.Client) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = client.post("/login", data={"name": "mia", "password": PASSWORD, "csrf": token})
    assert answer.status_code == 303


def test_plain_http_is_refused_on_an_address_that_is_not_loopback(tmp_path) -> None:
    config, store = _site(tmp_path)
    try:
        with pytest.raises(ConfigError) as refused:
            ConsoleServer(config, store, host="0.0.0.0", port=0, tls=False)
        assert refused.value.code == "plain_http"
    finally:
        store.close()


def test_a_web_section_with_plain_http_off_loopback_is_refused_at_load(tmp_path) -> None:
    path = write_site(tmp_path / "site", db_url="sqlite:///x.db")
    path.write_text(path.read_text() + '[web]\nhost = "192.0.2.7"\ntls = false\n')
    with pytest.raises(ConfigError) as refused:
        config_module.load(path)
    assert "[web] key 'tls'" in str(refused.value)


def test_the_console_serves_https_with_the_certificate_init_site_issued(tmp_path) -> None:
    site = tmp_path / "etc"
    init_site(
        SiteRequest(
            str(site),
            "1Y102M7NZF7PZ",
            "0403170701",
            "construction",
            "2017-05-02",
            "650000",
            "Demo",
            ("controller.site.lan", "127.0.0.1"),
        )
    )
    path = site / "controller" / "controller.toml"
    text = path.read_text().replace(
        "sqlite:////var/lib/sitegate/controller.db", f"sqlite:///{tmp_path / 'c.db'}"
    )
    path.write_text(text)
    config = config_module.load(path)
    assert config.web is not None and config.web.tls and config.web.host == "0.0.0.0"
    store = open_store(config.database.url)
    accounts.add_account(store, "mia", accounts.MANAGER, PASSWORD)
    server = ConsoleServer(config, store, host="127.0.0.1", port=0).start()
    try:
        assert server.url.startswith("https://127.0.0.1:")
        with httpx.Client(base_url=server.url, verify=str(site / "ca" / "ca.pem")) as client:
            _login(client)
            cookie = client.cookies.jar
            assert any(c.name == "__Host-sg_session" and c.secure for c in cookie)
            assert client.get("/").status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/login", verify=True)  # not a public CA: refused
    finally:
        server.stop()
        store.close()


def test_a_commit_reaches_a_listening_page_as_a_server_sent_event(tmp_path) -> None:
    config, store = _site(tmp_path)
    server = ConsoleServer(config, store, host="127.0.0.1", port=0, tls=False).start()
    got: list[float] = []
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            _login(client)
            ready = threading.Event()

            def listen() -> None:
                with client.stream("GET", "/live/events") as events:
                    for line in events.iter_lines():
                        if line.startswith("retry:"):
                            ready.set()
                        if line == "event: change":
                            got.append(time.monotonic())
                            return

            thread = threading.Thread(target=listen, daemon=True)
            thread.start()
            assert ready.wait(5)
            time.sleep(0.5)  # the watcher has read its first stamp
            committed = time.monotonic()
            event = checkin(inss(1))
            with store.transaction() as conn:
                checkins.record(store, conn, event, encode(event), datetime.now(UTC), 300)
            thread.join(5)
        assert got and got[0] - committed < 1.0
    finally:
        server.stop()
        store.close()


def test_the_server_stops_promptly_with_a_live_page_open(tmp_path) -> None:
    config, store = _site(tmp_path)
    server = ConsoleServer(config, store, host="127.0.0.1", port=0, tls=False).start()
    client = httpx.Client(base_url=server.url, timeout=10)
    try:
        _login(client)
        opened = threading.Event()

        def listen() -> None:
            try:
                with client.stream("GET", "/live/events") as events:
                    for _line in events.iter_lines():
                        opened.set()
            except httpx.HTTPError:
                pass

        threading.Thread(target=listen, daemon=True).start()
        assert opened.wait(5)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5 and not server.alive
    finally:
        client.close()
        store.close()
