"""The Limosa L1 QR code: a URL on limosa.be carrying the declaration id (DOMAIN.md section 3).

Shared by every reader of L1 codes: a turnstile's camera (``terminal.flows``) and a team
leader's phone, whose frames the controller decodes (``controller.handheld``).

``parse_l1`` is the trust boundary for whatever a camera decoded: anything that is not an L1
URL raises ``NotAnL1Code``, an L1 URL without a usable id raises ``BadL1Code``; nothing else
escapes. The code carries names: neither they nor the full text are ever logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from presence.ids import Inss, InvalidIdentifier, LimosaId, parse_inss, parse_limosa_id

log = logging.getLogger(__name__)

MAX_L1_LENGTH = 2048  # an L1 URL is a few hundred characters; a QR code holds up to ~4 KB
MAX_FIELD_LENGTH = 200
MAX_PARAMETERS = 32
L1_HOSTS = frozenset({"limosa.be", "www.limosa.be"})
L1_PATH = "/q.html"
_SCHEMES = frozenset({"http", "https"})

# Parameter names of the L1 URL (DOMAIN.md section 3); 1, 5, 8 and 9 have no public meaning.
P_ID = "id"
P_INSS = "2"
P_SURNAME = "3"
P_FIRST_NAME = "4"
P_FOREIGN_VAT = "6"
P_EMPLOYER = "7"


class L1Error(Exception):
    """Root of the L1 parsing errors; ``code`` is stable, the message never holds personal data."""

    code = "l1_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class NotAnL1Code(L1Error):
    """The text is not an L1 URL at all (another URL, plain text, a vCard, a Wi-Fi code...).

    ``reason`` says which test failed (``too_long``, ``not_a_url``, ``scheme``, ``host``,
    ``path``); ``code`` is always ``not_an_l1_code``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__("not_an_l1_code", f"not a Limosa L1 code ({reason})")
        self.reason = reason


class BadL1Code(L1Error):
    """An L1 URL whose id cannot be used. Codes: ``missing_id``, ``malformed_id``,
    ``duplicate_id``, ``bad_query``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, f"Limosa L1 code unusable: {detail}")


@dataclass(frozen=True, slots=True)
class L1Credential:
    """What an L1 code tells: the declaration id, and the worker's details when present."""

    limosa_id: LimosaId
    inss: Inss | None = None
    surname: str | None = None
    first_name: str | None = None
    employer_name: str | None = None
    foreign_vat: str | None = None

    def __repr__(self) -> str:  # never print names or numbers in full
        inss = self.inss.masked() if self.inss else None
        return f"L1Credential(limosa_id={self.limosa_id.masked()!r}, inss={inss!r})"

    __str__ = __repr__


def parse_l1(text: str) -> L1Credential:
    """Read an L1 URL (http or https, any host case, any parameter order, ``%xx`` and ``+``)."""
    params = _l1_query(text)
    limosa_id = _limosa_id(params.get(P_ID, []))
    return L1Credential(
        limosa_id=limosa_id,
        inss=_inss(_single(params, P_INSS)),
        surname=_single(params, P_SURNAME),
        first_name=_single(params, P_FIRST_NAME),
        employer_name=_single(params, P_EMPLOYER),
        foreign_vat=_single(params, P_FOREIGN_VAT),
    )


def _l1_query(text: object) -> dict[str, list[str]]:
    """The query parameters of an L1 URL, by lower-cased name; raises ``NotAnL1Code``."""
    if not isinstance(text, str):
        raise NotAnL1Code("not_text")
    if len(text) > MAX_L1_LENGTH:
        raise NotAnL1Code("too_long")
    url = text.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise NotAnL1Code("not_a_url") from None
    if parts.scheme.lower() not in _SCHEMES:
        raise NotAnL1Code("scheme")
    if host is None or host.lower() not in L1_HOSTS or parts.username is not None:
        raise NotAnL1Code("host")
    if port not in (None, 80, 443):
        raise NotAnL1Code("host")
    if parts.path.lower() != L1_PATH:
        raise NotAnL1Code("path")
    try:
        pairs = parse_qsl(
            parts.query, keep_blank_values=True, errors="strict", max_num_fields=MAX_PARAMETERS
        )
    except (ValueError, UnicodeDecodeError):
        raise BadL1Code("bad_query", "query string cannot be decoded") from None
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        params.setdefault(name.strip().lower(), []).append(value)
    return params


def _limosa_id(values: list[str]) -> LimosaId:
    distinct = {v.strip() for v in values}
    if not distinct or distinct == {""}:
        raise BadL1Code("missing_id", "no id parameter")
    if len(distinct) > 1:
        raise BadL1Code("duplicate_id", "several different id parameters")
    try:
        return parse_limosa_id(distinct.pop())
    except InvalidIdentifier as exc:
        raise BadL1Code("malformed_id", f"id parameter: {exc.code}") from None


def _single(params: dict[str, list[str]], name: str) -> str | None:
    """The first non-empty value of an optional parameter, cleaned; None when absent."""
    for value in params.get(name, []):
        cleaned = " ".join(value.split())[:MAX_FIELD_LENGTH]
        if cleaned:
            return cleaned
    return None


def _inss(value: str | None) -> Inss | None:
    """Parameter 2 is an INSS or BIS number when valid; a bad one is dropped, not fatal."""
    if value is None:
        return None
    try:
        return parse_inss(value)
    except InvalidIdentifier as exc:
        log.info("L1 code: INSS parameter ignored (%s)", exc.code)
        return None
