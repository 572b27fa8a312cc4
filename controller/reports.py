"""Files for the site manager: CSV and XLSX of exactly what a view shows, a day's proof for
an inspection and the evacuation list as printable PDFs (A4).

Exports take the rows a view returned (``controller.views``) and its columns, so a file
never holds more than the page showed; numbers stay masked unless the view was asked to
reveal them. Given an ``actor``, every file made is audited (``export.csv``,
``export.xlsx``, ``export.proof``, ``export.evacuation``) with its row count and whether
numbers were revealed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from controller import audit, views
from controller.audit import Actor
from controller.config import ControllerConfig
from controller.errors import ControllerError
from controller.store import Store
from presence.clock import BRUSSELS
from presence.ids import CompanyId

Row = dict[str, Any]
EXPORT_FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
# Excel in Belgium opens ``;``-separated UTF-8 with a BOM as columns, with accents intact.
CSV_DELIMITER = ";"


@dataclass(frozen=True, slots=True)
class Export:
    """A file to hand out: its name, media type and bytes."""

    filename: str
    media_type: str
    data: bytes


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(cell_text(v) for v in value)
    return str(value)


def to_csv(
    rows: Sequence[Row],
    columns: Sequence[str],
    headers: Sequence[str] | None = None,
    delimiter: str = CSV_DELIMITER,
) -> bytes:
    """``rows`` as CSV (UTF-8 with BOM), one column per name in ``columns``; ``headers``
    replaces the column names on the first line (a page's translated titles)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(list(headers or columns))
    for row in rows:
        writer.writerow([cell_text(row.get(c)) for c in columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(
    rows: Sequence[Row],
    columns: Sequence[str],
    headers: Sequence[str] | None = None,
    sheet: str = "sitegate",
) -> bytes:
    """``rows`` as an XLSX workbook (one sheet, header row frozen). Text stays text: a
    receipt or enterprise number is never turned into a rounded number."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    page = book.create_sheet(sheet[:31])
    page.freeze_panes = "A2"
    bold = Font(bold=True)
    titles = []
    for title in headers or columns:
        cell = WriteOnlyCell(page, value=title)
        cell.font = bold
        titles.append(cell)
    page.append(titles)
    for row in rows:
        page.append([_xlsx_value(row.get(c)) for c in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return cell_text(value)


def export(
    store: Store,
    rows: Sequence[Row],
    columns: Sequence[str],
    fmt: str,
    *,
    what: str,
    actor: Actor | None = None,
    revealed: bool = False,
    headers: Sequence[str] | None = None,
) -> Export:
    """A view's rows as a CSV or XLSX file named after ``what`` (e.g. ``presences-
    2026-03-02``); audited with ``actor``. Code: ``bad_format``."""
    if fmt not in EXPORT_FORMATS:
        raise ControllerError("bad_format", f"format must be one of {', '.join(EXPORT_FORMATS)}")
    data = to_csv(rows, columns, headers) if fmt == "csv" else to_xlsx(rows, columns, headers)
    _audit(store, actor, f"export.{fmt}", what, len(rows), revealed)
    return Export(f"{_safe(what)}.{fmt}", MEDIA_TYPES[fmt], data)


def _audit(
    store: Store, actor: Actor | None, action: str, what: str, count: int, revealed: bool
) -> None:
    if actor is None:
        return
    detail = f"{count} rows" + (", numbers revealed" if revealed else "")
    with store.transaction() as conn:
        audit.record_by(conn, actor, store.clock.now(), action, what, detail)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:80] or "export"


# --- PDF ------------------------------------------------------------------------------------

FONT = "SitegateVera"
FONT_BOLD = "SitegateVeraBold"


def _fonts() -> None:
    """Bitstream Vera (shipped with reportlab): the accents of Dutch, French and German
    names, which the PDF base fonts lack in part."""
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(reportlab.__file__).parent / "fonts"
    pdfmetrics.registerFont(TTFont(FONT, str(folder / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(folder / "VeraBd.ttf")))


PROOF_COLUMNS = ("person", "name", "employer", "first_checkin", "channel", "state", "receipt",
                 "validation")  # fmt: skip
PROOF_TITLES = ("Person", "Name", "Employer", "In at", "Channel", "State", "Receipt", "NSSO status")
PROOF_WIDTHS = (36, 52, 27, 17, 19, 27, 38, 34)  # mm, landscape A4
EVACUATION_COLUMNS = ("name", "person", "employer", "since", "gate")
EVACUATION_TITLES = ("Name", "Person", "Employer", "Since", "Gate")
EVACUATION_WIDTHS = (8, 52, 36, 27, 36, 27)  # mm, portrait A4, the tick box first


def proof_pdf(
    store: Store,
    config: ControllerConfig,
    day: date,
    *,
    reveal: bool = False,
    actor: Actor | None = None,
) -> Export:
    """The proof for an inspection: every presence of ``day`` with its receipt number and
    NSSO's validation status, signed off with the site's name and workplace id, page
    numbers and the time it was made (Brussels)."""
    rows = views.day_presences(store, day, reveal=reveal)
    with_receipt = sum(1 for r in rows if r["receipt"])
    site = config.site
    title = f"Presence registrations of {day.isoformat()}"
    contractor = f" | Main contractor: {CompanyId(site.company_id)}" if site.company_id else ""
    intro = [
        f"Site: {site.name or '-'} | Workplace id (NSSO): {site.workplace_id}{contractor}",
        f"{len(rows)} presences, {with_receipt} registered with NSSO (receipt number below).",
    ]
    closing = [
        "Registered with the NSSO (Checkinatwork, PresenceRegistration) by sitegate for "
        f"workplace {site.workplace_id}; each receipt number is NSSO's PresenceRegistrationId.",
        f"Signed off for {site.name or site.workplace_id}:",
        "Name: ________________________    Date: ____________    Signature: "
        "________________________",
    ]
    data = _pdf(store, title, intro, rows, PROOF_COLUMNS, PROOF_TITLES, closing,
                widths=PROOF_WIDTHS, landscape_page=True)  # fmt: skip
    _audit(store, actor, "export.proof", f"proof-{day.isoformat()}", len(rows), reveal)
    return Export(f"proof-{site.workplace_id}-{day.isoformat()}.pdf", MEDIA_TYPES["pdf"], data)


def evacuation_pdf(
    store: Store,
    config: ControllerConfig,
    *,
    reveal: bool = False,
    actor: Actor | None = None,
) -> Export:
    """Who is on site now (last passage today went in), A4, with a head count and a box to
    tick per person at the assembly point."""
    rows = sorted(views.onsite(store, reveal=reveal), key=lambda r: (r["name"] or "~", r["since"]))
    site = config.site
    title = f"On site now: {len(rows)} people"
    intro = [f"Evacuation list - {site.name or '-'} ({site.workplace_id})"]
    closing = ["Counted at the assembly point by: ____________________   at ______"]
    data = _pdf(store, title, intro, rows, EVACUATION_COLUMNS, EVACUATION_TITLES, closing,
                widths=EVACUATION_WIDTHS, tick_boxes=True)  # fmt: skip
    _audit(store, actor, "export.evacuation", "evacuation", len(rows), reveal)
    stamp = store.clock.now().astimezone(BRUSSELS).strftime("%Y%m%d-%H%M")
    return Export(f"evacuation-{site.workplace_id}-{stamp}.pdf", MEDIA_TYPES["pdf"], data)


def _pdf(
    store: Store,
    title: str,
    intro: list[str],
    rows: Sequence[Row],
    columns: Sequence[str],
    titles: Sequence[str],
    closing: list[str],
    *,
    widths: Sequence[float],
    landscape_page: bool = False,
    tick_boxes: bool = False,
) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

    _fonts()
    made_at = store.clock.now().astimezone(BRUSSELS).strftime("%Y-%m-%d %H:%M %Z")
    size = landscape(A4) if landscape_page else A4
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=size, leftMargin=12 * mm, rightMargin=12 * mm,
                            topMargin=14 * mm, bottomMargin=16 * mm, title=title,
                            author="sitegate")  # fmt: skip
    plain = ParagraphStyle("plain", fontName=FONT, fontSize=9, leading=12)
    heading = ParagraphStyle("heading", fontName=FONT_BOLD, fontSize=14, leading=18)
    cell = ParagraphStyle("cell", fontName=FONT, fontSize=8, leading=10)
    story: list[Any] = [Paragraph(_escape(title), heading)]
    story += [Paragraph(_escape(line), plain) for line in intro]
    story.append(Spacer(1, 4 * mm))
    head = ([""] if tick_boxes else []) + list(titles)
    body = [
        ([""] if tick_boxes else []) + [Paragraph(_escape(cell_text(r.get(c))), cell)
                                        for c in columns]
        for r in rows
    ]  # fmt: skip
    table = LongTable([head, *body], repeatRows=1, colWidths=[w * mm for w in widths])
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), FONT_BOLD, 8),
                ("FONT", (0, 1), (-1, -1), FONT, 8),
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story += [table, Spacer(1, 6 * mm)]
    story += [Paragraph(_escape(line), plain) for line in closing]
    footer = f"{title} - generated {made_at} by sitegate"

    def number_pages(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.drawString(12 * mm, 8 * mm, footer)
        canvas.restoreState()

    doc.build(story, onFirstPage=number_pages, onLaterPages=number_pages,
              canvasmaker=_TotalPagesCanvas)  # fmt: skip
    return buffer.getvalue()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _total_pages_canvas() -> type:
    from reportlab.pdfgen.canvas import Canvas

    class TotalPages(Canvas):
        """Holds the pages back until the end, so each can say 'page N of TOTAL'."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self.setFont(FONT, 7)
                self.drawRightString(self._pagesize[0] - 34, 23, f"page {number} of {total}")
                super().showPage()
            super().save()

    return TotalPages


_TotalPagesCanvas: Any = _total_pages_canvas()
