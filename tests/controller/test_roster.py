"""The roster: a plan before applying, people listed, searched, blocked and removed, a
person's history. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import audit, checkins, schema, siteconfig
from controller.audit import Actor
from controller.config import ControllerConfig
from controller.errors import ControllerError, StoreError
from controller.roster import (
    PlannedRow,
    RosterRow,
    Upload,
    apply_import,
    block,
    history,
    import_file,
    people,
    plan_import,
    remove,
    resolve_person,
    unblock,
)
from controller.store import Store, open_store
from presence.clock import ManualClock
from presence.events import encode
from presence.messages import person_hash
from tests.controller.support import COMPANY, OTHER_COMPANY, checkin, inss, limosa

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
MANAGER = Actor("marie", "192.0.2.10")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def store(site_config: ControllerConfig, clock: ManualClock) -> Iterator[Store]:
    opened = open_store(site_config.database.url, clock)
    yield opened
    opened.close()


def _roster(store: Store):
    with store.transaction() as conn:
        return conn.execute(select(schema.roster).order_by(schema.roster.c.id)).all()


def _upload(text: str, name: str = "ploeg.csv") -> Upload:
    return Upload(name, text.encode())


def _import(store: Store, text: str) -> None:
    apply_import(store, plan_import(store, _upload(text)))


def test_the_plan_lists_added_changed_and_refused_rows_and_changes_nothing(store):
    _import(store, f"INSZ;naam;KBO;geldig tot\n{inss(1)};Jan Peeters;{COMPANY};30/06/2026\n")
    plan = plan_import(
        store,
        _upload(
            "INSZ;naam;KBO;geldig tot\n"
            f"{inss(1)};Jan Peeters;{COMPANY};31/12/2026\n"
            f"{inss(2)};An Claes;{COMPANY};\n"
            f"{inss(3)};Tom Maes;{COMPANY};28/02/2026\n"
            f"{inss(2)};An Claes;{COMPANY};\n"
            f"{inss(4).digits[:-1]}0;Bad Number;{COMPANY};\n"
        ),
    )
    assert [(r.line, r.row.name) for r in plan.added] == [(3, "An Claes")]
    ((change,),) = [plan.changed]
    assert change.line == 2 and change.changes == {"valid_to": ("2026-06-30", "2026-12-31")}
    refused = {r.line: r for r in plan.refused}
    assert refused[4].code == "ended" and "2026-02-28" in refused[4].reason
    assert refused[5].code == "duplicate" and "line 3" in refused[5].reason
    assert refused[6].code == "bad_identifier"
    assert inss(4).digits[:6] not in " ".join(r.reason for r in plan.refused)
    rows = _roster(store)
    assert len(rows) == 1 and rows[0].valid_to == date(2026, 6, 30)


def test_applying_writes_the_good_rows_moves_the_version_and_is_audited(store):
    plan = plan_import(
        store,
        _upload(
            f"person,naam,voornaam,employer,limosa\n"
            f"{inss(1)},Peeters,Jan,{COMPANY},{limosa(1)}\n"
            f"{inss(2)},Claes,An,,\n"
        ),
    )
    result = apply_import(store, plan, MANAGER)
    assert (result.added, result.refused) == (1, 1)
    (row,) = _roster(store)
    assert (row.name, row.limosa_id, row.source) == ("Jan Peeters", limosa(1).digits, "ploeg.csv")
    with store.transaction() as conn:
        assert siteconfig.roster_version(store, conn) == 1
    (entry,) = audit.entries(store)
    assert (entry["who"], entry["action"], entry["address"]) == (
        "marie",
        "roster.import",
        "192.0.2.10",
    )
    assert "1 to add" in entry["detail"] and "1 refused" in entry["detail"]


def test_a_file_without_a_column_keeps_what_the_roster_has(store):
    _import(store, f"person;naam;employer\n{inss(1)};Jan Peeters;{COMPANY}\n")
    plan = plan_import(store, _upload(f"person;employer;tot\n{inss(1)};{COMPANY};31/12/2026\n"))
    assert plan.changed[0].changes == {"valid_to": ("", "2026-12-31")}
    apply_import(store, plan)
    (row,) = _roster(store)
    assert row.name == "Jan Peeters" and row.valid_to == date(2026, 12, 31)


def test_a_failed_apply_writes_nothing(store):
    plan = plan_import(store, _upload(f"person;employer\n{inss(1)};{COMPANY}\n"))
    broken = RosterRow(None, inss(2).digits, COMPANY, None, None)  # type: ignore[arg-type]
    plan.added.append(PlannedRow(3, broken, "broken"))
    with pytest.raises(StoreError):
        apply_import(store, plan, MANAGER)
    assert _roster(store) == [] and audit.entries(store) == []


def test_applying_gives_waiting_presences_their_employer(store, clock):
    event = checkin(inss(1), at=NOW)
    with store.transaction() as conn:
        checkins.record(store, conn, event, encode(event), NOW, 300)
    result = apply_import(
        store, plan_import(store, _upload(f"person,employer\n{inss(1)},{COMPANY}\n"))
    )
    assert result.employers_found == 1
    with store.transaction() as conn:
        state = conn.execute(select(schema.presences.c.state)).scalar_one()
    assert state == schema.PENDING


def test_search_by_last_digits_or_part_of_a_name(store):
    _import(
        store,
        "person;naam;employer\n"
        f"{inss(1)};Jan Peeters;{COMPANY}\n"
        f"{inss(2)};An Claes;{OTHER_COMPANY}\n"
        f"{limosa(3)};Piotr Nowak;\n",
    )
    assert [r["name"] for r in people(store)] == ["An Claes", "Jan Peeters", "Piotr Nowak"]
    assert [r["name"] for r in people(store, "peet")] == ["Jan Peeters"]
    assert [r["name"] for r in people(store, inss(2).digits[-4:])] == ["An Claes"]
    listed = people(store, "nowak")[0]
    assert listed["person"] == limosa(3).masked() and listed["status"] == "valid"
    assert people(store, "nowak", reveal=True)[0]["person"] == limosa(3).digits


def test_a_person_is_named_by_handle_number_or_a_search_that_finds_one(store):
    _import(store, f"person;naam;employer\n{inss(1)};Jan Peeters;{COMPANY}\n"
                   f"{inss(2)};Jan Claes;{COMPANY}\n")  # fmt: skip
    first_id = _roster(store)[0].id
    assert resolve_person(store, f"#{first_id}") == inss(1)
    assert resolve_person(store, str(inss(2))) == inss(2)
    assert resolve_person(store, "claes") == inss(2)
    with pytest.raises(ControllerError) as caught:
        resolve_person(store, "jan")
    assert caught.value.code == "ambiguous" and inss(1).digits not in str(caught.value)
    with pytest.raises(ControllerError) as caught:
        resolve_person(store, "nobody")
    assert caught.value.code == "not_found"


def test_a_blocked_person_is_on_the_site_configs_blocklist_until_unblocked(store, site_config):
    _import(store, f"person;employer\n{inss(1)};{COMPANY}\n{inss(1)};{OTHER_COMPANY}\n")
    done = block(store, inss(1), MANAGER)
    assert done.rows == 2 and done.person == inss(1).masked()
    config, _stamp = siteconfig.build(store, site_config, NOW.date())
    assert person_hash(config.salt, inss(1)) in config.blocklist
    with pytest.raises(ControllerError) as caught:
        block(store, inss(1))
    assert caught.value.code == "already_blocked"
    unblock(store, inss(1), MANAGER)
    again, _stamp = siteconfig.build(store, site_config, NOW.date())
    assert not again.blocklist and again.version > config.version
    assert [e["action"] for e in audit.entries(store)] == ["roster.unblock", "roster.block"]


def test_blocking_someone_not_on_the_roster_says_so(store):
    with pytest.raises(ControllerError) as caught:
        block(store, inss(9))
    assert caught.value.code == "not_found"


def test_removing_takes_a_person_off_the_roster_but_keeps_their_records(store):
    _import(store, f"person;employer\n{inss(1)};{COMPANY}\n{inss(1)};{OTHER_COMPANY}\n")
    event = checkin(inss(1), at=NOW)
    with store.transaction() as conn:
        checkins.record(store, conn, event, encode(event), NOW, 300)
    assert remove(store, inss(1), company=OTHER_COMPANY, actor=MANAGER).rows == 1
    assert [r.company_id for r in _roster(store)] == [COMPANY]
    assert remove(store, inss(1)).rows == 1 and _roster(store) == []
    assert len(history(store, inss(1))["presences"]) == 1


def test_history_shows_checkins_presences_and_earlier_receipts(store):
    _import(store, f"person;naam;employer;limosa\n{inss(1)};Jan Peeters;{COMPANY};{limosa(1)}\n")
    at_gate = checkin(inss(1), at=NOW, terminal="gate-2")
    by_l1 = checkin(limosa(1), at=NOW, terminal="console-marie")
    with store.transaction() as conn:
        for event in (at_gate, by_l1):
            checkins.record(store, conn, event, encode(event), NOW, 300)
        conn.execute(
            schema.presences.update()
            .where(schema.presences.c.person_kind == "inss")
            .values(receipt_id="100000000043", state=schema.REGISTERED,
                    previous_receipts=json.dumps(["100000000042"]))
        )  # fmt: skip
    found = history(store, inss(1))
    assert found["name"] == "Jan Peeters" and found["person"] == inss(1).masked()
    assert {(c["gate"], c["channel"]) for c in found["checkins"]} == {
        ("gate-2", "gate"),
        ("console-marie", "by_hand"),
    }
    # the roster links the two numbers: one person, one presence, one receipt
    (registered,) = found["presences"]
    assert registered["receipt"] == "100000000043"
    assert found["receipts"] == [
        {"date": "2026-03-02", "receipt": "100000000042", "replaced_by": "100000000043",
         "presence_id": registered["id"]}
    ]  # fmt: skip
    assert inss(1).digits not in json.dumps(found)


def test_revealing_a_history_is_audited(store):
    _import(store, f"person;employer\n{inss(1)};{COMPANY}\n")
    found = history(store, inss(1), reveal=True, actor=MANAGER)
    assert found["person"] == str(inss(1))
    assert audit.entries(store, action="reveal")[0]["target"] == inss(1).masked()


def test_import_file_keeps_good_rows_and_lists_bad_ones_by_line(store, tmp_path: Path):
    path = tmp_path / "crew.csv"
    path.write_text(
        "person,employer,valid_from,valid_to\n"
        f"{inss(1)},{COMPANY},,\n"
        f"{inss(2).digits[:-1]}0,{COMPANY},,\n"
        f"{inss(3)},,,\n"
        f"{limosa(1)},,2026-03-01,2026-03-31\n"
        f"{inss(5)},{OTHER_COMPANY},tomorrow,\n"
        "\n"
        f"{inss(6)},{COMPANY},,,extra\n"
    )
    report = import_file(store, path)
    assert report.imported == 2
    lines = dict(report.bad)
    assert set(lines) == {3, 4, 6, 8}
    assert "check digits do not match" in lines[3]
    assert "employer is empty" in lines[4]
    assert "valid_from is not a date" in lines[6]
    assert "more fields" in lines[8]


def test_the_readmes_roster_example_imports_as_written(store):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("### The roster file", 1)[1].split("```csv\n", 1)[1].split("```")[0]
    plan = plan_import(store, Upload("ploeg.csv", example.encode()))
    assert plan.refused == [] and len(plan.added) == 3
    assert [r.row.name for r in plan.added] == ["Jan Peeters", "Zoé Dubois", "Piotr Nowak"]
    assert plan.added[2].row.person_kind == "limosa"


def test_history_tells_nssos_remarks_in_words(store):
    _import(store, f"person;employer\n{inss(1)};{COMPANY}\n")
    event = checkin(inss(1), at=NOW)
    with store.transaction() as conn:
        checkins.record(store, conn, event, encode(event), NOW, 300)
        conn.execute(
            schema.presences.update().values(
                state=schema.FAILED_REMARKS, receipt_id="459046001236787",
                remarks=json.dumps(["RELATED DIMONA NOT OK"]),
            )
        )  # fmt: skip
    (presence,) = history(store, inss(1))["presences"]
    assert "Dimona declaration" in presence["remarks"] and "NOT OK" not in presence["remarks"]
