"""``sitegate-controller roster ...``: the plan shown, applied unless --dry-run, people
listed, blocked and their history, masked unless --reveal."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller import audit
from controller.cli import main
from controller.store import open_store
from tests.controller.support import COMPANY, inss, limosa, write_site


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return write_site(tmp_path / "site", db_url=f"sqlite:///{tmp_path / 'c.db'}")


@pytest.fixture
def crew(tmp_path: Path) -> Path:
    path = tmp_path / "ploeg.csv"
    path.write_text(
        "Rijksregisternummer;Voornaam;Naam;KBO;Geldig van\n"
        f"{inss(1)};Jan;Peeters;{COMPANY};01/03/2026\n"
        f"{inss(2)};An;Claes;{COMPANY};\n"
        f"{inss(2)};An;Claes;{COMPANY};\n",
        encoding="cp1252",
    )
    return path


def _run(site: Path, *args: str) -> int:
    return main(["--config", str(site), *args])


def test_dry_run_shows_the_plan_and_changes_nothing(site, crew, capsys):
    assert _run(site, "roster", "import", str(crew), "--dry-run") == 1
    out = capsys.readouterr().out
    assert "2 to add, 0 to change, 0 unchanged, 1 refused" in out
    assert "line 4: refused: same person and employer as line 3" in out
    assert "dry run: nothing changed" in out
    assert _run(site, "roster", "list") == 0
    assert "(none)" in capsys.readouterr().out


def test_import_applies_the_good_rows_and_list_shows_names_masked(site, crew, capsys):
    _run(site, "roster", "import", str(crew))
    assert "applied: 2 added" in capsys.readouterr().out
    assert _run(site, "roster", "list", "--search", "peet") == 0
    out = capsys.readouterr().out
    assert "Jan Peeters" in out and inss(1).masked() in out and inss(1).digits not in out


def test_block_by_name_is_recorded_as_the_os_user(site, crew, capsys):
    _run(site, "roster", "import", str(crew))
    assert _run(site, "roster", "block", "claes") == 0
    assert "blocked (1 roster entries)" in capsys.readouterr().out
    store = open_store(f"sqlite:///{site.parent.parent / 'c.db'}")
    try:
        entry = audit.entries(store, action="roster.block")[0]
    finally:
        store.close()
    assert entry["address"] == "cli" and entry["target"] == inss(2).masked()


def test_history_is_masked_unless_revealed(site, crew, capsys):
    _run(site, "roster", "import", str(crew))
    capsys.readouterr()
    assert _run(site, "roster", "history", inss(1).digits[-5:]) == 0
    out = capsys.readouterr().out
    assert inss(1).masked() in out and str(inss(1)) not in out and "Jan Peeters" in out
    assert _run(site, "--reveal", "roster", "history", "peeters") == 0
    assert str(inss(1)) in capsys.readouterr().out


def test_an_unknown_person_gives_a_message_and_code(site, capsys):
    assert _run(site, "roster", "remove", str(limosa(7))) == 1
    assert "[not_found]" in capsys.readouterr().err
