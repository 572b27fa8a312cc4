"""One person, one presence, even with two numbers: a national number (eID) and a Limosa id
(L1 code) of the same worker on the same day.

A check-in joins the presence of its person's other number when something links the two:

- the roster: an INSS row whose ``limosa_id`` is that Limosa id (valid on the day);
- NSSO: a registration answer for a Limosa id that names the worker's latest INSS
  (``PresenceRegistrationType/INSS``, carried by ``RegistrationResult.inss``);
- the site manager: ``sitegate-controller same-person ID --same``.

Without a link but with a reason to think they are one person, the later presence is held
as ``possible_same_person`` and never sent until the site manager decides. The rule is narrow and
explainable: **same workplace and day, one presence by national number and the other by
Limosa id, and the roster gives both the same name** (accents, case, punctuation and word
order ignored, at least two words; rows valid that day). Nothing else (an employer, a birth
date in the number) is taken as a reason: a false hold delays a registration until the site
manager answers, so it must stay rare; a missed duplicate is a second registration of one
person, which NSSO accepts. A manager's ``--different`` is remembered and the pair is not
held again. Links come only in the INSS <-> Limosa direction: two national numbers (a BIS
number replaced by a national number) are not matched.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from controller import schema, siteconfig

log = logging.getLogger(__name__)

Key = tuple[str, str, str, date]  # person kind, person id, workplace, day (checkins.PresenceKey)

# States in which a presence has not gone to NSSO and can be folded into another.
MERGEABLE = (schema.PENDING, schema.NEEDS_EMPLOYER, schema.POSSIBLE_SAME)
_WORDS = re.compile(r"[^\W_]+")


def name_key(name: str | None) -> str | None:
    """A name reduced to what identifies it: accents, case, punctuation and word order
    dropped. None when there is too little of it to compare (fewer than two words)."""
    if not name:
        return None
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    words = _WORDS.findall(plain.casefold())
    return " ".join(sorted(words)) if len(words) >= 2 else None


def _valid(valid_from: date | None, valid_to: date | None, day: date) -> bool:
    return (valid_from is None or valid_from <= day) and (valid_to is None or valid_to >= day)


def _ids(keys: Iterable[Key]) -> tuple[set[str], set[str]]:
    inss = {k[1] for k in keys if k[0] == "inss"}
    limosa = {k[1] for k in keys if k[0] == "limosa"}
    return inss, limosa


def aliases(conn: Connection, keys: Iterable[Key]) -> dict[Key, list[Key]]:
    """For each key, the keys of the same person under their other number (same workplace
    and day) that a link names; keys without a link are left out."""
    keys = list(keys)
    inss, limosa = _ids(keys)
    if not keys:
        return {}
    r, pl = schema.roster.c, schema.person_links.c
    pairs: list[tuple[str, str, date | None, date | None]] = [
        (row.person_id, row.limosa_id, row.valid_from, row.valid_to)
        for row in conn.execute(
            select(r.person_id, r.limosa_id, r.valid_from, r.valid_to).where(
                r.person_kind == "inss",
                r.limosa_id.is_not(None),
                or_(r.person_id.in_(inss), r.limosa_id.in_(limosa)),
            )
        )
    ]
    pairs += [
        (row.inss, row.limosa_id, None, None)
        for row in conn.execute(
            select(pl.inss, pl.limosa_id).where(
                pl.same.is_(True), or_(pl.inss.in_(inss), pl.limosa_id.in_(limosa))
            )
        )
    ]
    found: dict[Key, list[Key]] = {}
    for key in keys:
        kind, person, workplace, day = key
        for inss_id, limosa_id, valid_from, valid_to in pairs:
            if not _valid(valid_from, valid_to, day):
                continue
            if kind == "inss" and inss_id == person:
                alias: Key = ("limosa", limosa_id, workplace, day)
            elif kind == "limosa" and limosa_id == person:
                alias = ("inss", inss_id, workplace, day)
            else:
                continue
            if alias not in found.setdefault(key, []):
                found[key].append(alias)
    return found


def candidates(conn: Connection, created: dict[Key, int]) -> dict[Key, tuple[int, Key]]:
    """For new presences (key -> id): the earlier presence of the same workplace and day,
    under the other kind of number, whose person has the same roster name, when no one
    said they are different people. The reason to hold a presence (module docstring)."""
    names = _names(conn, created)
    wanted = {key: names[key] for key in created if key in names}
    if not wanted:
        return {}
    p, r = schema.presences.c, schema.roster.c
    rows = conn.execute(
        select(
            p.id,
            p.person_kind,
            p.person_id,
            p.workplace_id,
            p.date,
            r.name,
            r.valid_from,
            r.valid_to,
        )
        .select_from(
            schema.presences.join(
                schema.roster,
                and_(r.person_kind == p.person_kind, r.person_id == p.person_id),
            )
        )
        .where(
            p.workplace_id.in_({k[2] for k in wanted}),
            p.date.in_({k[3] for k in wanted}),
            p.state != schema.CANCELLED,
            r.name.is_not(None),
        )
        .order_by(p.id)
    ).all()
    different = _different(conn, wanted, list(rows))
    found: dict[Key, tuple[int, Key]] = {}
    for key, name in wanted.items():
        kind, _person, workplace, day = key
        for row in rows:
            other: Key = (row.person_kind, row.person_id, row.workplace_id, row.date)
            if (
                row.id >= created[key]
                or row.person_kind == kind
                or (row.workplace_id, row.date) != (workplace, day)
                or not _valid(row.valid_from, row.valid_to, day)
                or name_key(row.name) != name
                or _pair(key, other) in different
            ):
                continue
            found[key] = (int(row.id), other)
            break
    return found


def _names(conn: Connection, keys: Iterable[Key]) -> dict[Key, str]:
    """The comparable roster name of each key's person, valid on its day."""
    keys = list(keys)
    inss, limosa = _ids(keys)
    r = schema.roster.c
    rows = conn.execute(
        select(r.person_kind, r.person_id, r.name, r.valid_from, r.valid_to).where(
            r.name.is_not(None),
            or_(
                and_(r.person_kind == "inss", r.person_id.in_(inss)),
                and_(r.person_kind == "limosa", r.person_id.in_(limosa)),
            ),
        )
    ).all()
    found: dict[Key, str] = {}
    for key in keys:
        for row in rows:
            if (row.person_kind, row.person_id) != key[:2]:
                continue
            name = name_key(row.name)
            if name is not None and _valid(row.valid_from, row.valid_to, key[3]):
                found[key] = name
    return found


