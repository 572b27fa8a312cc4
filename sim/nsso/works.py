"""The declared-works file: which workplaces exist, when, in what sector, for which companies.

TOML::

    [[works]]
    workplace_id = "1Y102M7NZF7PZ"
    start = 2026-01-05
    end = 2026-12-18
    sector = "construction"          # construction | meat | concrete
    companies = ["0403170701"]       # builder and subcontractors (KBO numbers)
    subject = true                   # optional: false = below the threshold

    [[limosa]]
    id = "24912345678901234"
    valid_from = 2026-01-01
    valid_until = 2026-06-30
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from presence.errors import PresenceError
from presence.ids import parse_company_id, parse_workplace_id

# WorkSectorType (types XSD): 1 = construction work, 2 = security/guarding, 3 = meat.
# Ready-mixed concrete deliveries fall under construction (DOMAIN.md section 1).
SECTOR_CODES = {"construction": 1, "concrete": 1, "meat": 3}


class WorksFileError(PresenceError):
    """The declared-works file is missing, not TOML, or has a bad entry."""


@dataclass(frozen=True, slots=True)
class DeclaredWorks:
    workplace_id: str
    start: date
    end: date
    sector: str
    companies: frozenset[int]
    subject: bool = True

    @property
    def sector_code(self) -> int:
        return SECTOR_CODES[self.sector]

    def active_on(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class LimosaDeclaration:
    limosa_id: str
    valid_from: date
    valid_until: date

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_until


@dataclass(frozen=True, slots=True)
class WorksRegister:
    works: dict[str, DeclaredWorks]
    limosa: dict[str, LimosaDeclaration]

    @classmethod
    def empty(cls) -> WorksRegister:
        return cls({}, {})


def load_works(path: str | Path) -> WorksRegister:
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WorksFileError("works_unreadable", f"{file}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise WorksFileError("works_syntax", f"{file}: {exc}") from None
    return parse_works(data, str(file))


def parse_works(data: dict[str, Any], name: str = "works") -> WorksRegister:
    unknown = set(data) - {"works", "limosa"}
    if unknown:
        raise WorksFileError("works_key", f"{name}: unknown section {sorted(unknown)[0]!r}")
    works = {}
    for index, entry in enumerate(_list(data, "works", name)):
        declared = _works(entry, f"{name}: works[{index}]")
        works[declared.workplace_id] = declared
    limosa = {}
    for index, entry in enumerate(_list(data, "limosa", name)):
        declaration = _limosa(entry, f"{name}: limosa[{index}]")
        limosa[declaration.limosa_id] = declaration
    return WorksRegister(works, limosa)


def _list(data: dict[str, Any], key: str, name: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise WorksFileError("works_key", f"{name}: [[{key}]] must be a list of tables")
    return value


def _works(entry: dict[str, Any], where: str) -> DeclaredWorks:
    _keys(entry, {"workplace_id", "start", "end", "sector", "companies", "subject"}, where)
    try:
        workplace = parse_workplace_id(str(entry["workplace_id"])).value
        companies = frozenset(parse_company_id(str(c)).wire for c in entry.get("companies", []))
    except PresenceError as exc:
        raise WorksFileError("works_value", f"{where}: {exc}") from None
    sector = entry.get("sector", "construction")
    if sector not in SECTOR_CODES:
        raise WorksFileError("works_value", f"{where}: sector must be one of {list(SECTOR_CODES)}")
    start, end = _date(entry, "start", where), _date(entry, "end", where)
    if start > end:
        raise WorksFileError("works_value", f"{where}: end is before start")
    subject = entry.get("subject", True)
    if not isinstance(subject, bool):
        raise WorksFileError("works_value", f"{where}: subject must be true or false")
    return DeclaredWorks(workplace, start, end, sector, companies, subject)


def _limosa(entry: dict[str, Any], where: str) -> LimosaDeclaration:
    _keys(entry, {"id", "valid_from", "valid_until"}, where)
    limosa_id = entry.get("id")
    if not isinstance(limosa_id, str) or not limosa_id.isdigit():
        raise WorksFileError("works_value", f"{where}: id must be a string of digits")
    start, end = _date(entry, "valid_from", where), _date(entry, "valid_until", where)
    if start > end:
        raise WorksFileError("works_value", f"{where}: valid_until is before valid_from")
    return LimosaDeclaration(limosa_id, start, end)


def _keys(entry: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(entry) - allowed
    if unknown:
        raise WorksFileError("works_key", f"{where}: unknown key {sorted(unknown)[0]!r}")


def _date(entry: dict[str, Any], key: str, where: str) -> date:
    value = entry.get(key)
    if type(value) is not date:
        raise WorksFileError("works_value", f"{where}: {key} must be a TOML date (YYYY-MM-DD)")
    return value


def render_works(register: WorksRegister) -> str:
    """The declared-works TOML that ``load_works`` reads back as ``register``."""
    lines: list[str] = []
    for works in register.works.values():
        companies = ", ".join(f'"{c:010d}"' for c in sorted(works.companies))
        lines += [
            "[[works]]",
            f'workplace_id = "{works.workplace_id}"',
            f"start = {works.start}",
            f"end = {works.end}",
            f'sector = "{works.sector}"',
            f"companies = [{companies}]",
            f"subject = {str(works.subject).lower()}",
            "",
        ]
    for limosa in register.limosa.values():
        lines += [
            "[[limosa]]",
            f'id = "{limosa.limosa_id}"',
            f"valid_from = {limosa.valid_from}",
            f"valid_until = {limosa.valid_until}",
            "",
        ]
    return "\n".join(lines)


def declared_site(
    workplace_id: str, companies: list[str], start: date, end: date,
    limosa_ids: list[str], sector: str = "construction",
) -> WorksRegister:  # fmt: skip
    """One site's declaration and its posted workers' Limosa declarations, all valid from
    ``start`` to ``end`` (for tests, benchmarks and the demo)."""
    works = DeclaredWorks(workplace_id, start, end, sector,
                          frozenset(parse_company_id(c).wire for c in companies))  # fmt: skip
    limosa = {i: LimosaDeclaration(i, start, end) for i in limosa_ids}
    return WorksRegister({workplace_id: works}, limosa)
