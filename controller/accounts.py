"""Accounts of the web console: who may sign in, with which role, and their passwords.

Passwords are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile) and never
stored or logged in clear. Roles say what a person may do in the console:

- ``viewer``: reads every page (masked numbers only);
- ``team-leader``: reads, and checks in a crew with a phone (the scan page, issue 15);
- ``manager``: reads, acts (cancel, requeue, assign, roster, registration by hand), scans,
  and may reveal one national number at a time.

An account name becomes part of a virtual terminal id (``handheld-<name>``, ``console-<name>``)
when its owner registers people, so it follows the terminal id alphabet.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Row, select

from controller import schema
from controller.errors import ControllerError
from controller.store import Store

log = logging.getLogger(__name__)

VIEWER, MANAGER, TEAM_LEADER = "viewer", "manager", "team-leader"
ROLES = (VIEWER, MANAGER, TEAM_LEADER)
READ, ACT, SCAN, REVEAL = "read", "act", "scan", "reveal"
PERMISSIONS: dict[str, frozenset[str]] = {
    VIEWER: frozenset({READ}),
    TEAM_LEADER: frozenset({READ, SCAN}),
    MANAGER: frozenset({READ, ACT, SCAN, REVEAL}),
}
# "handheld-" + name must stay a valid terminal id (at most 64 characters).
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,54}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes anything; a cap keeps a login from hashing megabytes

_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4 (RFC 9106 low-memory)
# Verified when the account does not exist, so that a wrong name costs as long as a wrong
# password and the answer time does not tell which names exist.
_DUMMY_HASH = _hasher.hash("not a password of anyone's")


class AccountError(ControllerError):
    """Codes: ``bad_name``, ``bad_role``, ``bad_password``, ``exists``, ``not_found``."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None

    def may(self, permission: str) -> bool:
        return not self.disabled and may(self.role, permission)


def may(role: str, permission: str) -> bool:
    return permission in PERMISSIONS.get(role, frozenset())


def check_name(name: str) -> str:
    if not isinstance(name, str) or NAME.fullmatch(name) is None:
        raise AccountError(
            "bad_name", "account name: 1-55 of a-z 0-9 _ -, starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError("bad_password", f"password: {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if not password.isprintable():
        raise AccountError("bad_password", "password: printable characters only")
    return password


def _account(row: Row) -> Account:
    return Account(
        int(row.id), row.name, row.role, bool(row.disabled), row.created_at, row.last_login_at
    )


def _find(conn: Connection, name: str) -> Row | None:
    return conn.execute(select(schema.accounts).where(schema.accounts.c.name == name)).first()


def add_account(store: Store, name: str, role: str, password: str) -> Account:
    check_name(name)
    if role not in ROLES:
        raise AccountError("bad_role", f"role must be one of {', '.join(ROLES)}")
    hashed = _hasher.hash(check_password(password))
    now = store.clock.now()
    with store.transaction() as conn:
        if _find(conn, name) is not None:
            raise AccountError("exists", f"account {name} exists already")
        conn.execute(
            schema.accounts.insert().values(
                name=name,
                role=role,
                password_hash=hashed,
                disabled=False,
                created_at=now,
                password_changed_at=now,
            )
        )
        row = _find(conn, name)
    assert row is not None
    log.info("account %s added (%s)", name, role)
    return _account(row)


def get_account(store: Store, name: str) -> Account:
    with store.transaction() as conn:
        row = _find(conn, name)
    if row is None:
        raise AccountError("not_found", f"no account {name}")
    return _account(row)


def list_accounts(store: Store) -> list[Account]:
    with store.transaction() as conn:
        rows = conn.execute(select(schema.accounts).order_by(schema.accounts.c.name)).all()
    return [_account(row) for row in rows]


def set_password(store: Store, name: str, password: str) -> None:
    """A new password; every open session of the account ends (it may have been stolen)."""
    hashed = _hasher.hash(check_password(password))
    with store.transaction() as conn:
        row = _find(conn, name)
        if row is None:
            raise AccountError("not_found", f"no account {name}")
        conn.execute(
            schema.accounts.update()
            .where(schema.accounts.c.id == row.id)
            .values(password_hash=hashed, password_changed_at=store.clock.now())
        )
        _end_sessions(conn, int(row.id))
    log.info("account %s: password changed, sessions ended", name)


def set_disabled(store: Store, name: str, disabled: bool = True) -> None:
    """Disable (or enable again) an account; disabling ends its sessions at once."""
    with store.transaction() as conn:
        row = _find(conn, name)
        if row is None:
            raise AccountError("not_found", f"no account {name}")
        conn.execute(
            schema.accounts.update().where(schema.accounts.c.id == row.id).values(disabled=disabled)
        )
        if disabled:
            _end_sessions(conn, int(row.id))
    log.info("account %s %s", name, "disabled" if disabled else "enabled")


def _end_sessions(conn: Connection, account_id: int) -> None:
    conn.execute(schema.web_sessions.delete().where(schema.web_sessions.c.account_id == account_id))


def authenticate(store: Store, name: str, password: str) -> Account | None:
    """The account when ``password`` is its password and it is enabled; else None.

    Costs one argon2 verification whatever the outcome (unknown names included)."""
    with store.transaction() as conn:
        row = _find(conn, name) if NAME.fullmatch(name or "") else None
    stored = row.password_hash if row is not None else _DUMMY_HASH
    try:
        _hasher.verify(stored, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    values: dict[str, object] = {"last_login_at": store.clock.now()}
    if _hasher.check_needs_rehash(stored):
        values["password_hash"] = _hasher.hash(password)
    with store.transaction() as conn:
        conn.execute(
            schema.accounts.update().where(schema.accounts.c.id == row.id).values(**values)
        )
    return _account(row)
