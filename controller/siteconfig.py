"""The retained site config the controller gives its terminals: policy and the allowlist of
hashes of the people on the roster (never the numbers themselves).

The hashes are scrypt (``presence.messages.HashScheme``): slow on purpose, because the salt
is published with them. A person's hash is computed once per salt and scheme and kept in
``person_hashes``, outside any transaction and on every core (``hashlib.scrypt`` releases
the GIL), so only people new to the roster cost anything when the config is built again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, or_, select

from controller import schema
from controller.config import ControllerConfig
from controller.store import Store
from presence.ids import Inss, LimosaId, PersonId
from presence.messages import SCRYPT, HashScheme, SiteConfig, SitePolicy, hash_digits

log = logging.getLogger(__name__)

SALT_KEY = "allowlist_salt"
VERSION_KEY = "site_config_version"
CONTENT_KEY = "site_config_digest"
ROSTER_VERSION_KEY = "roster_version"
HASH_CHUNK = 64  # people per task handed to a hashing thread

Person = tuple[str, str]  # person kind, bare digits


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


def scheme_key(salt: str, scheme: HashScheme = SCRYPT) -> str:
    """Names the salt and scheme a kept hash was made with (a new one makes all new)."""
    return f"{scheme.kdf}:n={scheme.n},r={scheme.r},p={scheme.p}:{salt}"


def build(
    store: Store, config: ControllerConfig, day: date, scheme: HashScheme = SCRYPT
) -> tuple[SiteConfig, Stamp]:
    """The site config valid on ``day``; its version moves only when its content does."""
    r = schema.roster.c
    with store.transaction() as conn:
        salt = store.get_meta(conn, SALT_KEY)
        if salt is None:
            salt = secrets.token_hex(16)
            store.set_meta(conn, SALT_KEY, salt)
        people: list[Person] = [
            (row.person_kind, row.person_id)
            for row in conn.execute(
                select(r.person_kind, r.person_id)
                .where(or_(r.valid_from.is_(None), r.valid_from <= day))
                .where(or_(r.valid_to.is_(None), r.valid_to >= day))
                .distinct()
            )
        ]
        blocked: list[Person] = [
            (row.person_kind, row.person_id)
            for row in conn.execute(
                select(r.person_kind, r.person_id).where(r.blocked.is_(True)).distinct()
            )
        ]
    known = hashes(store, salt, sorted(set(people) | set(blocked)), scheme)
    allowlist = frozenset(known[p] for p in people)
    blocklist = frozenset(known[p] for p in blocked)
    policy = SitePolicy(config.policy.unknown_person, config.policy.cooldown_s)  # type: ignore[arg-type]
    with store.transaction() as conn:
        digest = hashlib.sha256(
            repr(
                (
                    sorted(allowlist),
                    policy.unknown_person,
                    policy.cooldown_s,
                    scheme,
                    sorted(blocklist),
                )
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
        scheme=scheme,
    )
    return site_config, stamp


def hashes(
    store: Store, salt: str, people: list[Person], scheme: HashScheme = SCRYPT
) -> dict[Person, str]:
    """Each person's list entry: kept ones read back, the others computed (in parallel, no
    transaction open meanwhile) and kept."""
    key = scheme_key(salt, scheme)
    h = schema.person_hashes.c
    with store.transaction() as conn:
        known = {
            (row.person_kind, row.person_id): row.hash
            for row in conn.execute(
                select(h.person_kind, h.person_id, h.hash).where(h.scheme == key)
            )
        }
    wanted = set(people)
    missing = sorted(wanted - known.keys())
    if missing:
        computed = _compute(salt, missing, scheme)
        rows = [{"person_kind": k, "person_id": d, "scheme": key, "hash": v}
                for (k, d), v in computed.items()]  # fmt: skip
        with store.transaction() as conn:
            conn.execute(schema.person_hashes.delete().where(h.scheme != key))
            conn.execute(store.insert_ignore(schema.person_hashes), rows)
        known.update(computed)
    return {person: known[person] for person in wanted}


def _compute(salt: str, people: list[Person], scheme: HashScheme) -> dict[Person, str]:
    def chunk(start: int) -> list[str]:
        return [hash_digits(salt, d, scheme) for _k, d in people[start : start + HASH_CHUNK]]

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        done = [v for part in pool.map(chunk, range(0, len(people), HASH_CHUNK)) for v in part]
    return dict(zip(people, done, strict=True))


class Builder:
    """Builds site configs in a thread of their own: the first build after a large roster
    import hashes thousands of people (10,000 take about 9 s on two cores, docs/performance.md),
    and the ingest thread keeps storing and acknowledging meanwhile. ``request`` starts a
    build unless one is running; ``take`` hands over the latest finished one, once."""

    def __init__(self, store: Store, config: ControllerConfig) -> None:
        self._store = store
        self._config = config
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._done: tuple[SiteConfig, Stamp] | None = None

    def request(self, day: date) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._build, args=(day,), name="site-config", daemon=True
            )
            self._thread.start()

    def take(self) -> tuple[SiteConfig, Stamp] | None:
        with self._lock:
            done, self._done = self._done, None
        return done

    def wait(self, timeout: float) -> None:
        """Let a running build finish (before the store closes)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _build(self, day: date) -> None:
        try:
            built = build(self._store, self._config, day)
        except Exception:
            log.exception("the site config could not be built; trying again")
            return
        with self._lock:
            self._done = built


def current_stamp(store: Store, day: date) -> Stamp:
    with store.transaction() as conn:
        return Stamp(roster_version(store, conn), day)
