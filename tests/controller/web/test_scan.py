"""The scan page's routes over HTTP: a team leader's frames and typed numbers become check-ins
from ``handheld-<account>`` through the gate's path; every refusal is a clear HTTP error that
disturbs nobody else."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import select
from starlette.testclient import TestClient

from controller import audit as trail
from controller import checkins, roster, schema
from controller.handheld import Handheld
from presence.clock import brussels_date
from presence.events import encode, new_event_id
from sim.scan_video import blurred, code, frame, jpeg, l1
from terminal.drivers.camera.synthetic import Scene
from tests.controller.support import COMPANY, OTHER_COMPANY, checkin, inss, limosa
from tests.controller.web.conftest import CSRF, PASSWORD

CREW = [limosa(n) for n in range(1, 4)]
ENDED = limosa(9)  # an L1 whose period on the roster ended yesterday
STRANGER = limosa(42)


def _roster(console) -> None:
    today = brussels_date(datetime.now(UTC))
    text = "person;employer;name;valid_from;valid_to\n" + "".join(
        f"{p};;Posted {n};;\n" for n, p in enumerate(CREW)
    )
    text += f"{inss(1)};{COMPANY};Jan Peeters;;\n"
    text += f"{ENDED};;Ended Worker;;{(today - timedelta(days=1)).isoformat()}\n"
    plan = roster.plan_import(
        console.store, roster.Upload("r.csv", text.encode()), today=today - timedelta(days=5)
    )
    assert not plan.refused, plan.refused
    roster.apply_import(console.store, plan)


@pytest.fixture
def phone(console):
    """Signed in as the team leader tom, with a roster; returns the session's CSRF token."""
    _roster(console)
    return console.login("tom")


def _frame_of(limosa_id=None, text=None) -> bytes:
    if limosa_id is not None:
        return jpeg(frame(l1(limosa_id.digits).scene))
    if text is not None:
        return jpeg(frame(code(text).scene))
    return jpeg(frame(Scene(None)))


def _send(console, csrf, data, *, event=None, at=None, content_type="image/jpeg", client=None):
    params = {"event": str(event or new_event_id())}
    if at is not None:
        params["at"] = str(int(at.timestamp() * 1000))
    return (client or console.client).post(
        "/scan/frame",
        params=params,
        content=data,
        headers={"X-CSRF-Token": csrf, "Content-Type": content_type},
    )


def _login(client, name) -> str:
    """Signs ``client`` in (a second phone beside the console's own client)."""
    token = CSRF.search(client.get("/login").text).group(1)
    client.post("/login", data={"name": name, "password": PASSWORD, "csrf": token, "next": "/"})
    return CSRF.search(client.get("/").text).group(1)


def _events(store, terminal="handheld-tom"):
    e = schema.events.c
    with store.transaction() as conn:
        return conn.execute(
            select(e.event_id, e.person_id, e.credential_kind, e.decision, e.reason, e.scanned_at)
            .where(e.terminal_id == terminal)
            .order_by(e.id)
        ).all()


# --- the page ----------------------------------------------------------------------------


def test_a_team_leader_opens_the_scan_page_with_its_script_and_no_inline_code(console) -> None:
    console.login("tom")
    page = console.client.get("/scan")
    assert page.status_code == 200
    assert '<script src="/static/scan.js" defer></script>' in page.text
    assert "<script>" not in page.text and " onclick=" not in page.text
    assert 'href="/scan"' in page.text  # in the navigation
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "camera=(self)" in page.headers["permissions-policy"]
    assert console.client.get("/static/scan.js").status_code == 200


def test_a_viewer_may_not_open_the_scan_page(console) -> None:
    console.login("vera")
    assert console.client.get("/scan").status_code == 403
    assert 'href="/scan"' not in console.client.get("/").text


# --- frames ------------------------------------------------------------------------------


