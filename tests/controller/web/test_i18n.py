"""The console's catalogs: every string the pages use is translated in Dutch, French and
German, placeholders intact, compiled at start without a build step."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from controller.web import i18n

WEB = resources.files("controller.web")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s")


def _used() -> set[str | tuple[str, ...]]:
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB),
        method_map=[("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")],
        options_map={"**/templates/**.html": {"trim_blocks": "true", "lstrip_blocks": "true"}},
        keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


@pytest.mark.parametrize("language", ["nl", "fr", "de"])
def test_every_string_of_the_pages_is_translated(language) -> None:
    path = WEB / "locale" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    used = _used()
    assert len(used) > 150
    missing = []
    for message in used:
        key = message[0] if isinstance(message, tuple) else message
        entry = catalog.get(key)
        translated = entry.string if entry is not None else None
        if not translated or (isinstance(translated, tuple) and not all(translated)):
            missing.append(key)
            continue
        for text in translated if isinstance(translated, tuple) else (translated,):
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(key)), key
    assert not missing, f"{language}: {len(missing)} untranslated, e.g. {sorted(missing)[:5]}"


def test_catalogs_compile_at_start() -> None:
    catalogs = i18n.load_catalogs()
    assert catalogs["nl"].gettext("On site now") == "Nu op de werf"
    assert catalogs["fr"].ngettext("%(n)s refusal", "%(n)s refusals", 2) == "%(n)s refus"
    assert catalogs["de"].gettext("Sign in") == "Anmelden"


def test_a_page_in_french_and_dutch(console) -> None:
    console.login("vera")
    console.client.get("/lang/fr")
    assert "Sur le chantier" in console.client.get("/").text
    console.client.get("/lang/nl")
    page = console.client.get("/onsite").text
    assert "Nu op de werf" in page and "Afdrukweergave" in page


@pytest.mark.parametrize("language", ["nl", "fr", "de"])
def test_nssos_remarks_and_codes_in_words_are_translated(language) -> None:
    from controller import nsso_texts

    catalog = i18n.load_catalogs()[language]
    for found in (*nsso_texts.REMARKS.values(), *nsso_texts.ERROR_CODES.values()):
        for text in (found.meaning, found.action):
            assert catalog.gettext(text) != text, text


def test_an_anomaly_page_in_dutch_tells_nssos_answer_in_dutch(console) -> None:
    import json

    from controller import checkins, schema
    from presence.events import encode
    from tests.controller.support import checkin, limosa

    event = checkin(limosa(1))
    with console.store.transaction() as conn:
        checkins.record(console.store, conn, event, encode(event), event.scanned_at, 300)
        conn.execute(
            schema.presences.update().values(
                state="rejected", remarks=json.dumps(["LIMOSA_ID_INACTIVE"]),
                last_error="LIMOSA_ID_INACTIVE: LimosaId is not active at this date",
            )
        )  # fmt: skip
    console.login("mia")
    console.client.get("/lang/nl")
    presence = console.client.get("/anomalies").text.split('href="/anomalies/')[1].split('"')[0]
    page = console.client.get(f"/anomalies/{presence}").text
    assert "Wat de RSZ meldde, en wat te doen" in page
    assert "de Limosa-melding van de werknemer is op deze dag niet actief" in page
