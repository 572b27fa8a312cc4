"""Exports and proof: the files are read back (csv, openpyxl, pypdf)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from reportlab.lib.pagesizes import A4

from controller import audit, checkins, reports, schema, views
from controller.audit import Actor
from controller.config import ControllerConfig
from controller.errors import ControllerError
from controller.roster import Upload, apply_import, plan_import
from controller.store import Store, open_store
from presence.clock import ManualClock
from presence.events import encode
from tests.controller.support import COMPANY, checkin, inss, limosa

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = date(2026, 3, 2)
MANAGER = Actor("marie", "192.0.2.10")


@pytest.fixture
def store(site_config: ControllerConfig) -> Iterator[Store]:
    opened = open_store(site_config.database.url, ManualClock(NOW))
    crew = f"person;naam;employer\n{inss(1)};Zoé Lefèvre;{COMPANY}\n{limosa(2)};Piotr Nowak;\n"
    apply_import(opened, plan_import(opened, Upload("crew.csv", crew.encode())))
    with opened.transaction() as conn:
        for n, person in enumerate((inss(1), limosa(2))):
            event = checkin(person, at=NOW - timedelta(minutes=10 - n), terminal="gate-2")
            checkins.record(opened, conn, event, encode(event), NOW, 300)
        conn.execute(
            schema.presences.update()
            .where(schema.presences.c.person_kind == "inss")
            .values(state=schema.VALIDATED, receipt_id="100000000042", registry_status="VALIDATED")
        )
    yield opened
    opened.close()


def _pdf_text(data: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(data))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def test_csv_holds_exactly_the_views_rows_and_columns_masked(store):
    rows = views.day_presences(store, TODAY)
    made = reports.export(store, rows, views.DAY_COLUMNS, "csv", what=f"presences-{TODAY}")
    assert made.filename == "presences-2026-03-02.csv" and made.media_type.startswith("text/csv")
    text = made.data.decode("utf-8-sig")
    found = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert list(found[0]) == list(views.DAY_COLUMNS)
    assert [r["name"] for r in found] == [r["name"] for r in rows]
    assert found[0]["person"] == inss(1).masked() and found[0]["receipt"] == "100000000042"
    assert inss(1).digits not in text and "Zoé Lefèvre" in text


def test_xlsx_holds_the_same_rows_with_numbers_kept_as_text(store):
    rows = views.day_presences(store, TODAY)
    made = reports.export(store, rows, views.DAY_COLUMNS, "xlsx", what="day",
                          headers=[c.upper() for c in views.DAY_COLUMNS])  # fmt: skip
    sheet = load_workbook(io.BytesIO(made.data), read_only=True).worksheets[0]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0] == [c.upper() for c in views.DAY_COLUMNS]
    receipt = values[1][views.DAY_COLUMNS.index("receipt")]
    assert receipt == "100000000042" and isinstance(receipt, str)
    assert [v[views.DAY_COLUMNS.index("name")] for v in values[1:]] == ["Zoé Lefèvre",
                                                                        "Piotr Nowak"]  # fmt: skip


def test_an_export_is_audited_with_its_row_count(store):
    rows = views.onsite(store, reveal=True)
    reports.export(store, rows, views.ONSITE_COLUMNS, "csv", what="onsite", actor=MANAGER,
                   revealed=True)  # fmt: skip
    (entry,) = audit.entries(store, action="export")
    assert (entry["action"], entry["target"]) == ("export.csv", "onsite")
    assert entry["detail"] == "2 rows, numbers revealed"


def test_an_unknown_format_is_refused(store):
    with pytest.raises(ControllerError) as caught:
        reports.export(store, [], views.DAY_COLUMNS, "ods", what="x")
    assert caught.value.code == "bad_format"


def test_the_proof_lists_receipts_and_is_signed_off_with_the_site(store, site_config):
    made = reports.proof_pdf(store, site_config, TODAY, actor=MANAGER)
    assert made.filename == "proof-1Y102M7NZF7PZ-2026-03-02.pdf"
    _reader, text = _pdf_text(made.data)
    assert "Presence registrations of 2026-03-02" in text
    assert "Test site" in text and "1Y102M7NZF7PZ" in text
    assert "100000000042" in text and "VALIDATED" in text
    assert "Zoé Lefèvre" in text and inss(1).masked() in text and inss(1).digits not in text
    assert "2 presences, 1 registered" in text and "Signature" in text
    assert "generated 2026-03-02 10:00 CET" in text and "page 1 of 1" in text
    assert audit.entries(store, action="export.proof")[0]["detail"] == "2 rows"


def test_a_long_proof_numbers_every_page(store, site_config):
    with store.transaction() as conn:
        for n in range(3, 120):
            event = checkin(inss(n), at=NOW - timedelta(minutes=5))
            checkins.record(store, conn, event, encode(event), NOW, 300)
    reader, text = _pdf_text(reports.proof_pdf(store, site_config, TODAY).data)
    pages = len(reader.pages)
    assert pages > 1 and f"page {pages} of {pages}" in text and f"page 1 of {pages}" in text


def test_the_evacuation_list_is_an_a4_page_with_a_head_count(store, site_config):
    made = reports.evacuation_pdf(store, site_config)
    reader, text = _pdf_text(made.data)
    page = reader.pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (
        round(A4[0]),
        round(A4[1]),
    )
    assert "On site now: 2 people" in text and "Piotr Nowak" in text and "gate-2" in text
    assert limosa(2).masked() in text and limosa(2).digits not in text