def test_an_l1_code_in_a_frame_is_a_checkin_from_the_phone(console, phone) -> None:
    event = new_event_id()
    answer = _send(console, phone, _frame_of(CREW[0]), event=event)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["outcome"], body["decision"], body["ack"], body["tone"]) == (
        "admitted", "admitted", "stored", "ok",
    )  # fmt: skip
    assert body["person"] == CREW[0].masked() and body["name"] == "Posted 0"
    assert body["title"] == "Admitted" and body["presence_state"] == "pending"
    (row,) = _events(console.store)
    assert (row.event_id, row.person_id, row.credential_kind) == (
        str(event), CREW[0].digits, "l1_qr",
    )  # fmt: skip
    assert trail.entries(console.store, action="register.handheld")[0]["who"] == "tom"


def test_the_same_frame_sent_again_is_answered_as_a_duplicate_not_stored_twice(
    console, phone
) -> None:
    event, data = new_event_id(), _frame_of(CREW[0])
    first = _send(console, phone, data, event=event).json()
    again = _send(console, phone, data, event=event).json()
    assert again["ack"] == "duplicate" and again["outcome"] == first["outcome"] == "admitted"
    assert len(_events(console.store)) == 1


def test_a_frame_sent_again_after_a_restart_is_still_a_duplicate(
    console, make_console, phone
) -> None:
    event, data = new_event_id(), _frame_of(CREW[0])
    assert _send(console, phone, data, event=event).json()["ack"] == "stored"
    restarted = make_console()
    again = _send(restarted, restarted.login("tom"), data, event=event).json()
    assert (again["ack"], again["outcome"]) == ("duplicate", "admitted")
    assert len(_events(console.store)) == 1


def test_the_same_code_held_in_view_is_reported_once(console, phone) -> None:
    now = datetime.now(UTC)
    data = _frame_of(CREW[0])
    assert _send(console, phone, data, at=now).json()["outcome"] == "admitted"
    for k in range(1, 5):
        held = _send(console, phone, data, at=now + timedelta(seconds=0.3 * k)).json()
        assert held["outcome"] == "repeat" and held["stored"] is False
    assert len(_events(console.store)) == 1


def test_the_same_code_shown_again_within_the_cool_down_makes_no_second_event(
    console, phone
) -> None:
    data = _frame_of(CREW[0])
    at = datetime.now(UTC) - timedelta(seconds=30)
    assert _send(console, phone, data, at=at).json()["outcome"] == "admitted"
    again = _send(console, phone, data, at=at + timedelta(seconds=20)).json()
    assert (again["outcome"], again["tone"], again["stored"]) == ("already_scanned", "ok", False)
    assert len(_events(console.store)) == 1


def test_the_cool_down_survives_a_restart_of_the_console(console, make_console, phone) -> None:
    data = _frame_of(CREW[0])
    at = datetime.now(UTC) - timedelta(seconds=30)
    _send(console, phone, data, at=at)
    restarted = make_console()
    csrf = restarted.login("tom")
    again = _send(restarted, csrf, data, at=at + timedelta(seconds=20)).json()
    assert again["outcome"] == "already_scanned"
    assert len(_events(console.store)) == 1


def test_a_frame_without_a_code_is_no_code(console, phone) -> None:
    body = _send(console, phone, _frame_of()).json()
    assert (body["outcome"], body["stored"], body["tone"]) == ("no_code", False, "none")


def test_a_blurred_code_is_no_code_not_a_guess(console, phone) -> None:
    data = jpeg(frame(blurred(CREW[1].digits).scene))
    assert _send(console, phone, data).json()["outcome"] == "no_code"
    assert _events(console.store) == []


def test_a_qr_code_that_is_no_l1_code_is_refused_and_not_stored(console, phone) -> None:
    body = _send(console, phone, _frame_of(text="https://example.com/menu")).json()
    assert (body["outcome"], body["tone"], body["stored"]) == ("not_an_l1_code", "bad", False)
    assert body["title"] == "Not an L1 code"
    assert _events(console.store) == []


