"""The console's languages: Dutch, French, German and English, from Babel catalogs.

The ``.po`` files in ``locale/`` are the only source: they are compiled in memory when the
console starts (Babel's ``read_po`` then ``write_mo``), so there is no build step to forget
and no ``.mo`` file to keep in step. English is the language of the source strings.

A request's language is the cookie set by the switch on every page, else the best match of
the browser's ``Accept-Language``, else English.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from datetime import date, datetime
from importlib import resources

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from presence.clock import BRUSSELS

LANGUAGES = ("nl", "fr", "de", "en")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"nl": "Nederlands", "fr": "Français", "de": "Deutsch", "en": "English"}
COOKIE = "sg_lang"
MAX_ACCEPT_LANGUAGE = 512  # a header longer than this is not a browser's


def load_catalogs() -> dict[str, gettext.NullTranslations]:
    """Every language's translations, compiled from the packaged ``.po`` files."""
    catalogs: dict[str, gettext.NullTranslations] = {DEFAULT_LANGUAGE: NullTranslations()}
    root = resources.files("controller.web") / "locale"
    for language in LANGUAGES:
        if language == DEFAULT_LANGUAGE:
            continue
        po = root / language / "LC_MESSAGES" / "messages.po"
        with po.open("rb") as source:
            catalog = read_po(source, locale=language, abort_invalid=True)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        catalogs[language] = Translations(compiled)
    return catalogs


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return str(cookie)
    preferred = _preferred(accept_language or "")
    found = Locale.negotiate(preferred, LANGUAGES, sep="-")
    return found.language if found is not None else DEFAULT_LANGUAGE


def _preferred(header: str) -> list[str]:
    """``Accept-Language`` tags, best first (q-values honoured, bad entries skipped)."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header[:MAX_ACCEPT_LANGUAGE].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag.strip().lower()))
    return [tag for _q, _p, tag in sorted(weighted)]


class Language:
    """One request's language: its gettext and Brussels-time formatting."""

    def __init__(self, code: str, translations: gettext.NullTranslations) -> None:
        self.code = code
        self.locale = Locale.parse("en_GB" if code == "en" else f"{code}_BE")
        self.gettext: Callable[[str], str] = translations.gettext
        self.ngettext: Callable[[str, str, int], str] = translations.ngettext

    def time(self, moment: datetime | None, seconds: bool = False) -> str:
        if moment is None:
            return ""
        pattern = "HH:mm:ss" if seconds else "HH:mm"
        return format_time(moment, pattern, tzinfo=BRUSSELS, locale=self.locale)

    def datetime(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        return format_datetime(moment, "short", tzinfo=BRUSSELS, locale=self.locale)

    def date(self, day: date | None, style: str = "full") -> str:
        return format_date(day, style, locale=self.locale) if day is not None else ""

    def number(self, value: float | int) -> str:
        return format_decimal(value, locale=self.locale)
