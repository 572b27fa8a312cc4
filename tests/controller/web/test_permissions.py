"""Each role against each action: viewers read, team leaders read (and scan), managers act.
Every state change is a POST with the session's CSRF token."""

from __future__ import annotations

import pytest

ACTIONS = [
    ("/register", {"inss": "", "company": "", "limosa": "", "day": "today"}),
    ("/cancel", {"presence": "1", "reason": "DISEASE", "confirm": "yes"}),
    ("/anomalies/1/assign", {"company": "0403170701"}),
    ("/anomalies/1/acknowledge", {"comment": "registered online"}),
    ("/roster/apply", {"plan": "x"}),
    ("/roster/1/block", {}),
    ("/quarantine/replay", {}),
    ("/reveal", {"presence": "1"}),
    ("/anomalies/1/requeue", {}),
]


@pytest.mark.parametrize(("path", "data"), ACTIONS)
@pytest.mark.parametrize("name", ["vera", "tom"])
def test_viewers_and_team_leaders_may_not_act(console, name, path, data) -> None:
    csrf = console.login(name)
    answer = console.post(path, {**data, "csrf": csrf})
    assert answer.status_code == 403
    assert "may not do this" in answer.text


@pytest.mark.parametrize(("path", "data"), ACTIONS)
def test_a_manager_may_act(console, path, data) -> None:
    csrf = console.login("mia")
    answer = console.post(path, {**data, "csrf": csrf})
    assert answer.status_code not in (401, 403, 500)


@pytest.mark.parametrize(("path", "data"), ACTIONS)
@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_a_post_without_the_session_csrf_token_changes_nothing(console, path, data, token) -> None:
    console.login("mia")
    form = dict(data) if token is None else {**data, "csrf": token}
    answer = console.post(path, form)
    assert answer.status_code == 403
    assert "form has expired" in answer.text


def test_the_csrf_token_of_another_session_is_refused(make_console) -> None:
    first = make_console()
    stolen = first.login("mia")
    second = make_console()
    second.login("mia")
    answer = second.post("/quarantine/replay", {"csrf": stolen})
    assert answer.status_code == 403


def test_the_audit_page_is_for_managers(console) -> None:
    console.login("vera")
    assert console.client.get("/audit").status_code == 403
    console.client.cookies.clear()
    console.login("mia")
    assert console.client.get("/audit").status_code == 200


def test_the_navigation_shows_only_what_the_role_may_use(console) -> None:
    console.login("vera")
    page = console.client.get("/").text
    assert 'href="/register"' not in page and 'href="/audit"' not in page
    console.client.cookies.clear()
    console.login("mia")
    page = console.client.get("/").text
    assert 'href="/register"' in page and 'href="/audit"' in page


def test_a_script_may_send_the_csrf_token_in_a_header(console) -> None:
    csrf = console.login("mia")
    answer = console.post("/quarantine/replay", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 303
    refused = console.post("/quarantine/replay", headers={"X-CSRF-Token": "forged"})
    assert refused.status_code == 403


def test_a_team_leader_reads_but_may_not_register_by_hand(console) -> None:
    console.login("tom")
    assert console.client.get("/onsite").status_code == 200
    assert console.client.get("/register").status_code == 403
