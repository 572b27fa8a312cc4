"""The entrance poster: A4, the workplace id in a QR code that decodes, three languages."""

from __future__ import annotations

import base64
import io
import re
import zlib

import pytest
import zxingcpp
from PIL import Image

from presence.ids import parse_company_id, parse_workplace_id
from provisioning import poster
from provisioning.errors import ProvisioningError
from provisioning.poster_text import LANGUAGES

WORKPLACE = parse_workplace_id("1Y102M7NZF7PZ")
COMPANY = parse_company_id("0403170701")


def test_png_poster_is_a4_and_its_qr_code_reads_as_the_workplace_id() -> None:
    image = Image.open(io.BytesIO(poster.render("Demo site", WORKPLACE, COMPANY, ".png")))

    assert image.size == (1240, 1754)  # A4 at 150 dpi
    found = zxingcpp.read_barcodes(image)
    assert [code.text for code in found] == [str(WORKPLACE)]


def pdf_text(data: bytes) -> str:
    """The page content streams (reportlab: ASCII85 over Flate), decoded: enough to find
    what the page says."""
    streams = re.findall(rb"stream\r?\n(.*?)\s*endstream", data, re.S)
    parts = [zlib.decompress(base64.a85decode(raw.strip().removesuffix(b"~>"))) for raw in streams]
    return b"\n".join(parts).decode("latin-1")


def test_pdf_poster_is_one_a4_page_in_three_languages_with_the_privacy_notice() -> None:
    data = poster.render("Demo site Antwerp", WORKPLACE, COMPANY, ".pdf")

    assert data.startswith(b"%PDF-")
    assert b"/Count 1 " in data
    assert re.search(rb"/MediaBox \[\s*0 0 595\.27\d* 841\.88\d*\s*\]", data)
    text = pdf_text(data)
    assert "Demo site Antwerp" in text
    assert str(WORKPLACE) in text
    for heading in ("Nederlands", "Fran", "English"):
        assert heading in text
    assert "No photo and no address are read." in text
    assert "0403.170.701" in text


def test_privacy_notice_says_what_is_read_and_what_is_not_in_each_language() -> None:
    notices = [language.privacy for language in LANGUAGES]

    assert "geen foto en geen adres" in notices[0]
    assert "Ni photo ni adresse" in notices[1]
    assert "No photo and no address" in notices[2]
    assert all(len(language.steps) == 3 for language in LANGUAGES)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ProvisioningError) as caught:
        poster.render("Demo site", WORKPLACE, COMPANY, ".jpg")
    assert caught.value.code == "bad_output"
