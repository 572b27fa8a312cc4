"""The retained site config the controller gives its terminals: policy and the allowlist of
salted hashes of the people on the roster (never the numbers themselves)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, or_, select

from controller import schema
from controller.config import ControllerConfig
from controller.store import Store
from presence.ids import Inss, LimosaId, PersonId
from presence.messages import SiteConfig, SitePolicy, person_hash

SALT_KEY = "allowlist_salt"
VERSION_KEY = "site_config_version"
CONTENT_KEY = "site_config_digest"
ROSTER_VERSION_KEY = "roster_version"


@dataclass(frozen=True, slots=True)
class Stamp:
    """What the published config depends on: when it changes, publish again."""

    roster_version: int
    day: date


def roster_version(store: Store, conn: Connection) -> int:
    return int(store.get_meta(conn, ROSTER_VERSION_KEY) or 0)


def bump_roster_version(store: Store, conn: Connection) -> int:
    version = roster_version(store, conn) + 1
    store.set_meta(conn, ROSTER_VERSION_KEY, str(version))
    return version


def make_person(kind: str, digits: str) -> PersonId:
    return Inss(digits) if kind == "inss" else LimosaId(digits)


def build(store: Store, config: ControllerConfig, day: date) -> tuple[SiteConfig, Stamp]:
    """The site config valid on ``day``; its version moves only when its content does."""
    r = schema.roster.c
    with store.transaction() as conn:
        salt = store.get_meta(conn, SALT_KEY)
        if salt is None:
            salt = secrets.token_hex(16)
            store.set_meta(conn, SALT_KEY, salt)
        people = conn.execute(
            select(r.person_kind, r.person_id)
            .where(or_(r.valid_from.is_(None), r.valid_from <= day))
            .where(or_(r.valid_to.is_(None), r.valid_to >= day))
            .distinct()
        ).all()
        allowlist = frozenset(person_hash(salt, make_person(k, d)) for k, d in people)
        blocked = conn.execute(
            select(r.person_kind, r.person_id).where(r.blocked.is_(True)).distinct()
        ).all()
        blocklist = frozenset(person_hash(salt, make_person(k, d)) for k, d in blocked)
        policy = SitePolicy(config.policy.unknown_person, config.policy.cooldown_s)  # type: ignore[arg-type]
        digest = hashlib.sha256(
            repr(
                (sorted(allowlist), policy.unknown_person, policy.cooldown_s, sorted(blocklist))
            ).encode()
        ).hexdigest()
        version = int(store.get_meta(conn, VERSION_KEY) or 0)
        if store.get_meta(conn, CONTENT_KEY) != digest:
            version += 1
            store.set_meta(conn, VERSION_KEY, str(version))
            store.set_meta(conn, CONTENT_KEY, digest)
        stamp = Stamp(roster_version(store, conn), day)
    site_config = SiteConfig(
        version=version,
        issued_at=store.clock.now(),
        salt=salt,
        policy=policy,
        allowlist=allowlist,
        blocklist=blocklist,
    )
    return site_config, stamp


def current_stamp(store: Store, day: date) -> Stamp:
    with store.transaction() as conn:
        return Stamp(roster_version(store, conn), day)
