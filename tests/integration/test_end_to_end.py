"""The whole chain on real parts: an emulated eID card in the vpcd reader, pcscd, the
terminal program, mosquitto, the controller process, the NSSO stand-in over HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from presence.clock import brussels_date
from sim.crew import morning_crew
from sim.demo import Shift, settle
from sim.demo_site import DemoSite
from sim.pcscd import Pcscd
from tests.support.ci import skip_or_fail
from tests.support.pcscd import pcscd_vpcd  # noqa: F401

pytestmark = pytest.mark.integration


def test_a_card_in_the_reader_becomes_an_nsso_receipt_stored_by_the_controller(
    pcscd_vpcd: Pcscd,  # noqa: F811
    tmp_path: Path,
) -> None:
    today = brussels_date(datetime.now(UTC))
    worker = next(w for w in morning_crew(today) if w.kind == "eid")
    lines: list[str] = []
    with DemoSite(tmp_path, [worker], today, use_pcscd=True) as site:
        if not site.card_reader.startswith("pcscd"):
            skip_or_fail(f"the vpcd reader could not be used: {site.card_reader}")
        shift = Shift(site, out=lines.append)
        outcome = shift.check_in(site.terminals["gate-1"], worker)
        presences = settle(site, shift, lines.append)
        registered = site.nsso.registrations()

    assert outcome.decided.verdict.admitted, lines
    assert len(presences) == 1
    presence = presences[0]
    assert presence["state"] == "validated"
    assert re.fullmatch(r"\d{15}", str(presence["receipt"]))
    assert re.sub(r"\D", "", str(presence["person"])) == worker.inss
    assert [r["receipt_id"] for r in registered] == [presence["receipt"]]


def test_the_demo_plays_the_shift_and_loses_nothing(pcscd_vpcd: Pcscd, tmp_path: Path) -> None:  # noqa: F811
    done = subprocess.run(
        [sys.executable, "-m", "sim.demo", "--dir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"^\s+lost\s+0$", done.stdout, re.M)
    assert re.search(r"^\s+doubled\s+0 ", done.stdout, re.M)
    assert "pcscd + vpcd + BELPIC emulator" in done.stdout
    assert re.search(r"already_inside|card_expired|unknown_person|not_an_l1_code", done.stdout)
    # Privacy: no full national number (11 digits in any notation) in what the demo prints.
    assert not re.search(r"\b\d{2}\.?\d{2}\.?\d{2}-?\d{3}\.?\d{2}\b", done.stdout)
