"""Signing in and out of the console: sessions, expiry, CSRF on the login, rate limits."""

from __future__ import annotations

import pytest

from controller import accounts
from controller import audit as trail
from presence.clock import ManualClock
from tests.controller.web.conftest import PASSWORD

PAGES = [
    "/",
    "/onsite",
    "/presences",
    "/anomalies",
    "/terminals",
    "/roster",
    "/refused",
    "/proof",
    "/quarantine",
    "/audit",
    "/register",
    "/onsite/print",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_a_stranger_to_the_login(console, path) -> None:
    answer = console.client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


def test_a_live_fragment_without_a_session_answers_401_not_a_redirect(console) -> None:
    assert console.client.get("/live/today", follow_redirects=False).status_code == 401
    assert console.client.get("/live/events", follow_redirects=False).status_code == 401


def test_signing_in_opens_the_page_asked_for_and_is_audited(console) -> None:
    token = console.csrf("/login?next=/terminals")
    answer = console.post(
        "/login", {"name": "vera", "password": PASSWORD, "csrf": token, "next": "/terminals"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/terminals"
    assert console.client.get("/terminals").status_code == 200
    assert [e["action"] for e in trail.entries(console.store, who="vera")] == ["login"]


def test_the_session_cookie_is_httponly_and_samesite_lax(console) -> None:
    token = console.csrf("/login")
    answer = console.post("/login", {"name": "vera", "password": PASSWORD, "csrf": token})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("sg_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_over_tls_the_cookie_is_secure_with_the_host_prefix(make_console) -> None:
    console = make_console(secure=True)
    token = console.csrf("/login")
    answer = console.post("/login", {"name": "vera", "password": PASSWORD, "csrf": token})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-sg_session=") and "Secure" in cookie


def test_after_login_next_never_leaves_the_console(console) -> None:
    token = console.csrf("/login")
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        console.client.cookies.clear()
        token = console.csrf("/login")
        answer = console.post(
            "/login", {"name": "vera", "password": PASSWORD, "csrf": token, "next": target}
        )
        assert answer.headers["location"] == "/"


def test_a_wrong_password_is_refused_and_audited(console) -> None:
    token = console.csrf("/login")
    answer = console.post("/login", {"name": "vera", "password": "wrong password", "csrf": token})
    assert answer.status_code == 401
    assert "Wrong account name or password" in answer.text
    assert [e["action"] for e in trail.entries(console.store)] == ["login.failed"]
    assert console.client.get("/", follow_redirects=False).status_code == 303


def test_a_login_without_its_csrf_token_is_refused(console) -> None:
    console.csrf("/login")
    answer = console.post("/login", {"name": "vera", "password": PASSWORD, "csrf": "forged"})
    assert answer.status_code == 403
    assert console.client.get("/", follow_redirects=False).status_code == 303


def test_failed_logins_of_one_account_are_rate_limited_with_429(console) -> None:
    for _ in range(5):
        token = console.csrf("/login")
        assert (
            console.post(
                "/login", {"name": "vera", "password": "nope nope nope", "csrf": token}
            ).status_code
            == 401
        )
    token = console.csrf("/login")
    answer = console.post("/login", {"name": "vera", "password": PASSWORD, "csrf": token})
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) > 0
    assert trail.entries(console.store, action="login.throttled")
    # another account from another office is not held up by vera's
    other = console.csrf("/login")
    assert (
        console.post("/login", {"name": "mia", "password": PASSWORD, "csrf": other}).status_code
        == 303
    )


def test_failed_logins_from_one_address_are_rate_limited_across_names(console) -> None:
    for n in range(20):
        token = console.csrf("/login")
        console.post("/login", {"name": f"guess{n}", "password": "x" * 12, "csrf": token})
    token = console.csrf("/login")
    answer = console.post("/login", {"name": "mia", "password": PASSWORD, "csrf": token})
    assert answer.status_code == 429


def test_the_rate_limit_ends_after_its_window(make_console) -> None:
    clock = ManualClock()
    console = make_console(clock=clock)
    for _ in range(5):
        token = console.csrf("/login")
        console.post("/login", {"name": "vera", "password": "nope nope nope", "csrf": token})
    clock.advance(15 * 60 + 1)
    token = console.csrf("/login")
    assert (
        console.post("/login", {"name": "vera", "password": PASSWORD, "csrf": token}).status_code
        == 303
    )


def test_logout_ends_the_session_on_the_server(console) -> None:
    csrf = console.login("vera")
    stolen = dict(console.client.cookies)
    assert console.post("/logout", {"csrf": csrf}).status_code == 303
    console.client.cookies.update(stolen)  # the old cookie, replayed
    assert console.client.get("/", follow_redirects=False).status_code == 303
    assert "logout" in [e["action"] for e in trail.entries(console.store, who="vera")]


def test_disabling_an_account_ends_its_open_session_at_once(console) -> None:
    console.login("vera")
    accounts.set_disabled(console.store, "vera")
    assert console.client.get("/", follow_redirects=False).status_code == 303


def test_a_new_password_ends_the_open_sessions(console) -> None:
    console.login("vera")
    accounts.set_password(console.store, "vera", "a brand new password")
    assert console.client.get("/", follow_redirects=False).status_code == 303


def test_an_idle_session_expires(make_console) -> None:
    clock = ManualClock()
    console = make_console(clock=clock)
    console.login("vera")
    clock.advance(7200 - 120)
    assert console.client.get("/").status_code == 200  # activity keeps it alive
    clock.advance(7200 + 1)
    assert console.client.get("/", follow_redirects=False).status_code == 303


def test_live_refreshes_do_not_keep_an_idle_session_alive(make_console) -> None:
    clock = ManualClock()
    console = make_console(clock=clock)
    console.login("vera")
    for _ in range(4):
        clock.advance(1900)
        console.client.get("/live/today")
    assert console.client.get("/", follow_redirects=False).status_code == 303


def test_a_session_ends_after_its_absolute_lifetime_even_when_busy(make_console) -> None:
    clock = ManualClock()
    console = make_console(clock=clock)
    console.login("vera")
    for _ in range(13):
        clock.advance(3600)
        console.client.get("/")
    assert console.client.get("/", follow_redirects=False).status_code == 303


def test_a_tampered_cookie_opens_nothing(console) -> None:
    console.login("vera")
    value = console.client.cookies["sg_session"]
    token, _, signature = value.rpartition(".")
    console.client.cookies.set(
        "sg_session", token[:-1] + ("A" if token[-1] != "A" else "B") + "." + signature
    )
    assert console.client.get("/", follow_redirects=False).status_code == 303


def test_the_language_switch_is_remembered_in_a_cookie(console) -> None:
    console.login("vera")
    answer = console.client.get("/lang/fr?next=/terminals", follow_redirects=False)
    assert answer.headers["location"] == "/terminals"
    assert 'lang="fr"' in console.client.get("/terminals").text


def test_the_browser_language_is_the_default(console) -> None:
    page = console.client.get("/login", headers={"accept-language": "de-BE,de;q=0.9,en;q=0.5"})
    assert 'lang="de"' in page.text
    page = console.client.get("/login", headers={"accept-language": "pt-PT,nl;q=0.8"})
    assert 'lang="nl"' in page.text
    page = console.client.get("/login", headers={"accept-language": "x;q=bad,,;;"})
    assert 'lang="en"' in page.text


def test_expired_sessions_are_removed_from_the_table_at_the_next_login(make_console) -> None:
    from sqlalchemy import func, select

    from controller import schema

    clock = ManualClock()
    console = make_console(clock=clock)
    console.login("vera")
    clock.advance(13 * 3600)
    console.client.cookies.clear()
    console.login("mia")
    with console.store.transaction() as conn:
        left = conn.execute(select(func.count()).select_from(schema.web_sessions)).scalar_one()
    assert left == 1
