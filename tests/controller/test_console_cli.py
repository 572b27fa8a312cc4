"""The commands that match the console's pages, run through ``controller.cli.main``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from controller import checkins, schema
from controller.cli import main
from controller.store import open_store
from presence.events import encode
from tests.controller.support import COMPANY, checkin, inss, limosa, write_site


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return write_site(tmp_path / "site", db_url=f"sqlite:///{tmp_path / 'c.db'}")


@pytest.fixture
def crew(site: Path, tmp_path: Path, capsys) -> Path:
    path = tmp_path / "crew.csv"
    path.write_text(
        f"INSZ;naam;KBO;limosa\n{inss(1)};Jan Peeters;{COMPANY};\n;Piotr;;{limosa(2)}\n"
    )
    assert _run(site, "roster", "import", str(path)) == 0
    capsys.readouterr()
    return path


def _run(site: Path, *args: str) -> int:
    return main(["--config", str(site), *args])


def _db(site: Path):
    return open_store(f"sqlite:///{site.parent.parent / 'c.db'}")


def test_register_by_hand_from_the_command_line(site, crew, capsys):
    assert _run(site, "register", str(inss(1)), "--company", COMPANY) == 0
    assert "check-in stored; presence 1 pending" in capsys.readouterr().out
    assert _run(site, "register", str(limosa(2)), "--date", "tomorrow") == 0
    assert "planned presence; presence 2 pending" in capsys.readouterr().out
    assert _run(site, "audit", "--action", "register") == 0
    out = capsys.readouterr().out
    assert out.count("register.by_hand") == 2 and inss(1).digits not in out


def test_register_names_the_bad_field(site, crew, capsys):
    assert _run(site, "register", str(inss(1))) == 1
    assert "company: a national number needs" in capsys.readouterr().err


def test_refused_lists_todays_refusals_and_what_no_gate_reports(site, crew, capsys):
    assert _run(site, "register", str(inss(7)), "--company", COMPANY) == 1
    capsys.readouterr()
    assert _run(site, "refused") == 0
    out = capsys.readouterr().out
    assert "console-" in out and "unknown_person" in out and inss(7).masked() in out
    assert "counted by the gate per minute" in out


def test_anomaly_commands_act_on_a_presence_by_id(site, crew, capsys):
    store = _db(site)
    try:
        event = checkin(inss(5), at=datetime.now(UTC))
        with store.transaction() as conn:
            checkins.record(store, conn, event, encode(event), datetime.now(UTC), 300)
    finally:
        store.close()
    assert _run(site, "anomalies") == 0
    assert "needs_employer" in capsys.readouterr().out
    assert _run(site, "anomaly", "assign-employer", "1", "0403.170.701") == 0
    assert "presence 1: employer 0403.170.701: pending" in capsys.readouterr().out
    assert _run(site, "anomaly", "ack", "1", "--comment", "done") == 1
    assert "[wrong_state]" in capsys.readouterr().err
    assert _run(site, "anomaly", "stuck") == 0
    assert "(none)" in capsys.readouterr().out


def test_proof_and_evacuation_write_pdfs(site, crew, tmp_path, capsys):
    _run(site, "register", str(limosa(2)))
    proof, evacuation = tmp_path / "proof.pdf", tmp_path / "evacuation.pdf"
    assert _run(site, "proof", "--out", str(proof)) == 0
    assert _run(site, "evacuation", "--out", str(evacuation)) == 0
    assert "Workplace id" in PdfReader(proof).pages[0].extract_text()
    assert "On site now: 1 people" in PdfReader(evacuation).pages[0].extract_text()
    store = _db(site)
    try:
        with store.transaction() as conn:
            actions = set(conn.execute(select(schema.audit.c.action)).scalars())
    finally:
        store.close()
    assert {"export.proof", "export.evacuation"} <= actions


def test_onsite_shows_names_and_a_head_count(site, crew, capsys):
    _run(site, "register", str(inss(1)), "--company", COMPANY)
    capsys.readouterr()
    assert _run(site, "onsite") == 0
    out = capsys.readouterr().out
    assert "Jan Peeters" in out and "1 on site" in out


def test_a_command_run_with_reveal_is_audited(site, crew, capsys):
    assert _run(site, "--reveal", "roster", "list") == 0
    assert str(inss(1)) in capsys.readouterr().out
    _run(site, "audit", "--action", "reveal")
    assert "roster list" in capsys.readouterr().out
