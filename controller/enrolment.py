"""Enrolment tokens in the controller's database: made by ``sitegate-provision enrol`` or the
console's Terminals page, consumed by the enrolment service (``provisioning.enrol_service``)
in the transaction that enrols the terminal.

A token is 32 random bytes; only its SHA-256 is stored (``presence.enrolment.token_hash``).
It names the terminal it enrols, its direction and its ``terminal.toml`` settings, and it
runs out after ``expires_at``. Making one and every refusal are audited.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, select, update

from controller import audit, schema
from controller.config import ControllerConfig
from controller.errors import ControllerError
from controller.store import Store
from presence.enrolment import (
    BadEnrolment,
    EnrolmentCode,
    check_token,
    fingerprint,
    token_hash,
)
from presence.events import is_valid_terminal_id

DEFAULT_VALID_S = 15 * 60
MIN_VALID_S = 60
MAX_VALID_S = 7 * 24 * 3600
DIRECTIONS = ("in", "out")
_DURATION = re.compile(r"([1-9][0-9]{0,5})([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class EnrolmentRefused(ControllerError):
    """A token or a request the controller does not enrol; ``code`` is one of
    ``presence.enrolment.REFUSALS`` (or ``bad_validity``, ``bad_name``, ``bad_direction``
    when a token is made)."""


@dataclass(frozen=True, slots=True)
class NewToken:
    token: str
    terminal_id: str
    direction: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRow:
    terminal_id: str
    direction: str
    settings: tuple[str, ...]
    expires_at: datetime


def parse_validity(text: str) -> int:
    """``15m``, ``2h``, ``1d``, ``90s`` as seconds, within ``MIN_VALID_S`` .. ``MAX_VALID_S``."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise EnrolmentRefused("bad_validity", f"--valid {text!r}: a number and s, m, h or d")
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if not MIN_VALID_S <= seconds <= MAX_VALID_S:
        raise EnrolmentRefused("bad_validity", f"--valid {text!r}: between 1 minute and 7 days")
    return seconds


def new_token(
    store: Store,
    terminal_id: str,
    direction: str,
    settings: tuple[str, ...] = (),
    valid_s: int = DEFAULT_VALID_S,
    actor: audit.Actor | None = None,
) -> NewToken:
    """A single-use token for ``terminal_id``; its hash is stored, the token returned once."""
    if not is_valid_terminal_id(terminal_id):
        raise EnrolmentRefused("bad_name", f"terminal name {terminal_id!r} is not valid")
    if direction not in DIRECTIONS:
        raise EnrolmentRefused("bad_direction", f"direction {direction!r}: expected in or out")
    if not MIN_VALID_S <= valid_s <= MAX_VALID_S:
        raise EnrolmentRefused("bad_validity", "a token is valid between 1 minute and 7 days")
    actor = actor or audit.cli_actor()
    token = secrets.token_urlsafe(32)
    now = store.clock.now()
    expires = now + timedelta(seconds=valid_s)
    with store.transaction() as conn:
        conn.execute(
            schema.enrolment_tokens.insert().values(
                token_hash=token_hash(token),
                terminal_id=terminal_id,
                direction=direction,
                settings=json.dumps(list(settings)),
                created_at=now,
                created_by=actor.who[:100],
                expires_at=expires,
            )
        )
        audit.record(
            conn,
            at=now,
            who=actor.who,
            action="enrol_token",
            target=terminal_id,
            detail=f"direction {direction}, valid until {expires.isoformat(timespec='seconds')}",
            address=actor.address,
        )
    return NewToken(token, terminal_id, direction, expires)


def claim(conn: Connection, token: str, now: datetime, address: str) -> TokenRow:
    """Consume ``token`` in the caller's transaction (its rollback gives it back)."""
    try:
        check_token(token)
    except BadEnrolment as exc:
        raise EnrolmentRefused(exc.code, str(exc)) from None
    table = schema.enrolment_tokens
    query = select(table).where(table.c.token_hash == token_hash(token)).with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise EnrolmentRefused("unknown_token", "this enrolment code is not known here")
    if row["used_at"] is not None:
        raise EnrolmentRefused("used_token", "this enrolment code was used already")
    if row["expires_at"] <= now:
        raise EnrolmentRefused("expired_token", "this enrolment code has expired")
    done = conn.execute(
        update(table)
        .where(table.c.token_hash == row["token_hash"], table.c.used_at.is_(None))
        .values(used_at=now, used_from=address[:64])
    )
    if done.rowcount != 1:
        raise EnrolmentRefused("used_token", "this enrolment code was used already")
    return TokenRow(
        row["terminal_id"], row["direction"], tuple(json.loads(row["settings"])), row["expires_at"]
    )


def set_serial(conn: Connection, token: str, serial: str) -> None:
    """The serial of the certificate a consumed token gave (for the audit trail)."""
    table = schema.enrolment_tokens
    conn.execute(
        update(table).where(table.c.token_hash == token_hash(token)).values(cert_serial=serial)
    )


def record_refusal(store: Store, code: str, message: str, address: str, terminal: str = "") -> None:
    """A refused enrolment, in a transaction of its own (the refused one changed nothing)."""
    with store.transaction() as conn:
        audit.record(
            conn,
            at=store.clock.now(),
            who="enrolment",
            action="enrol_refused",
            target=terminal,
            detail=f"{code}: {message}",
            address=address[:64],
        )


def ca_fingerprint(config: ControllerConfig) -> str:
    """The site CA's fingerprint: the controller's CA file is the site CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    path = config.site_path(config.broker.ca_file)
    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise EnrolmentRefused("unavailable", f"{path}: cannot read the site CA ({exc})") from None
    return fingerprint(cert.public_bytes(serialization.Encoding.DER))


def code_text(config: ControllerConfig, token: NewToken) -> str:
    """What the enrolment QR code holds for ``token``."""
    return EnrolmentCode(
        _url(config), token.terminal_id, token.token, ca_fingerprint(config)
    ).text()


def _url(config: ControllerConfig) -> str:
    if config.enrolment is None:
        raise EnrolmentRefused(
            "unavailable", f"{config.path}: no [enrolment] section: the controller does not enrol"
        )
    return config.enrolment.url


def new_code(
    store: Store,
    config: ControllerConfig,
    terminal_id: str,
    direction: str,
    settings: tuple[str, ...] = (),
    valid_s: int = DEFAULT_VALID_S,
    actor: audit.Actor | None = None,
) -> tuple[NewToken, str]:
    """A token and the text of its QR code; nothing is stored when the controller cannot
    make the code (no ``[enrolment]``, no CA)."""
    _url(config)
    ca_fingerprint(config)
    token = new_token(store, terminal_id, direction, settings, valid_s, actor)
    return token, code_text(config, token)


def qr_data_uri(text: str) -> str:
    """The code as a PNG ``data:`` URI (the console's Terminals page)."""
    import segno

    return str(segno.make(text, error="m", micro=False).png_data_uri(scale=6, border=4))
