"""``sitegate-registry`` as a process, and its declared-works file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from registry.client import RegistryClient
from registry.wire import PresenceItem, RegistrationResult
from sim.nsso.works import WorksFileError, load_works
from sim.registry_server import main
from tests.registry.conftest import COMPANY, INSS, WORKPLACE


def test_cli_serves_until_terminated(tmp_path: Path, works_file: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim.registry_server",
            "--listen",
            "127.0.0.1:0",
            "--db",
            str(tmp_path / "nsso.db"),
            "--works",
            str(works_file),
            "--today",
            "2026-03-02",
            "--validation-delay",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("sitegate-registry listening on http://127.0.0.1:"), line
        endpoint = line.split()[-1]
        with RegistryClient(endpoint) as client:
            (answer,) = client.register([PresenceItem(WORKPLACE, inss=INSS, company_id=COMPANY)])
            assert isinstance(answer, RegistrationResult)
            assert client.get(answer.receipt_id).status == "VALIDATED"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--listen", "10.0.0.1:8080"], "loopback"),
        (["--listen", "nonsense"], "HOST:PORT"),
        (["--tls-cert", "x.pem"], "go together"),
        (["--client-ca", "ca.pem"], "needs --tls-cert"),
    ],
)
def test_cli_refuses_bad_options(
    tmp_path: Path,
    works_file: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    code = main(["--db", str(tmp_path / "n.db"), "--works", str(works_file), *argv])
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_reports_a_missing_works_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(tmp_path / "n.db"), "--works", str(tmp_path / "none.toml")]) == 2
    assert "none.toml" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("[[works]]\nworkplace_id = 'A'\nstart = 2026-01-01\nend = 2025-01-01\n", "works_value"),
        (
            "[[works]]\nworkplace_id = 'A'\nstart = 2026-01-01\nend = 2026-02-01\nsector = 'x'\n",
            "works_value",
        ),
        (
            "[[works]]\nworkplace_id = 'A'\nstart = 2026-01-01\nend = 2026-02-01\n"
            "companies = ['0403170702']\n",
            "works_value",
        ),
        (
            "[[works]]\nworkplace_id = 'A'\nstart = 2026-01-01T10:00:00\nend = 2026-02-01\n",
            "works_value",
        ),
        (
            "[[works]]\nworkplace_id = 'A'\nstart = 2026-01-01\nend = 2026-02-01\ncolour = 1\n",
            "works_key",
        ),
        (
            "[[limosa]]\nid = 249\nvalid_from = 2026-01-01\nvalid_until = 2026-02-01\n",
            "works_value",
        ),
        ("[[sites]]\n", "works_key"),
        ("works = [", "works_syntax"),
    ],
)
def test_works_file_errors_are_precise(tmp_path: Path, text: str, code: str) -> None:
    path = tmp_path / "works.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorksFileError) as caught:
        load_works(path)
    assert caught.value.code == code
    assert str(path) in str(caught.value)


def test_works_file_is_read(works_file: Path) -> None:
    register = load_works(works_file)
    works = register.works[WORKPLACE]
    assert works.companies == frozenset({COMPANY})
    assert works.sector_code == 1
    assert register.works["2AB3C4D5E6F7G"].sector_code == 3
    assert not register.works["2AB3C4D5E6F7G"].subject