def test_an_l1_whose_period_ended_is_refused_as_not_valid_today_and_kept(console, phone):
    body = _send(console, phone, _frame_of(ENDED)).json()
    assert (body["outcome"], body["decision"], body["stored"]) == (
        "not_valid_today", "refused", True,
    )  # fmt: skip
    assert body["title"] == "L1 not valid today"
    assert [r.reason for r in _events(console.store)] == ["not_valid_today"]


def test_someone_not_on_the_roster_is_refused_as_unknown(console, phone) -> None:
    body = _send(console, phone, _frame_of(STRANGER)).json()
    assert (body["outcome"], body["title"], body["name"]) == (
        "unknown_person", "Unknown person", None,
    )  # fmt: skip


def test_someone_who_passed_a_gate_today_is_already_registered(console, phone) -> None:
    gate = checkin(CREW[2])
    with console.store.transaction() as conn:
        checkins.record(console.store, conn, gate, encode(gate), datetime.now(UTC), 300)
    body = _send(console, phone, _frame_of(CREW[2])).json()
    assert (body["outcome"], body["title"], body["stored"]) == (
        "already_registered", "Already registered today", True,
    )  # fmt: skip


def test_a_frame_recorded_offline_keeps_the_time_it_was_scanned(console, phone) -> None:
    scanned = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    if brussels_date(scanned) != brussels_date(datetime.now(UTC)):
        pytest.skip("just after midnight: forty minutes ago was yesterday")
    _send(console, phone, _frame_of(CREW[0]), at=scanned)
    (row,) = _events(console.store)
    assert row.scanned_at == scanned


def test_an_answer_is_in_the_users_language(console, phone) -> None:
    console.client.get("/lang/nl")
    assert _send(console, phone, _frame_of(CREW[1])).json()["title"] == "Toegelaten"


# --- typed numbers -------------------------------------------------------------------------


def _type(console, csrf, person, company="", event=None):
    return console.client.post(
        "/scan/entry",
        data={"event": str(event or new_event_id()), "person": person, "company": company},
        headers={"X-CSRF-Token": csrf},
    )


def test_a_typed_national_number_with_its_employer_is_admitted(console, phone) -> None:
    body = _type(console, phone, str(inss(1)), COMPANY).json()
    assert (body["outcome"], body["credential"], body["name"]) == (
        "admitted", "keypad_inss", "Jan Peeters",
    )  # fmt: skip


def test_a_typed_limosa_number_is_admitted(console, phone) -> None:
    body = _type(console, phone, CREW[1].digits).json()
    assert (body["outcome"], body["credential"]) == ("admitted", "keypad_limosa")


@pytest.mark.parametrize(
    ("person", "company", "code", "field"),
    [
        ("85073003329", COMPANY, "bad_person", "person"),
        ("12", "", "bad_person", "person"),
        (str(inss(1)), "", "company_required", "company"),
        (str(inss(1)), "0403170702", "bad_company", "company"),
        (str(inss(1)), OTHER_COMPANY, "employer_not_on_roster", "company"),
    ],
)
def test_a_bad_typed_number_is_refused_next_to_its_field(
    console, phone, person, company, code, field
) -> None:
    answer = _type(console, phone, person, company)
    assert answer.status_code == 400
    assert (answer.json()["error"], answer.json()["field"]) == (code, field)
    assert _events(console.store) == []


# --- refusals ------------------------------------------------------------------------------


def test_without_a_session_a_frame_is_refused_401(console) -> None:
    answer = _send(console, "x", _frame_of(CREW[0]))
    assert (answer.status_code, answer.json()["error"]) == (401, "signed_out")


def test_a_viewer_cannot_send_frames(console) -> None:
    csrf = console.login("vera")
    answer = _send(console, csrf, _frame_of(CREW[0]))
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")


