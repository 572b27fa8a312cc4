"""The A4 entrance poster: site name, workplace id and its QR code (segno), how to check in,
and the privacy notice (what is read, who is responsible, how long it is kept, whom to ask),
in four languages. One layout, drawn on a PDF page (reportlab) or a
PNG image (Pillow)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Protocol

import reportlab
import segno
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from controller.config import DEFAULT_RETENTION_DAYS
from presence.ids import CompanyId, WorkplaceId
from provisioning.errors import ProvisioningError
from provisioning.poster_text import LANGUAGES, Privacy

PAGE_W, PAGE_H = A4  # points
MARGIN = 42.0
QR_SIZE = 150.0
PNG_DPI = 150
FORMATS = (".pdf", ".png")
# Bitstream Vera ships with reportlab and has the accented letters French needs.
FONT_DIR = Path(reportlab.__file__).parent / "fonts"
VERA = {False: FONT_DIR / "Vera.ttf", True: FONT_DIR / "VeraBd.ttf"}


class Page(Protocol):
    """A surface in points, origin top-left."""

    def text(self, x: float, y: float, text: str, size: float, bold: bool = False) -> None: ...

    def width(self, text: str, size: float, bold: bool = False) -> float: ...

    def square(self, x: float, y: float, side: float) -> None: ...


# Type sizes: four languages and their privacy notices fill one A4 page.
TITLE_PT, STEP_PT, PRIVACY_PT = 14.0, 11.0, 8.5


class PosterFull(ProvisioningError):
    """The text does not fit on the page (a very long site name, or contact)."""


def default_privacy(company: CompanyId) -> Privacy:
    return Privacy(controller=str(company), retention_days=DEFAULT_RETENTION_DAYS)


def layout(
    page: Page,
    site_name: str,
    workplace: WorkplaceId,
    company: CompanyId,
    privacy: Privacy | None = None,
) -> None:
    privacy = privacy or default_privacy(company)
    width = PAGE_W - 2 * MARGIN
    _qr(page, str(workplace), PAGE_W - MARGIN - QR_SIZE, MARGIN)
    beside_qr = width - QR_SIZE - 12
    y = _paragraph(page, site_name, MARGIN, MARGIN, beside_qr, 28, bold=True)
    label = " / ".join(language.workplace for language in LANGUAGES)
    y = _paragraph(page, label, MARGIN, y + 10, beside_qr, 11)
    page.text(MARGIN, y + 34, str(workplace), 32, bold=True)
    y = max(y + 34, MARGIN + QR_SIZE)
    for language in LANGUAGES:
        y = _paragraph(page, language.title, MARGIN, y + 16, width, TITLE_PT, bold=True)
        for number, step in enumerate(language.steps, start=1):
            y = _paragraph(page, f"{number}. {step}", MARGIN + 12, y + 2, width - 12, STEP_PT)
        notice = f"{language.privacy} {privacy.notice(language)}"
        y = _paragraph(page, notice, MARGIN, y + 5, width, PRIVACY_PT)
    if y > PAGE_H - MARGIN - 14:
        raise PosterFull("poster_full", "the poster's text does not fit on one A4 page")
    footer = f"Checkinatwork - RSZ / ONSS / LSS / NSSO - {company}"
    page.text(MARGIN, PAGE_H - MARGIN, footer, 9)


def _paragraph(
    page: Page, text: str, x: float, y: float, width: float, size: float, bold: bool = False
) -> float:
    """Draws wrapped ``text`` below ``y`` (the previous baseline); returns the last baseline."""
    line: list[str] = []
    for word in text.split():
        if line and page.width(" ".join([*line, word]), size, bold) > width:
            y += size * 1.3
            page.text(x, y, " ".join(line), size, bold)
            line = []
        line.append(word)
    if line:
        y += size * 1.3
        page.text(x, y, " ".join(line), size, bold)
    return y


def _qr(page: Page, data: str, x: float, y: float) -> None:
    code = segno.make_qr(data, error="h")
    rows = list(code.matrix_iter(border=4))
    module = QR_SIZE / len(rows)
    for r, row in enumerate(rows):
        for c, dark in enumerate(row):
            if dark:
                page.square(x + c * module, y + r * module, module)


class PdfPage:
    def __init__(self, handle: canvas.Canvas) -> None:
        self._canvas = handle

    def _font(self, bold: bool) -> str:
        return "Helvetica-Bold" if bold else "Helvetica"

    def text(self, x: float, y: float, text: str, size: float, bold: bool = False) -> None:
        self._canvas.setFont(self._font(bold), size)
        self._canvas.drawString(x, PAGE_H - y, text)

    def width(self, text: str, size: float, bold: bool = False) -> float:
        return float(self._canvas.stringWidth(text, self._font(bold), size))

    def square(self, x: float, y: float, side: float) -> None:
        # A hair larger, so that neighbouring modules leave no seam when printed.
        self._canvas.rect(x, PAGE_H - y - side, side + 0.05, side + 0.05, stroke=0, fill=1)


class PngPage:
    def __init__(self, dpi: int = PNG_DPI) -> None:
        self.scale = dpi / 72.0
        self.image = Image.new("L", (round(PAGE_W * self.scale), round(PAGE_H * self.scale)), 255)
        self._draw = ImageDraw.Draw(self.image)
        self._fonts: dict[tuple[float, bool], ImageFont.FreeTypeFont] = {}

    def _font(self, size: float, bold: bool) -> ImageFont.FreeTypeFont:
        if (size, bold) not in self._fonts:
            self._fonts[size, bold] = ImageFont.truetype(str(VERA[bold]), size * self.scale)
        return self._fonts[size, bold]

    def text(self, x: float, y: float, text: str, size: float, bold: bool = False) -> None:
        xy = (x * self.scale, y * self.scale)
        self._draw.text(xy, text, fill=0, font=self._font(size, bold), anchor="ls")

    def width(self, text: str, size: float, bold: bool = False) -> float:
        return float(self._draw.textlength(text, font=self._font(size, bold))) / self.scale

    def square(self, x: float, y: float, side: float) -> None:
        s = self.scale
        box = (round(x * s), round(y * s), round((x + side) * s) - 1, round((y + side) * s) - 1)
        self._draw.rectangle(box, fill=0)


def render(
    site_name: str,
    workplace: WorkplaceId,
    company: CompanyId,
    suffix: str,
    privacy: Privacy | None = None,
) -> bytes:
    """The poster as PDF or PNG bytes, chosen by ``suffix`` (``.pdf`` or ``.png``)."""
    if suffix == ".pdf":
        buffer = io.BytesIO()
        handle = canvas.Canvas(buffer, pagesize=A4)
        handle.setTitle(f"{site_name} - {workplace}")
        layout(PdfPage(handle), site_name, workplace, company, privacy)
        handle.showPage()
        handle.save()
        return buffer.getvalue()
    if suffix == ".png":
        page = PngPage()
        layout(page, site_name, workplace, company, privacy)
        buffer = io.BytesIO()
        page.image.save(buffer, format="PNG", dpi=(PNG_DPI, PNG_DPI))
        return buffer.getvalue()
    raise ProvisioningError("bad_output", f"poster: write a .pdf or .png file, not {suffix!r}")


def output_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ProvisioningError("bad_output", f"poster {path}: the name must end in .pdf or .png")
    return suffix