def _pair(a: Key, b: Key) -> tuple[str, str]:
    """(inss, limosa id) of two keys of different kinds."""
    return (a[1], b[1]) if a[0] == "inss" else (b[1], a[1])


def _different(conn: Connection, wanted: dict[Key, str], rows: list[Any]) -> set[tuple[str, str]]:
    inss, limosa = _ids(wanted)
    inss |= {r.person_id for r in rows if r.person_kind == "inss"}
    limosa |= {r.person_id for r in rows if r.person_kind == "limosa"}
    pl = schema.person_links.c
    return {
        (row.inss, row.limosa_id)
        for row in conn.execute(
            select(pl.inss, pl.limosa_id).where(
                pl.same.is_(False), pl.inss.in_(inss), pl.limosa_id.in_(limosa)
            )
        )
    }


def hold(
    conn: Connection, presence_id: int, candidate_id: int, candidate: Key, now: datetime
) -> None:
    """Hold a new presence as ``possible_same_person``: the relay never sends it."""
    other = siteconfig.make_person(candidate[0], candidate[1]).masked()
    p = schema.presences.c
    conn.execute(
        schema.presences.update()
        .where(p.id == presence_id)
        .values(
            state=schema.POSSIBLE_SAME,
            same_as_id=candidate_id,
            updated_at=now,
            last_error=(
                f"possibly the same person as presence {candidate_id} ({other}): same name "
                f"on the roster; decide with: sitegate-controller same-person {presence_id} "
                "--same|--different"
            ),
        )
    )
    log.warning(
        "presence %s held: possibly the same person as presence %s (same roster name, "
        "other kind of number)",
        presence_id,
        candidate_id,
    )


def record_link(
    conn: Connection, inss: str, limosa_id: str, *, same: bool, source: str, now: datetime
) -> None:
    """Remember that ``inss`` and ``limosa_id`` are (or are not) one person."""
    pl = schema.person_links.c
    values = {"same": same, "source": source, "recorded_at": now}
    updated = conn.execute(
        schema.person_links.update()
        .where(pl.inss == inss, pl.limosa_id == limosa_id)
        .values(**values)
    ).rowcount
    if not updated:
        conn.execute(schema.person_links.insert().values(inss=inss, limosa_id=limosa_id, **values))


def merge(conn: Connection, drop_id: int, keep_id: int) -> None:
    """Fold presence ``drop_id`` into ``keep_id``: its check-ins now point to the kept
    presence (they stay as evidence, with the number they were made with) and the folded
    row goes."""
    e, p = schema.events.c, schema.presences.c
    conn.execute(schema.events.update().where(e.presence_id == drop_id).values(presence_id=keep_id))
    conn.execute(
        schema.presences.update().where(p.same_as_id == drop_id).values(same_as_id=keep_id)
    )
    conn.execute(schema.presences.delete().where(p.id == drop_id))
    log.info("presence %s merged into presence %s (one person, two numbers)", drop_id, keep_id)


def learn_from_registry(
    conn: Connection, presence_id: int, inss: str | None, limosa_id: str | None, now: datetime
) -> int:
    """NSSO's answer for a Limosa registration named the worker's INSS: remember the link
    and fold that INSS's unsent presence of the same workplace and day into this one.
    Returns how many presences were folded."""
    if not inss or not limosa_id:
        return 0
    record_link(conn, inss, limosa_id, same=True, source="nsso", now=now)
    p = schema.presences.c
    kept = conn.execute(select(p.workplace_id, p.date).where(p.id == presence_id)).first()
    if kept is None:
        return 0
    others = conn.execute(
        select(p.id, p.state).where(
            p.person_kind == "inss",
            p.person_id == inss,
            p.workplace_id == kept.workplace_id,
            p.date == kept.date,
        )
    ).all()
    folded = 0
    for other in others:
        if other.state in MERGEABLE:
            merge(conn, int(other.id), presence_id)
            folded += 1
        else:
            log.warning(
                "presences %s and %s are one person (NSSO links the numbers) and both went "
                "to NSSO: cancel one of them",
                presence_id,
                other.id,
            )
    return folded
