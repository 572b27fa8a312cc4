"""``site.toml``: what init-site was told, for the later commands (bundles, poster)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from presence.errors import PresenceError
from presence.ids import CompanyId, WorkplaceId, parse_company_id, parse_workplace_id
from provisioning import tomlgen
from provisioning.errors import ProvisioningError
from provisioning.site import SECTORS, Sector

RECORD_VERSION = 1


@dataclass(frozen=True, slots=True)
class SiteRecord:
    workplace_id: WorkplaceId
    company_id: CompanyId
    name: str
    sector: Sector
    works_start: date
    contract_amount: Decimal | None
    broker_hosts: tuple[str, ...]
    broker_port: int
    # [privacy] (optional, for the poster): the data controller's name (default: the
    # company's enterprise number) and whom a worker asks about their data.
    privacy_controller: str | None = None
    privacy_contact: str | None = None

    def render(self) -> str:
        site: dict[str, Any] = {
            "workplace_id": str(self.workplace_id),
            "company_id": self.company_id.digits,
            "name": self.name,
            "sector": self.sector,
            "works_start": self.works_start,
        }
        if self.contract_amount is not None:
            site["contract_amount"] = str(self.contract_amount)
        header = "# Written by sitegate-provision init-site.\n"
        document: dict[str, Any] = {
            "config_version": RECORD_VERSION,
            "site": site,
            "broker": {"hosts": list(self.broker_hosts), "port": self.broker_port},
        }
        privacy = {
            key: value
            for key, value in (
                ("controller", self.privacy_controller),
                ("contact", self.privacy_contact),
            )
            if value
        }
        if privacy:
            document["privacy"] = privacy
        return header + tomlgen.dumps(document)


def load_record(path: Path) -> SiteRecord:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProvisioningError(
            "no_site", f"{path.parent} is not a site directory (run init-site first)"
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProvisioningError("bad_site", f"{path}: unreadable ({exc})") from None
    try:
        site, broker = document["site"], document["broker"]
        sector = site["sector"]
        if sector not in SECTORS or document["config_version"] != RECORD_VERSION:
            raise ValueError("sector or config_version")
        amount = site.get("contract_amount")
        if not isinstance(site["works_start"], date):
            raise ValueError("works_start is not a date")
        return SiteRecord(
            workplace_id=parse_workplace_id(site["workplace_id"]),
            company_id=parse_company_id(site["company_id"]),
            name=str(site["name"]),
            sector=sector,
            works_start=site["works_start"],
            contract_amount=None if amount is None else Decimal(amount),
            broker_hosts=tuple(str(h) for h in broker["hosts"]),
            broker_port=int(broker["port"]),
            **_privacy(document.get("privacy", {})),
        )
    except (KeyError, TypeError, ValueError, PresenceError) as exc:
        raise ProvisioningError("bad_site", f"{path}: not a site record ({exc})") from None


def _privacy(section: Any) -> dict[str, str | None]:
    if not isinstance(section, dict) or set(section) - {"controller", "contact"}:
        raise ValueError("[privacy] takes controller and contact only")
    found = {key: section.get(key) for key in ("controller", "contact")}
    if not all(value is None or (isinstance(value, str) and value.strip()) for value in
               found.values()):  # fmt: skip
        raise ValueError("[privacy] controller and contact are non-empty strings")
    return {"privacy_controller": found["controller"], "privacy_contact": found["contact"]}
