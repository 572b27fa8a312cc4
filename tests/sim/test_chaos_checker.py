"""The checker sees each kind of broken promise in the records of a real (in-process) site,
and passes the same records untouched."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from presence.clock import brussels_date
from sim.chaos import checker
from sim.chaos.inprocess import InProcessSite, play
from sim.chaos.workload import Workload, make_workload
from sim.nsso.store import NewRegistration, Store

pytestmark = pytest.mark.integration

GATES = (["gate-1", "gate-2"], ["gate-3"])


@pytest.fixture(scope="module")
def settled_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Workload]:
    """A small rush through an in-process site, settled and stopped: its files stay."""
    workdir = tmp_path_factory.mktemp("chaos-site")
    today = brussels_date(datetime.now(UTC))
    load = make_workload(11, 12, 4.0, *GATES, today, "baseline")
    with InProcessSite(workdir, load, today) as site:
        play(site, load.passes, [])
        assert site.settle(30.0)
    return workdir, load


def _copy(settled: tuple[Path, Workload], tmp_path: Path) -> tuple[checker.Sources, Workload]:
    workdir, load = settled
    copy = tmp_path / "site"
    shutil.copytree(workdir, copy, ignore=shutil.ignore_patterns("*.sock"))
    terminals = ["gate-1", "gate-2", "gate-3"]
    sources = checker.Sources(
        terminals=terminals,
        journal={t: copy / f"{t}.journal" for t in terminals},
        outbox={t: copy / t / "outbox.db" for t in terminals},
        logs={"controller": copy / "controller.log"},
        db_url=f"sqlite:///{copy / 'controller.db'}",
        nsso_db=copy / "nsso.db",
        exits=[],
    )
    return sources, load


def _codes(sources: checker.Sources, load: Workload) -> set[str]:
    return {v.code for v in checker.check(sources, load, None).violations}


def test_untouched_records_keep_the_promise(
    settled_site: tuple[Path, Workload], tmp_path: Path
) -> None:
    sources, load = _copy(settled_site, tmp_path)
    found = checker.check(sources, load, None)
    assert found.violations == []
    assert found.admitted > 0 and found.registrations > 0
    assert found.receipt_delays


def test_an_admission_the_controller_never_stored_is_lost(
    settled_site: tuple[Path, Workload], tmp_path: Path
) -> None:
    sources, load = _copy(settled_site, tmp_path)
    with sqlite3.connect(sources.db_url.removeprefix("sqlite:///")) as db:
        db.execute(
            "DELETE FROM checkin_events WHERE id = (SELECT min(id) FROM checkin_events "
            "WHERE decision = 'admitted')"
        )
    assert "lost" in _codes(sources, load)


def test_a_second_registration_for_one_person_and_day_is_doubled(
    settled_site: tuple[Path, Workload], tmp_path: Path
) -> None:
    sources, load = _copy(settled_site, tmp_path)
    store = Store(sources.nsso_db)
    try:
        row = store.all()[0]
        new = NewRegistration(
            row.workplace_id,
            row.inss,
            row.company_id,
            row.limosa_id,
            row.registration_date,
            "not-ours",
            row.sector,
        )
        with store.transaction():
            store.insert(new, row.status, row.created_ts + 1)
    finally:
        store.close()
    assert {"doubled", "phantom"} <= _codes(sources, load)


def test_a_presence_that_never_got_its_receipt_is_unregistered(
    settled_site: tuple[Path, Workload], tmp_path: Path
) -> None:
    sources, load = _copy(settled_site, tmp_path)
    with sqlite3.connect(sources.db_url.removeprefix("sqlite:///")) as db:
        db.execute(
            "UPDATE presences SET state = 'rejected', receipt_id = NULL "
            "WHERE id = (SELECT min(id) FROM presences)"
        )
    assert "unregistered" in _codes(sources, load)


def test_a_day_passed_makes_a_missed_presence_allowed_only_for_a_past_day(
    settled_site: tuple[Path, Workload], tmp_path: Path
) -> None:
    sources, load = _copy(settled_site, tmp_path)
    with sqlite3.connect(sources.db_url.removeprefix("sqlite:///")) as db:
        db.execute(
            "UPDATE presences SET state = 'missed', last_error = 'day passed' "
            "WHERE id = (SELECT min(id) FROM presences)"
        )
    assert "unregistered" in _codes(sources, load)  # today has not passed


def test_an_undrained_outbox_and_an_error_line_are_violations(
    settled_site: tuple[Path, Workload], tmp_path: Path
) -> None:
    sources, load = _copy(settled_site, tmp_path)
    with sqlite3.connect(sources.outbox["gate-1"]) as db:
        db.execute(
            "INSERT INTO outbox (seq, event_id, admitted, created_at, payload) "
            "VALUES (999999, 'x', 1, 0, x'00')"
        )
    sources.logs["controller"].write_text("ERROR controller.relay: relay pass failed\n")
    assert {"outbox", "error_logged"} <= _codes(sources, load)
