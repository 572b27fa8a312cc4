"""The retention purge: personal data out past ``[retention] days``, the proof kept."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import checkins, retention, schema
from controller import config as config_module
from controller import lease as lease_module
from controller.cli import main
from controller.config import ControllerConfig
from controller.errors import ConfigError
from controller.service import Controller
from controller.store import Store, open_store
from presence.clock import ManualClock
from presence.events import encode
from tests.controller.support import COMPANY, checkin, inss, limosa, wait_until, write_site

TODAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OLD = datetime(2020, 6, 1, 7, 0, tzinfo=UTC)  # more than five years before TODAY
RECENT = datetime(2025, 6, 1, 7, 0, tzinfo=UTC)
DAYS = 1826


@pytest.fixture
def dated_store(site_config: ControllerConfig) -> Iterator[Store]:
    opened = open_store(site_config.database.url, ManualClock(TODAY))
    yield opened
    opened.close()


def _arrive(store: Store, person, at: datetime) -> None:
    event = checkin(person, at=at)
    with store.transaction() as conn:
        checkins.record(store, conn, event, encode(event), at, 300)
        checkins.quarantine(conn, topic="sites/x/terminals/gate-1/checkin", terminal_id="gate-1",
                            event_id=None, reason="bad_payload", detail="",
                            payload=encode(event) + b"!", received_at=at)  # fmt: skip


def _fill(store: Store) -> None:
    _arrive(store, inss(1), OLD)
    _arrive(store, limosa(1), OLD)
    _arrive(store, inss(2), RECENT)
    p = schema.presences.c
    with store.transaction() as conn:
        conn.execute(schema.presences.update().where(p.date == OLD.date())
                     .values(state="validated", receipt_id="100000000042"))  # fmt: skip
        for n, valid_to in ((1, date(2020, 12, 31)), (2, None), (3, date(2025, 12, 31))):
            row = {"person_kind": "inss", "person_id": inss(n).digits, "company_id": COMPANY,
                   "valid_to": valid_to, "source": "crew.csv", "imported_at": OLD}  # fmt: skip
            conn.execute(schema.roster.insert().values(name=f"Worker {n}", **row))


def _rows(store: Store, table) -> list:
    with store.transaction() as conn:
        return list(conn.execute(select(table).order_by(table.c.id)))


def test_old_check_ins_lose_the_number_and_payload_and_keep_date_and_masked_id(
    dated_store: Store,
) -> None:
    _fill(dated_store)
    retention.purge(dated_store, DAYS)
    old, old_limosa, recent = _rows(dated_store, schema.events)
    assert (old.person_id, old.payload, old.person_masked) == ("", b"", inss(1).masked())
    assert old_limosa.person_masked == limosa(1).masked()
    assert old.dated_at == OLD and old.presence_id is not None
    assert recent.person_id == inss(2).digits and recent.payload and recent.person_masked is None


def test_old_presences_keep_their_receipt_date_and_state_without_the_number(
    dated_store: Store,
) -> None:
    _fill(dated_store)
    retention.purge(dated_store, DAYS)
    old, old_limosa, recent = _rows(dated_store, schema.presences)
    assert old.person_id == f"#{old.id}" and old.person_masked == inss(1).masked()
    assert (old.date, old.state, old.receipt_id) == (OLD.date(), "validated", "100000000042")
    assert inss(1).digits not in old_limosa.person_id + (old_limosa.person_masked or "")
    assert recent.person_id == inss(2).digits and recent.person_masked is None


def test_roster_rows_whose_validity_ended_before_the_cutoff_are_deleted(
    dated_store: Store,
) -> None:
    _fill(dated_store)
    retention.purge(dated_store, DAYS)
    assert [r.person_id for r in _rows(dated_store, schema.roster)] == [
        inss(2).digits,
        inss(3).digits,
    ]


def test_old_quarantined_payloads_go_and_their_length_and_hash_stay(dated_store: Store) -> None:
    _fill(dated_store)
    before = _rows(dated_store, schema.quarantine)
    retention.purge(dated_store, DAYS)
    old, _old_limosa, recent = _rows(dated_store, schema.quarantine)
    assert old.payload == b""
    assert old.payload_length == len(before[0].payload)
    assert old.payload_sha256 == hashlib.sha256(before[0].payload).hexdigest()
    assert recent.payload == before[2].payload


def test_a_second_purge_finds_nothing_and_changes_nothing(dated_store: Store) -> None:
    _fill(dated_store)
    first = retention.purge(dated_store, DAYS)
    snapshot = [_rows(dated_store, t) for t in (schema.events, schema.presences, schema.roster)]
    again = retention.purge(dated_store, DAYS)
    assert (first.checkins, first.presences, first.roster, first.quarantine) == (2, 2, 1, 2)
    assert again.total == 0
    assert [_rows(dated_store, t) for t in (schema.events, schema.presences, schema.roster)] == (
        snapshot
    )


def test_a_dry_run_counts_and_changes_nothing(dated_store: Store) -> None:
    _fill(dated_store)
    counted = retention.purge(dated_store, DAYS, dry_run=True)
    assert (counted.checkins, counted.presences, counted.roster, counted.quarantine) == (
        2,
        2,
        1,
        2,
    )
    assert all(r.person_masked is None for r in _rows(dated_store, schema.events))


def test_the_purge_command_and_the_listing_of_purged_presences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    site = write_site(tmp_path / "site", db_url=db)
    store = open_store(db)
    try:
        _arrive(store, inss(1), datetime(2015, 6, 1, 7, 0, tzinfo=UTC))
    finally:
        store.close()
    assert main(["--config", str(site), "purge", "--dry-run"]) == 0
    assert "1 check-ins, 1 presences" in capsys.readouterr().out
    assert main(["--config", str(site), "purge"]) == 0
    assert "purged" in capsys.readouterr().out
    assert main(["--config", str(site), "--reveal", "presences", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["date"], row["person"]) == ("2015-06-01", inss(1).masked())


def test_retention_days_default_to_five_years_and_a_short_one_is_refused(tmp_path: Path) -> None:
    path = write_site(tmp_path / "site", db_url=f"sqlite:///{tmp_path / 'c.db'}")
    assert config_module.load(path).retention.days == 1826
    path.write_text(path.read_text() + "[retention]\ndays = 3650\n")
    assert config_module.load(path).retention.days == 3650
    path.write_text(path.read_text().replace("days = 3650", "days = 7"))
    with pytest.raises(ConfigError, match=r"\[retention\] key 'days' must be at least 31"):
        config_module.load(path)


def test_the_running_controller_purges_by_itself(
    broker_config: ControllerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lease_module, "RENEW_S", 0.1)
    store = open_store(broker_config.database.url)
    _arrive(store, limosa(5), datetime(2015, 6, 1, 7, 0, tzinfo=UTC))
    controller = Controller(broker_config, store, with_relay=False)
    controller.start()
    try:
        assert wait_until(
            lambda: _rows(store, schema.presences)[0].person_masked == limosa(5).masked(), 10
        )
    finally:
        controller.stop()
        store.close()


def test_identity_links_recorded_before_the_cutoff_are_deleted(dated_store: Store) -> None:
    with dated_store.transaction() as conn:
        for n, at in ((1, OLD), (2, RECENT)):
            conn.execute(schema.person_links.insert().values(
                inss=inss(n).digits, limosa_id=limosa(n).digits, same=True, source="nsso",
                recorded_at=at))  # fmt: skip
    assert retention.purge(dated_store, DAYS).links == 1
    assert [r.inss for r in _rows(dated_store, schema.person_links)] == [inss(2).digits]
