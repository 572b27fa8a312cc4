"""The demo site's people: a deterministic morning crew, and the files that describe it
(the roster CSV for the controller, the declared-works file for the NSSO stand-in).

Identifiers are made valid by asking python-stdnum (through ``presence.ids``) which check
digits fit, never by computing mod 97 here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

from presence.ids import InvalidIdentifier, parse_company_id
from sim.identifiers import with_inss_check
from sim.nsso.works import declared_site, render_works

WorkerKind = Literal["eid", "l1", "keypad"]

SURNAMES = [
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Wouters",
    "De Smet",
    "Dubois",
    "Lambert",
    "Dupont",
    "D'Hondt",
    "Vermeulen",
    "Van den Broeck",
    "Lemaître",
    "Müller",
    "Nowak",
    "Kowalski",
    "Ionescu",
    "Silva",
]
GIVEN = [
    "Jan",
    "Marie",
    "Luc",
    "Ann",
    "Pieter",
    "Sofie",
    "Karim",
    "Élodie",
    "Jürgen",
    "Piotr",
    "Andrei",
    "João",
    "Inès",
    "Bram",
    "Noor",
    "Hélène",
]


@dataclass(frozen=True)
class Company:
    name: str
    kbo: str


@dataclass(frozen=True)
class Worker:
    kind: WorkerKind
    surname: str
    given_names: str
    employer: Company | None
    inss: str | None = None
    limosa_id: str | None = None
    card_valid_until: date | None = None
    on_roster: bool = True

    @property
    def person_id(self) -> str:
        return self.inss or self.limosa_id or ""

    def l1_url(self) -> str:
        query = {"id": self.limosa_id, "1": "1", "3": self.surname, "4": self.given_names,
                 "6": "PL5260001246", "7": "Budimex Posting", "9": "403170701"}  # fmt: skip
        return "https://www.limosa.be/q.html?" + urlencode(query)


def valid_inss(rng: random.Random, born: date) -> str:
    """A national number for someone born on ``born``, its check digits found by trial."""
    return with_inss_check(f"{born:%y%m%d}{rng.randrange(1, 998):03d}")


def valid_kbo(stem8: str) -> str:
    for check in range(100):
        try:
            return parse_company_id(f"{stem8}{check:02d}").digits
        except InvalidIdentifier:
            continue
    raise ValueError("no check digits fit")  # cannot happen for a 0/1 stem


BUILDER = Company("Bouwbedrijf Schelde NV", "0403170701")
SUBCONTRACTORS = (
    Company("Dakwerken Verbeke BV", valid_kbo("04419375")),
    Company("Électricité Lambert SRL", valid_kbo("08731215")),
)
NOT_ON_WORKS = Company("Onbekend Bouwbedrijf BV", valid_kbo("05123456"))


def morning_crew(today: date, seed: int = 2026) -> list[Worker]:
    """About fifty people: citizens with cards, posted workers with L1 codes, keypad users,
    and the awkward ones (an expired card, a person not on the roster)."""
    rng = random.Random(seed)
    companies = (BUILDER, *SUBCONTRACTORS)
    crew: list[Worker] = []

    # Everyone has a name of their own: two people of one name, one with a national number
    # and one with a Limosa id, are held by the controller as possibly the same person.
    names = rng.sample([(s, g) for s in SURNAMES for g in GIVEN], k=60)

    def person(kind: WorkerKind, **extra: object) -> Worker:
        born = date(1960, 1, 1) + timedelta(days=rng.randrange(0, 40 * 365))
        surname, given = names.pop()
        fields: dict[str, object] = {
            "kind": kind,
            "surname": surname,
            "given_names": given,
            "employer": rng.choice(companies),
            "inss": valid_inss(rng, born),
            "card_valid_until": today + timedelta(days=rng.randrange(200, 3000)),
        }
        fields.update(extra)
        return Worker(**fields)  # type: ignore[arg-type]

    crew += [person("eid") for _ in range(32)]
    crew += [person("keypad") for _ in range(3)]
    for n in range(10):
        limosa = f"249{seed % 1000:03d}{n:011d}"
        crew.append(person("l1", inss=None, limosa_id=limosa, employer=None,
                           card_valid_until=None))  # fmt: skip
    crew.append(person("eid", card_valid_until=today - timedelta(days=3)))
    crew.append(person("eid", on_roster=False))
    crew.append(person("eid", employer=NOT_ON_WORKS))
    return crew


def write_roster(crew: list[Worker], path: Path) -> None:
    lines = ["person,employer,valid_from,valid_to"]
    for worker in crew:
        if worker.on_roster and worker.kind != "l1":
            assert worker.employer is not None
            lines.append(f"{worker.inss},{worker.employer.kbo},,")
        elif worker.on_roster:
            lines.append(f"{worker.limosa_id},,,")
    path.write_text("\n".join(lines) + "\n")


def write_declared_works(workplace_id: str, crew: list[Worker], today: date, path: Path) -> None:
    companies = [c.kbo for c in (BUILDER, *SUBCONTRACTORS)]
    limosa_ids = [w.limosa_id for w in crew if w.limosa_id]
    site = declared_site(workplace_id, companies, today - timedelta(days=90),
                         today + timedelta(days=365), limosa_ids)  # fmt: skip
    path.write_text(render_works(site))
