"""Roster import: row by row, bad rows listed with line numbers, good rows kept."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import schema, siteconfig
from controller.errors import RosterError
from controller.roster import import_file
from controller.store import Store
from tests.controller.support import COMPANY, OTHER_COMPANY, inss, limosa


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sitegate.db'}"


def _roster(store: Store):
    with store.transaction() as conn:
        return conn.execute(select(schema.roster).order_by(schema.roster.c.id)).all()


def test_good_rows_are_kept_and_bad_rows_listed_with_line_and_reason(store, tmp_path):
    path = tmp_path / "crew.csv"
    path.write_text(
        "person,employer,valid_from,valid_to\n"
        f"{inss(1)},{COMPANY},,\n"
        f"{inss(2).digits[:-1]}0,{COMPANY},,\n"
        f"{inss(3)},,,\n"
        f"{limosa(1)},,2026-03-01,2026-03-31\n"
        f"{inss(4)},{COMPANY},2026-04-01,2026-03-01\n"
        f"{inss(5)},{OTHER_COMPANY},tomorrow,\n"
        "\n"
        f"{inss(6)},{COMPANY},,,extra\n"
    )
    report = import_file(store, path)
    assert report.imported == 2
    lines = dict(report.bad)
    assert set(lines) == {3, 4, 6, 7, 9}
    assert "check digits do not match" in lines[3]
    assert "employer is empty" in lines[4]
    assert "valid_to is before valid_from" in lines[6]
    assert "valid_from is not a date" in lines[7]
    assert "more fields" in lines[9]
    assert inss(2).digits not in " ".join(lines.values())
    rows = _roster(store)
    assert [(r.person_kind, r.company_id) for r in rows] == [("inss", COMPANY), ("limosa", "")]
    assert rows[1].valid_to == date(2026, 3, 31)


def test_semicolons_and_a_bom_are_accepted(store, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(f"\ufeffPerson;Employer\n{inss(1)};BE 0403.170.701\n".encode())
    assert import_file(store, path).imported == 1


def test_a_wrong_header_refuses_the_whole_file(store, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(f"name,employer\n{inss(1)},{COMPANY}\n")
    with pytest.raises(RosterError) as caught:
        import_file(store, path)
    assert caught.value.code == "header" and "line 1" in str(caught.value)


def test_importing_again_updates_instead_of_duplicating(store, tmp_path):
    path = tmp_path / "crew.csv"
    path.write_text(f"person,employer\n{inss(1)},{COMPANY}\n")
    import_file(store, path)
    path.write_text(f"person,employer,valid_to\n{inss(1)},{COMPANY},2026-12-31\n")
    import_file(store, path)
    rows = _roster(store)
    assert len(rows) == 1 and rows[0].valid_to == date(2026, 12, 31)


def test_each_import_moves_the_roster_version(store, tmp_path):
    path = tmp_path / "crew.csv"
    path.write_text(f"person,employer\n{inss(1)},{COMPANY}\n")
    import_file(store, path)
    import_file(store, path)
    with store.transaction() as conn:
        assert siteconfig.roster_version(store, conn) == 2
