"""The demo's words: decision times in Brussels time, a summary in words, a closing hint that
runs as printed, and no temporary directory left behind unless asked."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from sim import demo
from terminal.flows.rules import Verdict

REPO = Path(__file__).resolve().parents[2]


def _shift(*verdicts: Verdict, people: int = 1) -> demo.Shift:
    outcomes = [SimpleNamespace(decided=SimpleNamespace(verdict=v)) for v in verdicts]
    return SimpleNamespace(outcomes=outcomes, admitted_people={f"{i}" for i in range(people)})  # type: ignore[return-value]


def test_the_summary_is_words_with_each_count_explained() -> None:
    shift = _shift(
        Verdict("admitted", "ok", "admitted"),
        Verdict("refused", "card_expired", "refused_card_expired"),
        people=0,
    )
    presences = [{"person": "x", "state": "failed_remarks", "receipt": "459046001236787"}]
    lines, bad = demo.summary(shift, presences, [])
    text = "\n".join(lines)
    assert "{" not in text and "'" not in text  # no Python dict
    assert "1 x the eID card has expired" in text and "1 x registered with remarks" in text
    for count in ("missed:", "lost:", "doubled:"):
        assert any(line.startswith(count) for line in lines), count
    assert bad == 0


def test_the_closing_hint_names_the_virtual_environments_script(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    hint = demo.command_hint("sitegate-controller")
    script = Path(sys.executable).parent / "sitegate-controller"
    assert Path(hint).resolve() == script.resolve()
    if script.is_relative_to(REPO):  # make venv: the README's .venv/bin/...
        assert hint == str(script.relative_to(REPO))


def _run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The demo as ``make demo`` runs it (from the repository), temp files under ``tmp_path``."""
    done = subprocess.run(
        [sys.executable, "-m", "sim.demo", "--no-pcscd", *args],
        capture_output=True, text=True, timeout=240, check=False, cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def test_the_demo_removes_its_temporary_directory_and_prints_brussels_times(
    tmp_path: Path,
) -> None:
    done = _run_demo(tmp_path)
    assert list(tmp_path.glob("sitegate-demo-*")) == []
    assert "work directory removed" in done.stdout
    assert re.search(r"^\d\d:\d\d:\d\d CES?T gate-", done.stdout, re.M)


def test_with_keep_the_closing_hint_runs_as_printed(tmp_path: Path) -> None:
    done = _run_demo(tmp_path, "--keep")
    [kept] = tmp_path.glob("sitegate-demo-*")
    hints = [line.strip() for line in done.stdout.splitlines() if "--config" in line]
    script = demo.command_hint("sitegate-controller")
    assert hints and all(h.startswith(f"{script} --config {kept}") for h in hints)
    for hint in hints:
        shown = subprocess.run(
            shlex.split(hint), capture_output=True, text=True, timeout=60, check=False, cwd=REPO
        )
        assert shown.returncode == 0, shown.stderr
    assert kept.is_dir()
