"""Console sessions, kept server-side so that logout, a new password and ``user disable`` end
them at once.

The cookie holds a random 256-bit token and its HMAC-SHA256 under a key kept in the
database's ``meta`` table: a forged or altered cookie is refused before any lookup. The table
holds only the token's SHA-256, so a copy of the database opens no session. A session ends
after ``idle_s`` without a page view or form (live refreshes do not count, so a screen left
on "Today" still times out) and ``max_s`` after login, whatever happens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from controller import schema
from controller.accounts import Account
from controller.store import Store

KEY_META = "web_cookie_key"
TOUCH_EVERY = timedelta(seconds=60)  # last_seen is written at most this often per session


@dataclass(frozen=True, slots=True)
class Session:
    token_hash: str
    account: Account
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


class Sessions:
    def __init__(self, store: Store, idle_s: float, max_s: float) -> None:
        self.store = store
        self.idle = timedelta(seconds=idle_s)
        self.max = timedelta(seconds=max_s)
        self._key = self._cookie_key()

    def _cookie_key(self) -> bytes:
        with self.store.transaction() as conn:
            key = self.store.get_meta(conn, KEY_META)
            if key is None:
                key = secrets.token_hex(32)
                self.store.set_meta(conn, KEY_META, key)
        return bytes.fromhex(key)

    def _sign(self, token: str) -> str:
        return hmac.new(self._key, token.encode("ascii"), hashlib.sha256).hexdigest()

    def cookie_value(self, token: str) -> str:
        return f"{token}.{self._sign(token)}"

    def _token(self, cookie: str | None) -> str | None:
        if not cookie or len(cookie) > 200:
            return None
        token, _, signature = cookie.rpartition(".")
        if not token or not token.isascii():
            return None
        return token if hmac.compare_digest(signature, self._sign(token)) else None

    def open(self, account: Account, address: str | None) -> tuple[str, Session]:
        """A new session for ``account``; returns the cookie value and the session."""
        token = secrets.token_urlsafe(32)
        now = self.store.clock.now()
        session = Session(_hash(token), account, secrets.token_urlsafe(32), now, now)
        with self.store.transaction() as conn:
            conn.execute(
                schema.web_sessions.insert().values(
                    token_hash=session.token_hash,
                    account_id=account.id,
                    csrf_token=session.csrf_token,
                    created_at=now,
                    last_seen_at=now,
                    address=(address or "")[:64] or None,
                )
            )
        return self.cookie_value(token), session

    def find(self, cookie: str | None, touch: bool = True) -> Session | None:
        """The live session the cookie names, or None (bad cookie, expired, disabled)."""
        token = self._token(cookie)
        if token is None:
            return None
        s, a = schema.web_sessions.c, schema.accounts.c
        with self.store.transaction() as conn:
            row = conn.execute(
                select(
                    *schema.web_sessions.columns,
                    a.name,
                    a.role,
                    a.disabled,
                    a.created_at.label("account_created"),
                    a.last_login_at,
                )
                .select_from(schema.web_sessions.join(schema.accounts, s.account_id == a.id))
                .where(s.token_hash == _hash(token))
            ).first()
            if row is None:
                return None
            now = self.store.clock.now()
            expired = now - row.last_seen_at > self.idle or now - row.created_at > self.max
            if expired or row.disabled:
                conn.execute(schema.web_sessions.delete().where(s.token_hash == row.token_hash))
                return None
            last_seen = row.last_seen_at
            if touch and now - last_seen >= TOUCH_EVERY:
                conn.execute(
                    schema.web_sessions.update()
                    .where(s.token_hash == row.token_hash)
                    .values(last_seen_at=now)
                )
                last_seen = now
        account = Account(
            int(row.account_id),
            row.name,
            row.role,
            bool(row.disabled),
            row.account_created,
            row.last_login_at,
        )
        return Session(row.token_hash, account, row.csrf_token, row.created_at, last_seen)

    def close(self, session: Session) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                schema.web_sessions.delete().where(
                    schema.web_sessions.c.token_hash == session.token_hash
                )
            )

    def purge_expired(self) -> int:
        now = self.store.clock.now()
        s = schema.web_sessions.c
        with self.store.transaction() as conn:
            return int(
                conn.execute(
                    schema.web_sessions.delete().where(
                        (s.last_seen_at < now - self.idle) | (s.created_at < now - self.max)
                    )
                ).rowcount
            )
