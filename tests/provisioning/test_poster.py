"""The entrance poster: A4, the workplace id in a QR code that decodes, four languages, a
privacy notice that names who is responsible, how long and whom to ask."""

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
from provisioning.poster_text import LANGUAGES, Privacy

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


def _lines_joined(text: str) -> str:
    """The page's lines of text, joined by spaces (a sentence may wrap)."""
    return " ".join(re.findall(r"\((.*?)\) Tj", text))


def test_pdf_poster_is_one_a4_page_in_four_languages_with_the_privacy_notice() -> None:
    data = poster.render("Demo site Antwerp", WORKPLACE, COMPANY, ".pdf")

    assert data.startswith(b"%PDF-")
    assert b"/Count 1 " in data
    assert re.search(rb"/MediaBox \[\s*0 0 595\.27\d* 841\.88\d*\s*\]", data)
    text = pdf_text(data)
    assert "Demo site Antwerp" in text
    assert str(WORKPLACE) in text
    for heading in ("Nederlands", "Fran", "Deutsch", "English"):
        assert heading in text
    assert "No photo and no address are read." in _lines_joined(text)
    assert "0403.170.701" in text


def test_privacy_notice_says_what_is_read_and_what_is_not_in_each_language() -> None:
    notices = [language.privacy for language in LANGUAGES]

    assert "geen foto en geen adres" in notices[0]
    assert "Ni photo ni adresse" in notices[1]
    assert "weder Foto noch Adresse" in notices[2]
    assert "No photo and no address" in notices[3]
    assert all(len(language.steps) == 3 for language in LANGUAGES)


def test_the_notice_names_the_data_controller_retention_and_contact_in_each_language() -> None:
    privacy = Privacy("Bouwbedrijf Janssens NV", 1826, "privacy@janssens.example")
    for language in LANGUAGES:
        notice = privacy.notice(language)
        assert "Bouwbedrijf Janssens NV" in notice and "1826" in notice, language.title
        assert "privacy@janssens.example" in notice, language.title


def test_without_a_contact_the_notice_sends_workers_to_the_site_manager() -> None:
    notices = [Privacy(str(COMPANY), 1826).notice(language) for language in LANGUAGES]
    assert "de werfleider" in notices[0] and "die Bauleitung" in notices[2]
    assert "the site manager" in notices[3] and "0403.170.701" in notices[3]


def test_a_long_contact_still_fits_on_the_page() -> None:
    privacy = Privacy("Bouwbedrijf Janssens en Zonen NV", 3650, "privacy@janssens.example, "
                      "Industrieweg 12, 2000 Antwerpen, 03 123 45 67")  # fmt: skip
    data = poster.render("Demo site Antwerp", WORKPLACE, COMPANY, ".pdf", privacy)
    assert "Industrieweg 12" in _lines_joined(pdf_text(data))


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ProvisioningError) as caught:
        poster.render("Demo site", WORKPLACE, COMPANY, ".jpg")
    assert caught.value.code == "bad_output"


def test_a_notice_too_long_for_the_page_is_a_clear_error() -> None:
    privacy = Privacy("Janssens NV", 1826, "call us " * 200)
    with pytest.raises(ProvisioningError) as caught:
        poster.render("Demo site", WORKPLACE, COMPANY, ".pdf", privacy)
    assert caught.value.code == "poster_full"
