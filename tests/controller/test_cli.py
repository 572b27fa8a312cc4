"""The site manager's commands, run through ``controller.cli.main`` on a real store."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller import checkins
from controller.cli import main
from controller.store import open_store
from presence.events import encode
from tests.controller.support import COMPANY, checkin, inss, limosa, write_site


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return write_site(tmp_path / "site", db_url=f"sqlite:///{tmp_path / 'c.db'}")


def _record(config_path: Path, db: str, *events) -> None:
    store = open_store(db)
    try:
        for event in events:
            with store.transaction() as conn:
                checkins.record(store, conn, event, encode(event), datetime.now(UTC), 300)
    finally:
        store.close()


def _db(site: Path) -> str:
    return f"sqlite:///{site.parent.parent / 'c.db'}"


def test_roster_import_lists_bad_rows_and_keeps_good_ones(site, tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text(f"person,employer\n{inss(1)},{COMPANY}\n12345678901,{COMPANY}\n")
    assert main(["--config", str(site), "roster", "import", str(roster)]) == 1
    out = capsys.readouterr().out
    assert "1 to add" in out and "line 3: refused: invalid national number" in out
    assert "applied: 1 added" in out


def test_presences_are_masked_unless_revealed(site, capsys):
    _record(site, _db(site), checkin(inss(1)), checkin(limosa(1)))
    assert main(["--config", str(site), "presences"]) == 0
    masked = capsys.readouterr().out
    assert inss(1).masked() in masked and inss(1).digits not in masked
    assert str(inss(1)) not in masked and limosa(1).digits not in masked
    assert main(["--config", str(site), "--reveal", "presences", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["person"] for r in rows} == {str(inss(1)), limosa(1).digits}
    assert {r["state"] for r in rows} == {"needs_employer", "pending"}


def test_presences_show_name_first_checkin_time_and_gate(site, tmp_path, capsys):
    from zoneinfo import ZoneInfo

    roster = tmp_path / "roster.csv"
    roster.write_text(f"person;employer;name\n{inss(1)};{COMPANY};Els Claes\n")
    assert main(["--config", str(site), "roster", "import", str(roster)]) == 0
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    later = checkin(inss(1), at=first + timedelta(minutes=10), terminal="gate-2", seq=2)
    _record(site, _db(site), checkin(inss(1), at=first, terminal="gate-1"), later)
    capsys.readouterr()
    assert main(["--config", str(site), "presences", "--format", "json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    shown = first.astimezone(ZoneInfo("Europe/Brussels")).strftime("%H:%M:%S %Z")
    assert (row["name"], row["first_checkin"], row["gate"]) == ("Els Claes", shown, "gate-1")
    assert row["first_checkin"].endswith(("CET", "CEST"))


def test_presences_filter_by_state_and_date_in_csv(site, capsys):
    _record(site, _db(site), checkin(inss(1)), checkin(limosa(1)))
    assert main(["--config", str(site), "presences", "--state", "pending", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["state"] for r in rows] == ["pending"]
    assert main(["--config", str(site), "presences", "--date", "2020-01-01"]) == 0
    assert "(none)" in capsys.readouterr().out


def test_anomalies_list_the_people_without_employer(site, capsys):
    _record(site, _db(site), checkin(inss(2)), checkin(limosa(2)))
    assert main(["--config", str(site), "anomalies"]) == 0
    out = capsys.readouterr().out
    assert "needs_employer" in out and inss(2).masked() in out and "pending" not in out


def test_anomalies_list_a_presence_stuck_in_sent(site, capsys):
    from controller import schema

    _record(site, _db(site), checkin(limosa(3)), checkin(limosa(4)))
    store = open_store(_db(site))
    try:
        with store.transaction() as conn:
            p = schema.presences.c
            long_ago = datetime.now(UTC) - timedelta(minutes=20)
            conn.execute(
                schema.presences.update()
                .where(p.person_id == limosa(3).digits)
                .values(state="sent", updated_at=long_ago)
            )
            conn.execute(
                schema.presences.update()
                .where(p.person_id == limosa(4).digits)
                .values(state="sent", updated_at=datetime.now(UTC))
            )
    finally:
        store.close()
    assert main(["--config", str(site), "anomalies", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["state"] for r in rows] == ["sent"]
    assert rows[0]["person"] == limosa(3).masked()


def test_onsite_lists_who_went_in_and_not_out(site, capsys):
    now = datetime.now(UTC)
    _record(
        site,
        _db(site),
        checkin(limosa(1), at=now - timedelta(seconds=60)),
        checkin(limosa(2), at=now - timedelta(seconds=50)),
        checkin(limosa(2), at=now - timedelta(seconds=10), direction="out"),
    )
    assert main(["--config", str(site), "onsite", "--reveal", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["person"] for r in rows] == [limosa(1).digits]


def test_terminals_come_from_the_terminals_file(site, capsys):
    assert main(["--config", str(site), "terminals"]) == 0
    out = capsys.readouterr().out
    assert "gate-1" in out and "never seen" in out


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_a_terminal_never_seen_has_empty_numbers_in_every_format(site, capsys, fmt):
    assert main(["--config", str(site), "terminals"]) == 0  # the terminals file is read
    capsys.readouterr()
    assert main(["--config", str(site), "terminals", "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        [row] = [r for r in json.loads(out) if r["terminal"] == "gate-1"]
        assert row["state"] == "never seen"
        for column in ("outbox_depth", "outbox_alarm", "clock_synced", "last_seen", "fault",
                       "reader", "camera", "tamper", "version"):  # fmt: skip
            assert row[column] is None, column
    elif fmt == "csv":
        [row] = [r for r in csv.DictReader(io.StringIO(out)) if r["terminal"] == "gate-1"]
        assert row["outbox_depth"] == row["outbox_alarm"] == row["tamper"] == ""
    else:
        line = next(x for x in out.splitlines() if x.startswith("gate-1"))
        assert line.split("never seen")[1].strip() == ""  # no 0, no "no", nothing after


def test_terminals_show_the_heartbeats_fault_reader_camera_and_tamper(site, capsys):
    from controller import schema

    assert main(["--config", str(site), "terminals"]) == 0
    capsys.readouterr()
    health = {"flow": "fault", "fault": "tampered", "reader": "ok", "camera": "no_frames",
              "tamper": "open"}  # fmt: skip
    store = open_store(_db(site))
    try:
        with store.transaction() as conn:
            conn.execute(
                schema.terminals.update()
                .where(schema.terminals.c.terminal_id == "gate-1")
                .values(
                    last_state="online",
                    last_seen_at=datetime.now(UTC),
                    outbox_depth=0,
                    outbox_alarm=False,
                    health=json.dumps(health),
                )
            )
    finally:
        store.close()
    assert main(["--config", str(site), "terminals", "--format", "json"]) == 0
    [row] = [r for r in json.loads(capsys.readouterr().out) if r["terminal"] == "gate-1"]
    assert (row["fault"], row["reader"], row["camera"], row["tamper"]) == (
        "tampered",
        "ok",
        "no_frames",
        "open",
    )
    assert row["outbox_depth"] == 0 and row["outbox_alarm"] is False


def test_anomalies_tell_nssos_remark_in_words_once(site, capsys):
    from controller import schema

    _record(site, _db(site), checkin(inss(5)))
    remark = "COMPANY IS NOT KNOWN  AS BUILDER OR  SUBCONTRACTOR IN THIS DUC"
    store = open_store(_db(site))
    try:
        with store.transaction() as conn:
            conn.execute(
                schema.presences.update().values(
                    state="failed_remarks", receipt_id="459046001236787",
                    remarks=json.dumps([remark]), registry_status="FAILED",
                )
            )  # fmt: skip
    finally:
        store.close()
    assert main(["--config", str(site), "anomalies", "--format", "json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert "not declared on this site" in row["detail"]
    assert "SUBCONTRACTOR" not in row["detail"] and row["detail"].count("declaration of works") == 1


def test_a_bad_config_is_a_clear_usage_error(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("config_version = 1\n[site]\nworkplace_id = 'X'\n[broker]\nport = 'x'\n")
    assert main(["--config", str(path), "presences"]) == 2
    err = capsys.readouterr().err
    assert "[broker] key 'port' must be int" in err and "[wrong_type]" in err


def test_preregister_refuses_a_day_nsso_would_refuse(site, capsys):
    assert main(["--config", str(site), "preregister", "--date", "2020-01-01"]) == 1
    assert "today or tomorrow" in capsys.readouterr().err


def _crew_file(tmp_path: Path) -> Path:
    """Line 2 on the roster, line 3 not, line 4 no valid number."""
    crew = tmp_path / "crew.csv"
    crew.write_text(
        f"rijksregisternummer;werkgever;naam\n{inss(1).digits};{COMPANY};Els Claes\n"
        f"{inss(2).digits};{COMPANY};Piet Janssens\n12345678901;{COMPANY};Nobody\n"
    )
    return crew


def _planned(site: Path) -> set[str]:
    store = open_store(_db(site))
    try:
        from controller import schema

        with store.transaction() as conn:
            return {r.person_id for r in conn.execute(schema.presences.select())}
    finally:
        store.close()


def test_preregister_from_a_file_skips_whom_the_gate_would_refuse_and_lists_bad_rows(
    site, tmp_path, capsys
):
    roster = tmp_path / "roster.csv"
    roster.write_text(f"person;employer;name\n{inss(1)};{COMPANY};Els Claes\n")
    assert main(["--config", str(site), "roster", "import", str(roster)]) == 0
    capsys.readouterr()
    argv = ["--config", str(site), "preregister", "--date", "today", "--from"]
    assert main([*argv, str(_crew_file(tmp_path))]) == 1
    out = capsys.readouterr().out
    assert f"line 3: skipped: {inss(2).masked()} (Piet Janssens): not on the roster" in out
    assert "line 4: refused: invalid national number" in out
    assert inss(2).digits not in out and "1 planned presences added" in out
    assert _planned(site) == {inss(1).digits}


def test_preregister_include_refused_sends_them_with_a_warning(site, tmp_path, capsys):
    argv = ["--config", str(site), "preregister", "--date", "today", "--include-refused"]
    assert main([*argv, "--from", str(_crew_file(tmp_path))]) == 1  # line 4 stays bad
    out = capsys.readouterr().out
    assert "line 2: warning:" in out and "the gate will refuse them" in out
    assert _planned(site) == {inss(1).digits, inss(2).digits}


def test_a_checkin_refused_for_a_missing_terminals_entry_is_replayed_once_it_is_added(site, capsys):
    event = checkin(limosa(5), terminal="gate-9")
    store = open_store(_db(site))
    try:
        with store.transaction() as conn:
            checkins.quarantine(
                conn, topic="sitegate/v1/1Y102M7NZF7PZ/gate-9/checkin", terminal_id="gate-9",
                event_id=str(event.event_id), reason="unknown_terminal", detail="not in file",
                payload=encode(event), received_at=datetime.now(UTC),
            )  # fmt: skip
    finally:
        store.close()
    assert main(["--config", str(site), "quarantine", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["terminal"], r["reason"]) for r in listed] == [("gate-9", "unknown_terminal")]
    assert limosa(5).digits not in json.dumps(listed)

    assert main(["--config", str(site), "quarantine", "--replay"]) == 0
    assert "0 check-ins stored, 1 still refused" in capsys.readouterr().out
    terminals = site.parent / "terminals.toml"
    terminals.write_text(
        terminals.read_text() + '[[terminal]]\nid = "gate-9"\ndirection = "in"\n'
        'cert_serial = "01"\nrevoked = false\n'
    )
    assert main(["--config", str(site), "quarantine", "--replay"]) == 0
    assert "1 check-ins stored, 0 still refused" in capsys.readouterr().out
    assert main(["--config", str(site), "presences", "--format", "json"]) == 0
    assert [r["state"] for r in json.loads(capsys.readouterr().out)] == ["pending"]


def test_refused_lists_what_the_terminals_counted_per_minute(site, capsys):
    import uuid

    from controller import refusals
    from presence.messages import RefusalCount, RefusalSummary

    at = datetime.now(UTC).replace(second=0, microsecond=0)
    boot = "0b0a0a0a-0000-4000-8000-00000000000a"
    summary = RefusalSummary(uuid.uuid4(), (RefusalCount(boot, 9, 1, "read_error", at, True, 4),))
    store = open_store(_db(site))
    try:
        with store.transaction() as conn:
            refusals.store_summary(conn, "gate-1", summary, at)
    finally:
        store.close()
    assert main(["--config", str(site), "refusals", "--format", "json"]) == 0  # refused's alias
    [row] = json.loads(capsys.readouterr().out)
    assert (row["gate"], row["reason"], row["count"], row["person"]) == (
        "gate-1", "read_error", 4, ""
    )  # fmt: skip
    assert "could not be read" in row["explanation"]


# --- one way to pass options; the database belongs to the service user --------------------


def test_the_controller_finds_its_config_in_the_site_directory(tmp_path, capsys, monkeypatch):
    write_site(tmp_path / "site" / "controller", db_url=f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("SITEGATE_SITE_DIR", str(tmp_path / "site"))
    assert main(["terminals"]) == 0
    assert "gate-1" in capsys.readouterr().out
    monkeypatch.delenv("SITEGATE_SITE_DIR")
    assert main(["terminals", "--dir", str(tmp_path / "site")]) == 0
    assert "gate-1" in capsys.readouterr().out


def test_global_options_go_before_or_after_the_command(site, capsys):
    _record(site, _db(site), checkin(inss(1)))
    assert main(["presences", "--format", "json", "--reveal", "--config", str(site)]) == 0
    after = json.loads(capsys.readouterr().out)
    assert main(["--reveal", "--config", str(site), "presences", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == after
    assert after[0]["person"] == str(inss(1))


def test_cancel_help_explains_each_reason_in_words(capsys):
    with pytest.raises(SystemExit):
        main(["cancel", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for words in ("HOLIDAY: on holiday", "DISEASE: ill", "PLANNING: the planning changed",
                  "C32A: temporary unemployment"):  # fmt: skip
        assert words in out


def test_preregister_help_says_it_takes_the_whole_roster_without_from(capsys):
    with pytest.raises(SystemExit):
        main(["preregister", "--help"])
    assert "without it, the whole roster" in " ".join(capsys.readouterr().out.split())


def _owned_by_nobody(directory: Path) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    directory.mkdir()
    os.chown(directory, nobody.pw_uid, nobody.pw_gid)


def test_root_refuses_the_service_users_database_and_leaves_no_file(tmp_path, capsys):
    assert os.geteuid() == 0, "the tests run as root (CONVENTIONS)"
    state = tmp_path / "state"
    _owned_by_nobody(state)
    config = write_site(tmp_path / "site", db_url=f"sqlite:///{state / 'controller.db'}")
    assert main(["--config", str(config), "presences"]) == 2
    err = capsys.readouterr().err
    assert "[wrong_user]" in err and "belongs to nobody" in err
    assert f"sudo -u nobody sitegate-controller --config {config} presences" in err
    assert list(state.iterdir()) == []


# Everything imported first: this interpreter's standard library is root's alone.
AS_NOBODY = (
    "import os, sys, sqlite3, sqlalchemy.dialects.sqlite, controller.store, "
    "controller.config, controller.views; from controller.cli import main; "
    "os.setgid(65534); os.setuid(65534); sys.exit(main(sys.argv[1:]))"
)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user may enter (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="sitegate-owner-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def _as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", AS_NOBODY, *argv], capture_output=True, text=True, timeout=60
    )


def test_the_service_user_opens_its_database_and_owns_every_file(open_dir):
    state = open_dir / "state"
    _owned_by_nobody(state)
    config = write_site(open_dir / "site", db_url=f"sqlite:///{state / 'controller.db'}")
    done = _as_nobody("--config", str(config), "presences")
    assert done.returncode == 0, done.stderr
    assert {p.stat().st_uid for p in state.iterdir()} == {state.stat().st_uid}
    assert any(state.iterdir())


def test_a_user_who_may_not_write_the_database_is_told_whose_it_is(open_dir):
    state = open_dir / "state"
    state.mkdir(mode=0o755)
    config = write_site(open_dir / "site", db_url=f"sqlite:///{state / 'controller.db'}")
    done = _as_nobody("--config", str(config), "onsite")
    assert done.returncode == 2
    assert "[no_access]" in done.stderr and "belongs to root" in done.stderr
    assert "sudo -u root sitegate-controller" in done.stderr
    assert list(state.iterdir()) == []


def test_a_user_who_may_not_create_the_state_directory_is_told_what_to_do(open_dir):
    state = open_dir / "var" / "sitegate"
    config = write_site(open_dir / "site", db_url=f"sqlite:///{state / 'controller.db'}")
    done = _as_nobody("--config", str(config), "onsite")
    assert done.returncode == 2
    assert "[no_access]" in done.stderr and "does not exist" in done.stderr
    assert "--state-dir" in done.stderr
    assert not (open_dir / "var").exists()


def test_every_presence_state_is_explained_in_words():
    from controller import schema
    from controller.cli import STATE_WORDS

    assert tuple(STATE_WORDS) == schema.STATES
