"""Every page over HTTP: content, security headers, bad input answered next to the field
(never a 500), exports equal to what is shown, the roster upload's preview and confirm."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime

import openpyxl
import pytest

from controller import audit as trail
from controller import checkins, refusals, roster, views
from presence.events import encode
from presence.messages import RefusalCount, RefusalSummary
from tests.controller.support import COMPANY, checkin, inss, limosa

READ_PAGES = [
    "/",
    "/onsite",
    "/onsite/print",
    "/presences",
    "/anomalies",
    "/terminals",
    "/roster",
    "/refused",
    "/proof",
    "/quarantine",
    "/live/today",
    "/live/onsite",
]


def _record(store, *events) -> None:
    for event in events:
        with store.transaction() as conn:
            checkins.record(store, conn, event, encode(event), datetime.now(UTC), 300)


def _roster(store, text: str) -> None:
    roster.apply_import(store, roster.plan_import(store, roster.Upload("r.csv", text.encode())))


@pytest.mark.parametrize("path", READ_PAGES)
def test_a_viewer_reads_every_page_with_security_headers(console, path) -> None:
    console.login("vera")
    answer = console.client.get(path)
    assert answer.status_code == 200
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in answer.text and " onclick=" not in answer.text
    assert re.fullmatch(r"app;dur=[0-9]+\.[0-9]", answer.headers["server-timing"])


def test_static_files_are_served_and_cacheable(console) -> None:
    answer = console.client.get("/static/console.css")
    assert answer.status_code == 200 and "max-age" in answer.headers["cache-control"]


def test_pages_show_names_and_masked_numbers_never_full_ones(console) -> None:
    person = inss(3)
    _roster(console.store, f"person;employer;name\n{person};{COMPANY};Jan Peeters\n")
    _record(console.store, checkin(person), checkin(limosa(4)))
    console.login("mia")
    for path in ("/", "/onsite", "/presences", "/roster", "/onsite/print"):
        page = console.client.get(path).text
        assert person.digits not in page and str(person) not in page, path
        assert limosa(4).digits not in page, path
    assert "Jan Peeters" in console.client.get("/onsite").text
    assert person.masked() in console.client.get("/presences").text


def test_a_manager_reveals_one_number_and_the_reveal_is_audited(console) -> None:
    person = inss(3)
    _roster(console.store, f"person;employer\n{person};{COMPANY}\n")
    _record(console.store, checkin(person))
    csrf = console.login("mia")
    page = console.client.get("/presences").text
    presence = page.split('name="presence" value="')[1].split('"')[0]
    answer = console.post("/reveal", {"csrf": csrf, "presence": presence, "back": "/presences"})
    assert answer.status_code == 200 and str(person) in answer.text
    (entry,) = trail.entries(console.store, action="reveal")
    assert entry["who"] == "mia" and person.digits not in entry["target"]


def test_a_viewer_cannot_reveal(console) -> None:
    _record(console.store, checkin(inss(3)))
    csrf = console.login("vera")
    assert console.post("/reveal", {"csrf": csrf, "presence": "1"}).status_code == 403


MALFORMED = [
    "/presences?day=2026-02-30",
    "/presences?day=yesterday",
    "/presences?day=" + "9" * 300,
    "/presences?state=bogus",
    "/presences?company=12",
    "/presences?search=" + "x" * 500,
    "/presences.csv?day=nope",
    "/presences.pdf",
    "/refused?day=31/12/2026",
    "/roster?search=%00%ff",
    "/roster/999999",
    "/roster/abc",
    "/anomalies/999999",
    "/cancel?presence=" + "1" * 500,
    "/cancel?presence=abc",
    "/lang/xx?next=//evil",
    "/static/../../etc/passwd",
    "/audit?who=%00&action=" + "a" * 400,
]


@pytest.mark.parametrize("path", MALFORMED)
def test_malformed_queries_never_answer_500(console, path) -> None:
    console.login("mia")
    answer = console.client.get(path)
    assert answer.status_code < 500, answer.text[:300]
    assert "Traceback" not in answer.text


MALFORMED_POSTS = [
    ("/reveal", {"presence": "abc"}),
    ("/reveal", {"presence": "1", "entry": "2"}),
    ("/reveal", {"presence": "9" * 40}),
    ("/cancel", {"presence": "", "reason": "BORED"}),
    ("/cancel", {"presence": "x" * 1000, "reason": "DISEASE", "confirm": "yes"}),
    ("/anomalies/1/assign", {"company": "not a number"}),
    ("/anomalies/1/acknowledge", {"comment": "x" * 5000}),
    ("/anomalies/1/requeue", {}),
    ("/roster/999999/block", {}),
    ("/roster/1/explode", {}),
    ("/roster/apply", {"plan": "not a digest"}),
    ("/register", {"inss": "12345678901", "company": "0403170701", "day": "today"}),
    ("/register", {"inss": "", "limosa": "", "day": "yesterday"}),
]


@pytest.mark.parametrize(("path", "data"), MALFORMED_POSTS)
def test_malformed_forms_never_answer_500(console, path, data) -> None:
    csrf = console.login("mia")
    answer = console.post(path, {**data, "csrf": csrf})
    assert answer.status_code < 500, answer.text[:300]


def test_a_bad_day_is_reported_next_to_its_field(console) -> None:
    console.login("vera")
    answer = console.client.get("/presences?day=2026-02-30")
    assert answer.status_code == 400
    assert 'id="day-error"' in answer.text and "Not a date" in answer.text
    assert 'aria-invalid="true"' in answer.text


def test_the_csv_export_holds_exactly_the_rows_shown(console) -> None:
    _roster(console.store, f"person;employer\n{inss(1)};{COMPANY}\n{inss(2)};{COMPANY}\n")
    _record(console.store, checkin(inss(1)), checkin(inss(2)), checkin(limosa(3)))
    console.login("vera")
    page = console.client.get("/presences?state=pending").text
    answer = console.client.get("/presences.csv?state=pending")
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    assert sorted(r["person"] for r in rows) == sorted(
        [inss(1).masked(), inss(2).masked(), limosa(3).masked()]
    )
    assert all(r["person"] in page for r in rows)
    assert trail.entries(console.store, action="export")
    book = openpyxl.load_workbook(
        io.BytesIO(console.client.get("/presences.xlsx?state=pending").content)
    )
    sheet = book.active
    assert sorted(row[0] for row in sheet.iter_rows(min_row=2, values_only=True)) == sorted(
        r["person"] for r in rows
    )


def test_the_pdf_downloads_are_pdf_files(console) -> None:
    _record(console.store, checkin(limosa(3)))
    console.login("vera")
    for path in ("/onsite.pdf", "/proof.pdf", "/proof.csv", "/proof.xlsx"):
        answer = console.client.get(path)
        assert answer.status_code == 200, path
        assert "attachment" in answer.headers["content-disposition"]
    assert console.client.get("/onsite.pdf").content.startswith(b"%PDF")


# --- the roster upload ----------------------------------------------------------------------


def _upload(console, csrf, name: str, data: bytes, mime: str = "text/csv"):
    return console.post("/roster/upload", {"csrf": csrf}, files={"file": (name, data, mime)})


def test_an_upload_with_bad_rows_changes_nothing_until_confirmed(console) -> None:
    csrf = console.login("mia")
    data = (
        f"persoon;werkgever;naam\n{inss(1)};{COMPANY};An Jacobs\n"
        f"12345678901;{COMPANY};Bad Number\n{inss(2)};;No Employer\n"
    ).encode()
    preview = _upload(console, csrf, "ploeg.csv", data)
    assert preview.status_code == 200
    assert "An Jacobs" in preview.text and "Refused rows" in preview.text
    assert ">3<" in preview.text and ">4<" in preview.text  # the refused lines
    assert roster.people(console.store) == []
    digest = preview.text.split('name="plan" value="')[1].split('"')[0]
    done = console.post("/roster/apply", {"csrf": csrf, "plan": digest})
    assert done.status_code == 303 and done.headers["location"].startswith("/roster?done=1-")
    assert [p["name"] for p in roster.people(console.store)] == ["An Jacobs"]
    assert trail.entries(console.store, action="roster.import")
    # the same plan cannot be applied twice
    again = console.post("/roster/apply", {"csrf": csrf, "plan": digest})
    assert again.status_code == 400 and "upload it again" in again.text


def test_an_upload_over_5_mb_is_refused_next_to_the_field(console) -> None:
    csrf = console.login("mia")
    big = b"person;employer\n" + b"x" * (5 * 1024 * 1024 + 10)
    answer = _upload(console, csrf, "big.csv", big)
    assert answer.status_code == 400
    assert 'id="file-error"' in answer.text and "5 MB" in answer.text
    assert roster.people(console.store) == []


def test_an_upload_that_is_not_csv_or_xlsx_is_refused(console) -> None:
    csrf = console.login("mia")
    answer = _upload(console, csrf, "crew.pdf", b"%PDF-1.7 ...", "application/pdf")
    assert answer.status_code == 400 and "Only CSV or XLSX" in answer.text
    answer = _upload(console, csrf, "crew.xlsx", b"not a zip at all")
    assert answer.status_code == 400 and 'id="file-error"' in answer.text
    answer = _upload(console, csrf, "empty.csv", b"")
    assert answer.status_code == 400
    assert roster.people(console.store) == []


def test_an_upload_without_a_file_is_refused(console) -> None:
    csrf = console.login("mia")
    answer = console.post("/roster/upload", {"csrf": csrf})
    assert answer.status_code == 400 and "Choose a CSV or XLSX file" in answer.text


def test_a_body_over_the_whole_request_limit_is_refused_without_a_500(console) -> None:
    csrf = console.login("mia")
    answer = _upload(console, csrf, "huge.csv", b"x" * (21 * 1024 * 1024))
    assert answer.status_code == 413


def test_block_and_remove_from_the_roster_list(console) -> None:
    _roster(console.store, f"person;employer;name\n{inss(1)};{COMPANY};An Jacobs\n")
    (entry,) = roster.people(console.store)
    csrf = console.login("mia")
    assert console.post(f"/roster/{entry['id']}/block", {"csrf": csrf}).status_code == 303
    assert roster.people(console.store)[0]["blocked"]
    assert "blocked" in console.client.get("/roster").text
    assert console.post(f"/roster/{entry['id']}/remove", {"csrf": csrf}).status_code == 303
    assert roster.people(console.store) == []


def test_a_persons_history_lists_presences_and_check_ins(console) -> None:
    _roster(console.store, f"person;employer;name\n{inss(1)};{COMPANY};An Jacobs\n")
    _record(console.store, checkin(inss(1)))
    (entry,) = roster.people(console.store)
    console.login("vera")
    page = console.client.get(f"/roster/{entry['id']}").text
    assert "An Jacobs" in page and "gate-1" in page and inss(1).digits not in page


def test_registering_by_hand_makes_a_presence_from_the_users_virtual_terminal(console) -> None:
    _roster(console.store, f"person;employer;name\n{inss(5)};{COMPANY};An Jacobs\n")
    csrf = console.login("mia")
    answer = console.post(
        "/register",
        {"csrf": csrf, "inss": str(inss(5)), "company": COMPANY, "limosa": "", "day": "today"},
    )
    assert answer.status_code == 200 and "on its way to NSSO" in answer.text
    (row,) = [r for r in roster.people(console.store)]
    page = console.client.get("/presences").text
    assert "An Jacobs" in page and "console-mia" in page
    assert row["name"] == "An Jacobs"


def test_a_hand_registration_with_a_bad_checksum_is_answered_next_to_the_field(console) -> None:
    csrf = console.login("mia")
    bad = inss(5).digits[:-1] + str((int(inss(5).digits[-1]) + 1) % 10)
    answer = console.post(
        "/register", {"csrf": csrf, "inss": bad, "company": COMPANY, "limosa": "", "day": "today"}
    )
    assert answer.status_code == 400 and 'id="inss-error"' in answer.text
    assert console.client.get("/presences").text.count("console-mia") == 0


def test_a_hand_registration_for_yesterday_is_refused(console) -> None:
    csrf = console.login("mia")
    answer = console.post(
        "/register", {"csrf": csrf, "limosa": limosa(1).digits, "day": "yesterday"}
    )
    assert answer.status_code == 400 and 'id="day-error"' in answer.text


def test_an_anomaly_shows_its_evidence_and_takes_an_employer(console) -> None:
    _roster(console.store, f"person;employer;name\n{inss(2)};{COMPANY};Els Claes\n")
    _record(console.store, checkin(inss(1)))  # not on the roster: needs an employer
    csrf = console.login("mia")
    page = console.client.get("/anomalies").text
    assert "Not on the roster with an employer" in page  # the why, though NSSO said nothing
    presence = page.split('href="/anomalies/')[1].split('"')[0]
    detail = console.client.get(f"/anomalies/{presence}").text
    assert "gate-1" in detail and "needs an employer" in detail and inss(1).digits not in detail
    answer = console.post(f"/anomalies/{presence}/assign", {"csrf": csrf, "company": COMPANY})
    assert answer.status_code == 303
    assert "needs_employer" not in [r["state"] for r in views.anomalies(console.store)]
    assert trail.entries(console.store, action="anomaly.assign_employer")


def test_an_anomaly_page_tells_nssos_error_in_words_once(console) -> None:
    import json

    from controller import schema

    _record(console.store, checkin(limosa(1)))
    with console.store.transaction() as conn:
        conn.execute(
            schema.presences.update().values(
                state="rejected", remarks=json.dumps(["LIMOSA_ID_INACTIVE"]),
                last_error="LIMOSA_ID_INACTIVE: LimosaId is not active at this date",
            )
        )  # fmt: skip
    console.login("mia")
    presence = console.client.get("/anomalies").text.split('href="/anomalies/')[1].split('"')[0]
    detail = console.client.get(f"/anomalies/{presence}").text
    assert "What NSSO said, and what to do" in detail
    assert detail.count("Limosa declaration (L1) that covers the day") == 1
    assert "LIMOSA_ID_INACTIVE" not in detail


def test_a_missed_day_needs_a_comment_next_to_the_field(console) -> None:
    _record(console.store, checkin(inss(1)))
    csrf = console.login("mia")
    presence = console.client.get("/anomalies").text.split('href="/anomalies/')[1].split('"')[0]
    answer = console.post(f"/anomalies/{presence}/acknowledge", {"csrf": csrf, "comment": " "})
    assert answer.status_code == 400 and 'id="comment-error"' in answer.text


def test_a_long_day_is_shown_in_pages_and_exported_whole(console, monkeypatch) -> None:
    monkeypatch.setattr("controller.web.pages.presences.PAGE_ROWS", 2)
    _record(console.store, *(checkin(limosa(n)) for n in range(5)))
    console.login("vera")
    first = console.client.get("/presences").text
    assert "page 1 of 3" in first and first.count("<tr>") == 3  # header + 2 rows
    last = console.client.get("/presences?page=3").text
    assert "page 3 of 3" in last and last.count("<tr>") == 2
    assert console.client.get("/presences?page=99").status_code == 200
    exported = console.client.get("/presences.csv").content.decode("utf-8-sig")
    assert len(exported.strip().splitlines()) == 6


def _held_pair(console) -> int:
    """A Limosa id and a national number under one name on the roster both check in: the
    second presence is held as possibly the same person."""
    _roster(console.store, f"person;employer;name\n{limosa(2)};;Jan Peeters\n"
                           f"{inss(2)};{COMPANY};Peeters Jan\n")  # fmt: skip
    _record(console.store, checkin(limosa(2)), checkin(inss(2)))
    (held,) = [r for r in views.anomalies(console.store) if r["state"] == "possible_same_person"]
    return int(held["id"])


def test_a_manager_says_a_held_presence_is_the_same_person(console) -> None:
    held = _held_pair(console)
    csrf = console.login("mia")
    detail = console.client.get(f"/anomalies/{held}").text
    assert "maybe the same person" in detail and f"/anomalies/{held}/same" in detail
    assert inss(2).digits not in detail and limosa(2).digits not in detail
    answer = console.post(f"/anomalies/{held}/same", {"csrf": csrf})
    assert answer.status_code == 303
    assert views.anomalies(console.store) == []
    assert len(views.presences(console.store)) == 1  # one person, one registration
    assert trail.entries(console.store, action="same_person_same")


def test_a_manager_says_they_are_two_people_and_both_are_sent(console) -> None:
    held = _held_pair(console)
    csrf = console.login("mia")
    assert console.post(f"/anomalies/{held}/different", {"csrf": csrf}).status_code == 303
    assert {p["state"] for p in views.presences(console.store)} == {"pending"}
    assert trail.entries(console.store, action="same_person_different")


def test_a_viewer_cannot_decide_a_held_presence(console) -> None:
    held = _held_pair(console)
    csrf = console.login("vera")
    assert console.post(f"/anomalies/{held}/same", {"csrf": csrf}).status_code == 403
    assert [r["state"] for r in views.anomalies(console.store)] == ["possible_same_person"]


def test_deciding_a_presence_that_is_not_held_is_answered_next_to_the_buttons(console) -> None:
    _record(console.store, checkin(inss(1)))  # needs an employer: not held
    csrf = console.login("mia")
    (row,) = views.anomalies(console.store)
    answer = console.post(f"/anomalies/{row['id']}/same", {"csrf": csrf})
    assert answer.status_code == 400 and 'id="same-error"' in answer.text


def test_the_refused_page_shows_what_the_gates_only_counted(console) -> None:
    at = datetime(2026, 3, 2, 6, 12, tzinfo=UTC)  # 07:12 in Brussels
    boot = "0b0a0a0a-0000-4000-8000-00000000000a"
    counts = (
        RefusalCount(boot, 120, 1, "bad_card_data", at, True, 4),
        RefusalCount(boot, 120, 1, "already_inside", at, True, 2),
    )
    with console.store.transaction() as conn:
        refusals.store_summary(conn, "gate-2", RefusalSummary(uuid.uuid4(), counts), at)
    console.login("vera")
    page = console.client.get("/refused?day=2026-03-02").text
    table = page.split('id="counted"', 1)[1].split("</table>", 1)[0]
    assert "07:12" in table and "gate-2" in table
    assert "bad_card_data" in table and ">4<" in table
    assert "already_inside" in table and ">2<" in table


def test_the_terminals_page_shows_a_faulty_reader_and_an_open_enclosure(console) -> None:
    import json

    from controller import schema

    health = {"flow": "fault", "fault": "tampered", "reader": "no_reader", "camera": "ok",
              "tamper": "open"}  # fmt: skip
    with console.store.transaction() as conn:
        conn.execute(
            schema.terminals.insert().values(
                terminal_id="gate-9", direction="in", cert_serial="09", revoked=False,
                last_state="online", last_status_at=datetime.now(UTC),
                health=json.dumps(health),
            )
        )  # fmt: skip
    console.login("vera")
    page = console.client.get("/terminals").text
    assert "card reader: no_reader" in page and "enclosure open" in page
    assert "camera: ok" not in page
