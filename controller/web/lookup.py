"""Rows a page names by id: the person behind a roster entry (pages never carry numbers)."""

from __future__ import annotations

from sqlalchemy import select

from controller import schema, siteconfig
from controller.errors import ControllerError
from controller.store import Store
from presence.ids import PersonId


def person_of_roster_entry(store: Store, entry: int) -> PersonId:
    r = schema.roster.c
    with store.transaction() as conn:
        row = conn.execute(select(r.person_kind, r.person_id).where(r.id == entry)).first()
    if row is None:
        raise ControllerError("not_found", f"no roster entry {entry}")
    return siteconfig.make_person(row.person_kind, row.person_id)
