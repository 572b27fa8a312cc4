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
        return header + tomlgen.dumps(
            {
                "config_version": RECORD_VERSION,
                "site": site,
                "broker": {"hosts": list(self.broker_hosts), "port": self.broker_port},
            }
        )


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
        )
    except (KeyError, TypeError, ValueError, PresenceError) as exc:
        raise ProvisioningError("bad_site", f"{path}: not a site record ({exc})") from None
