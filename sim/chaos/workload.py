"""The morning rush: who comes, with what, through which gate, when; and what each should get.

From the seed alone: a crew of W people (citizens with eID cards, posted workers with L1
codes, keypad users, a few people with both a national number and a Limosa L1, and the
awkward ones: expired cards, people not on the roster, an employer missing from the
declaration of works, bank cards, QR codes that are no L1 code, mistyped numbers), and a
plan of passes: most people arrive in the first third of the campaign, some pass twice
(again at once, then out and in again), people with two credentials use both.

``Person.expect_admitted`` is the ground truth the checker compares with.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from sim.belpic import card_number
from sim.crew import BUILDER, GIVEN, NOT_ON_WORKS, SUBCONTRACTORS, SURNAMES, Worker, valid_inss

How = Literal["eid", "l1", "keypad", "bank", "not_l1", "bad_code"]
Profile = Literal["full", "baseline"]

NOT_AN_L1_CODE = "WIFI:S:SiteGuest;T:WPA;P:welcome2026;;"
RUSH_END_SHARE = 0.8  # the last first arrival, as a share of the campaign


@dataclass(frozen=True, slots=True)
class Person:
    index: int
    worker: Worker
    role: str  # citizen, posted, keypad, expired, off_roster, foreign_employer, bank, ...
    expect_admitted: bool
    both_ids: bool = False  # a national number and a Limosa id: one person

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(i for i in (self.worker.inss, self.worker.limosa_id) if i)


@dataclass(frozen=True, slots=True)
class Pass:
    person: int
    how: How
    gate: str
    at: float  # seconds after the campaign's start
    note: str = ""


@dataclass(slots=True)
class Workload:
    people: list[Person]
    passes: list[Pass] = field(default_factory=list)

    @property
    def crew(self) -> list[Worker]:
        return [p.worker for p in self.people]

    def person_of(self, digits: str) -> Person | None:
        for person in self.people:
            if digits in person.ids:
                return person
        return None


# (role, share of the crew); the rest are citizens with eID cards.
ROLES_FULL = (
    ("posted", 0.16),
    ("keypad", 0.06),
    ("posted_keypad", 0.03),
    ("expired", 0.03),
    ("off_roster", 0.03),
    ("foreign_employer", 0.03),
    ("bank", 0.02),
    ("not_l1", 0.02),
    ("bad_code", 0.02),
    ("both_ids", 0.04),
)
DOUBLE_PASS_SHARE = 0.1


def make_workload(
    seed: int,
    workers: int,
    duration_s: float,
    entries: list[str],
    exits: list[str],
    today: date,
    profile: Profile = "full",
) -> Workload:
    """The crew and its passes, from ``seed`` alone."""
    rng = random.Random(seed)
    roles = [r for r in ROLES_FULL if profile == "full" or r[0] != "both_ids"]
    people = _named_apart(
        [_person(rng, n, _role(rng, roles), today, seed) for n in range(workers)], seed
    )
    load = Workload(people)
    for person in people:
        start = duration_s * RUSH_END_SHARE * rng.betavariate(1.5, 3.0)
        load.passes += _passes(rng, person, start, duration_s, entries, exits)
    load.passes.sort(key=lambda p: p.at)
    return load


def _named_apart(people: list[Person], seed: int) -> list[Person]:
    """Everyone a name of their own (a site's roster tells its people apart): a name drawn
    twice is replaced, from an order of its own, so the rest of the draw stays as it was."""
    spare = [(s, g) for s in SURNAMES for g in GIVEN]
    random.Random(seed).shuffle(spare)
    seen: set[tuple[str, str]] = set()
    named: list[Person] = []
    for person in people:
        worker = person.worker
        name = (worker.surname, worker.given_names)
        while name in seen:
            name = spare.pop() if spare else (f"{worker.surname}{len(seen)}", worker.given_names)
        seen.add(name)
        if name != (worker.surname, worker.given_names):
            worker = replace(worker, surname=name[0], given_names=name[1])
            person = replace(person, worker=worker)
        named.append(person)
    return named


def _role(rng: random.Random, roles: tuple[tuple[str, float], ...] | list[Any]) -> str:
    draw = rng.random()
    for role, share in roles:
        if draw < share:
            return str(role)
        draw -= share
    return "citizen"


def _person(rng: random.Random, n: int, role: str, today: date, seed: int) -> Person:
    born = date(1960, 1, 1) + timedelta(days=rng.randrange(0, 40 * 365))
    employer = rng.choice((BUILDER, *SUBCONTRACTORS))
    limosa = f"249{seed % 1000:03d}{n:011d}"
    fields: dict[str, Any] = {
        "kind": "eid",
        "surname": rng.choice(SURNAMES),
        "given_names": rng.choice(GIVEN),
        "employer": employer,
        "inss": valid_inss(rng, born),
        "card_valid_until": today + timedelta(days=rng.randrange(200, 3000)),
    }
    admitted = role not in ("expired", "off_roster", "bank", "not_l1", "bad_code")
    if role in ("posted", "posted_keypad"):
        fields.update(kind="l1", inss=None, limosa_id=limosa, employer=None, card_valid_until=None)
    elif role == "keypad":
        fields.update(kind="keypad")
    elif role == "expired":
        fields.update(card_valid_until=today - timedelta(days=rng.randrange(1, 30)))
    elif role == "off_roster":
        fields.update(on_roster=False)
    elif role == "foreign_employer":
        fields.update(employer=NOT_ON_WORKS)
    elif role == "both_ids":
        fields.update(limosa_id=limosa)
    return Person(n, Worker(**fields), role, admitted, both_ids=role == "both_ids")


def _passes(
    rng: random.Random,
    person: Person,
    start: float,
    duration_s: float,
    entries: list[str],
    exits: list[str],
) -> list[Pass]:
    """One person's passes, from their arrival at ``start``."""
    entry = rng.choice(entries)
    how: How = {
        "posted": "l1",
        "posted_keypad": "keypad",
        "keypad": "keypad",
        "bank": "bank",
        "not_l1": "not_l1",
        "bad_code": "bad_code",
    }.get(person.role, "eid")  # type: ignore[assignment]
    found = [Pass(person.index, how, entry, start)]

    # Gaps scale with the campaign (a short test rush is a compressed morning), but a code
    # shown again must first leave the camera's view for its repeat window (1 s).
    def gap(low: float, high: float) -> float:
        return max(1.5, rng.uniform(low, high) * duration_s)

    if person.both_ids:
        other = rng.choice(entries)
        found.append(Pass(person.index, "l1", other, start + gap(0.07, 0.25), "second id"))
    elif person.expect_admitted and rng.random() < DOUBLE_PASS_SHARE:
        found.append(Pass(person.index, how, entry, start + 1.5, "again at once"))
        if exits:
            out = start + 1.5 + gap(0.08, 0.25)
            found.append(Pass(person.index, how, rng.choice(exits), out, "out"))
            found.append(
                Pass(person.index, how, rng.choice(entries), out + gap(0.05, 0.17), "in again")
            )
    return found


# --- what a pass shows the terminal -------------------------------------------------------------


def control_request(person: Person, how: How) -> dict[str, Any]:
    """The control-socket request that plays ``how`` for ``person`` (``terminal_proc``)."""
    worker = person.worker
    if how == "eid":
        assert worker.inss is not None and worker.card_valid_until is not None
        until = worker.card_valid_until
        identity = {
            "card_number": card_number(f"59{worker.inss[:8]}"),
            "national_number": worker.inss,
            "surname": worker.surname,
            "given_names": worker.given_names,
            "valid_from": (until - timedelta(days=3652)).isoformat(),  # no 29 Feb trap
            "valid_until": until.isoformat(),
        }
        return {"op": "card", "card": {"identity": identity, "photo_size": 0}}
    if how == "bank":
        return {"op": "card", "card": {"kind": "bank"}}
    if how == "l1":
        return {"op": "qr", "text": worker.l1_url()}
    if how == "not_l1":
        return {"op": "qr", "text": NOT_AN_L1_CODE}
    if how == "bad_code":
        assert worker.inss is not None
        wrong = (int(worker.inss[-1]) + 1) % 10
        return {"op": "keys", "text": worker.inss[:-1] + str(wrong)}
    return {"op": "keys", "text": worker.person_id}


def write_roster(people: list[Person], path: Path) -> None:
    """Everyone on the roster but the ``off_roster`` people, with their names, as a site
    office keeps it. A two-id person's national number and Limosa id: linked on one row for
    half of them (the ``limosa`` column), two rows under one name for the others (the
    controller holds the second as possibly the same person)."""
    lines = ["person;name;employer;limosa"]
    for person in people:
        worker = person.worker
        if not worker.on_roster:
            continue
        name = f"{worker.given_names} {worker.surname}"
        linked = person.both_ids and person.index % 2 == 0
        if worker.inss:
            assert worker.employer is not None
            link = worker.limosa_id if linked and worker.limosa_id else ""
            lines.append(f"{worker.inss};{name};{worker.employer.kbo};{link}")
        if worker.limosa_id and not (linked and worker.inss):
            lines.append(f"{worker.limosa_id};{name};;")
    path.write_text("\n".join(lines) + "\n")
