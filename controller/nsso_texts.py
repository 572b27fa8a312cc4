"""NSSO's answers in words a site manager can act on: the one table the commands and the console
share.

A registration comes back with remarks (the XSD's ``SearchRemarkType`` values, spaces
included) or is refused with item error codes (opaque strings: NSSO's list is not public,
DOMAIN.md section 4; the ones we know are the stand-in's). ``advice`` turns each into
what it means and what to do; ``explain`` renders a presence's remarks and last error once
each, so a code that is both a remark and in the error text is not shown twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Advice:
    meaning: str
    action: str

    def __str__(self) -> str:
        return f"{self.meaning}: {self.action}"


_ROSTER = "correct it on the roster (sitegate-controller roster import), then requeue"
_DECLARATION = "ask the main contractor to correct the declaration of works (30bis)"

REMARKS: dict[str, Advice] = {
    "RELATED DIMONA NOT OK": Advice(
        "no valid Dimona declaration for this worker and employer on this day",
        "ask the employer to make or correct the Dimona declaration",
    ),
    "GIVEN INSS IS NOT THE FOUNDER OF THE COMPANY": Advice(
        "this self-employed person is not known as a founder of the company given",
        "check the person's employer; " + _ROSTER,
    ),
    "EMPLOYER IS NOT KNOWN AS COMPANY FOUNDER": Advice(
        "the employer given is not known as the founder of that company",
        "check the employer's enterprise number; " + _ROSTER,
    ),
    "THE COMPANY DOESN'T EXISTS": Advice(
        "NSSO knows no company with this enterprise number",
        "check the employer's enterprise number; " + _ROSTER,
    ),
    "INDEPENDANT IS NOT KNOWN AS COMPANY FOUNDER": Advice(
        "this self-employed person is not known as a company founder",
        "check the person's employer; " + _ROSTER,
    ),
    "LIMOSA ID IS NOT KNOWN": Advice(
        "NSSO knows no Limosa declaration with this number",
        "check the number on the worker's L1 document; the foreign employer may need to declare",
    ),
    "LIMOSA ID IS NOT ACTIVE AT DATE": Advice(
        "the Limosa declaration does not cover this day",
        "ask the foreign employer for a Limosa declaration (L1) that covers the day",
    ),
    "NISS-BIS IS NOT KNOWN IN LIMOSA": Advice(
        "this BIS number has no Limosa declaration",
        "ask the foreign employer to make a Limosa declaration for the worker",
    ),
    "NISS-BIS IS NOT ACTIVE AT THIS DATE IN LIMOSA": Advice(
        "the worker's Limosa declaration does not cover this day",
        "ask the foreign employer for a Limosa declaration (L1) that covers the day",
    ),
    "DUC IS NOT EXISTING": Advice(
        "NSSO knows no declaration of works for this workplace",
        "check [site] workplace_id in controller.toml against the declaration of works",
    ),
    "DUC IS NOT ACTIVE AT THIS DATE": Advice(
        "the declaration of works does not cover this day",
        "ask the main contractor to extend the declaration of works (30bis)",
    ),
    "COMPANY IS NOT KNOWN  AS BUILDER OR  SUBCONTRACTOR IN THIS DUC": Advice(
        "the employer is not declared on this site as contractor or subcontractor",
        _DECLARATION + " or the employer on the roster",
    ),
    "SITE IS NOT SUBJECT TO PRESENCE REGISTRATION": Advice(
        "this site is not subject to presence registration",
        "nothing to do for the worker; check the site's threshold with the main contractor",
    ),
    "SAME DECLARATION HAS ALREADY BEEN REGISTERED": Advice(
        "this person was already registered for this employer and day",
        "nothing to do: one registration a day is enough",
    ),
    "NISS IS NOT KNOW IN THE NATIONAL REGISTER": Advice(
        "the national number is not in the National Register",
        "compare the number with the person's card; " + _ROSTER,
    ),
    "EMPLOYER NOT ACTIVE": Advice(
        "the employer is not active in the Crossroads Bank for Enterprises",
        "check the employer with the person; " + _ROSTER,
    ),
    "THE COMPANY ID ASSOCIATED AT A NOT ACTIVE CONTRACT": Advice(
        "the employer's contract in the declaration of works is not active on this day",
        _DECLARATION,
    ),
}

ERROR_CODES: dict[str, Advice] = {
    "INSS_INVALID": Advice(
        "NSSO does not accept this national number", "compare it with the card; " + _ROSTER
    ),
    "COMPANY_ID_INVALID": Advice(
        "the employer's enterprise number is not valid", "check its 10 digits; " + _ROSTER
    ),
    "WORKPLACE_UNKNOWN": Advice(
        "NSSO knows no declared workplace with this number",
        "check [site] workplace_id in controller.toml against the declaration of works",
    ),
    "REGISTRATION_DATE_INVALID": Advice(
        "NSSO registers only today and tomorrow",
        "nothing can be sent for another day; keep the presence as evidence",
    ),
    "LIMOSA_ID_UNKNOWN": Advice(
        "NSSO knows no Limosa declaration with this number",
        "check the number on the worker's L1 document; the foreign employer may need to declare",
    ),
    "LIMOSA_ID_INACTIVE": Advice(
        "the worker's Limosa declaration is not active on this day",
        "ask the foreign employer for a Limosa declaration (L1) that covers the day, then requeue",
    ),
    "ITEM_INVALID": Advice(
        "NSSO refused the registration as malformed", "report it to whoever supports sitegate"
    ),
    "REGISTRATION_UNKNOWN": Advice(
        "NSSO knows no registration with this receipt", "check the receipt number"
    ),
    "ALREADY_CANCELLED": Advice("this registration was already cancelled", "nothing to do"),
}

_CODE_AT_START = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*:\s*(.*)$", re.DOTALL)


def advice(text: str) -> Advice | None:
    """What NSSO's remark or error code ``text`` means and what to do (None: not known)."""
    key = text.strip()
    return REMARKS.get(key) or REMARKS.get(key.upper()) or ERROR_CODES.get(key.upper())


def describe(text: str) -> str:
    """``text`` in words with what to do, or as it came when it is not known."""
    found = advice(text)
    return str(found) if found is not None else text


def explain(remarks: Iterable[str], last_error: str | None = None) -> list[str]:
    """Each remark or error once, in words: the remarks, then the parts of ``last_error``
    (``CODE: description; ...``) whose code was not already among them."""
    return [f"{meaning}: {action}" if action else meaning for meaning, action in
            explain_parts(remarks, last_error)]  # fmt: skip


def explain_parts(remarks: Iterable[str], last_error: str | None = None) -> list[tuple[str, str]]:
    """``explain`` as (meaning, what to do) pairs, for a page that translates each (the
    console's catalogs carry these texts); a text not known is (as it came, "")."""
    parts: dict[tuple[str, str], None] = {}
    seen: set[str] = set()
    for remark in remarks:
        seen.add(remark.strip().upper())
        parts[_pair(remark, advice(remark))] = None
    for part in (last_error or "").split("; "):
        if not part.strip():
            continue
        match = _CODE_AT_START.match(part)
        code = match.group(1).upper() if match else ""
        said = match.group(2).strip().upper() if match else part.strip().upper()
        if code in seen or said in seen:
            continue
        seen.add(code)
        parts[_pair(part.strip(), advice(code) if code else None)] = None
    return list(parts)


def _pair(text: str, found: Advice | None) -> tuple[str, str]:
    return (found.meaning, found.action) if found is not None else (text, "")