def test_a_frame_without_the_sessions_token_is_refused(console, phone) -> None:
    answer = _send(console, "not the token", _frame_of(CREW[0]))
    assert (answer.status_code, answer.json()["error"]) == (403, "csrf")
    entry = console.client.post("/scan/entry", data={"event": str(new_event_id()), "person": "1"})
    assert (entry.status_code, entry.json()["error"]) == (403, "csrf")


def test_a_body_that_is_no_picture_is_refused_415(console, phone) -> None:
    answer = _send(console, phone, b"%PDF-1.4 not a frame", content_type="application/pdf")
    assert (answer.status_code, answer.json()["error"]) == (415, "not_an_image")
    truncated = _send(console, phone, _frame_of(CREW[0])[:200])
    assert truncated.status_code == 415


def test_a_frame_over_one_megabyte_is_refused_413_unread(console, phone) -> None:
    answer = _send(console, phone, b"\xff\xd8" + bytes(1_000_000))
    assert (answer.status_code, answer.json()["error"]) == (413, "too_large")


def test_a_picture_of_too_many_pixels_is_refused_413(console, phone) -> None:
    out = io.BytesIO()
    Image.new("L", (4000, 4000)).save(out, "PNG")
    assert len(out.getvalue()) < 1_000_000
    answer = _send(console, phone, out.getvalue(), content_type="image/png")
    assert (answer.status_code, answer.json()["error"]) == (413, "too_many_pixels")


def test_an_event_id_that_is_no_uuid7_is_refused(console, phone) -> None:
    for bad in ("", "123", str(uuid.uuid4())):
        answer = console.client.post(
            "/scan/frame", params={"event": bad}, content=_frame_of(CREW[0]),
            headers={"X-CSRF-Token": phone},
        )  # fmt: skip
        assert (answer.status_code, answer.json()["error"]) == (400, "bad_event_id")


def test_an_event_id_of_another_terminal_is_refused_409(console, phone) -> None:
    gate = checkin(CREW[2])
    with console.store.transaction() as conn:
        checkins.record(console.store, conn, gate, encode(gate), datetime.now(UTC), 300)
    answer = _send(console, phone, _frame_of(CREW[0]), event=gate.event_id)
    assert (answer.status_code, answer.json()["error"]) == (409, "event_taken")


def test_a_scan_of_another_day_is_refused_409_to_be_registered_by_hand(console, phone) -> None:
    answer = _send(console, phone, _frame_of(CREW[0]), at=datetime.now(UTC) - timedelta(days=1))
    assert (answer.status_code, answer.json()["error"]) == (409, "stale")
    assert "by hand" in answer.json()["message"]


def test_too_many_frames_are_refused_429_without_slowing_another_phone(console, phone) -> None:
    console.ctx.extra["handheld"] = Handheld(
        console.store, console.config, rate_per_s=0.01, burst=3
    )
    codes = [_send(console, phone, _frame_of()).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = _send(console, phone, _frame_of())
    assert refused.json()["error"] == "too_frequent" and int(refused.headers["retry-after"]) >= 1
    other = TestClient(console.client.app, base_url="http://127.0.0.1")
    with other:
        token = _login(other, "mia")
        answer = _send(console, token, _frame_of(CREW[1]), client=other)
    assert answer.status_code == 200 and answer.json()["outcome"] == "admitted"


def test_a_second_frame_while_one_is_being_read_is_busy_not_queued(console, phone) -> None:
    handheld = Handheld(console.store, console.config)
    console.ctx.extra["handheld"] = handheld
    phone_state = handheld._phone("tom")
    with phone_state.lock:
        answer = _send(console, phone, _frame_of(CREW[0]))
    assert (answer.status_code, answer.json()["error"]) == (429, "busy")
    assert _send(console, phone, _frame_of(CREW[0])).status_code == 200


def test_every_answer_tells_the_controllers_time(console, phone) -> None:
    before = datetime.now(UTC).timestamp() * 1000
    body = _send(console, phone, _frame_of()).json()
    assert before - 1000 <= body["server_ms"] <= datetime.now(UTC).timestamp() * 1000 + 1000
