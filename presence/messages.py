"""The other MQTT payloads: the controller's end-to-end ack, the retained site config, and
a terminal's retained status. Each decoder raises ``BadMessage`` and nothing else."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from presence.errors import PresenceError
from presence.ids import PersonId

MESSAGE_VERSION = 1
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # a site config with a large allowlist
MAX_HEALTH_ITEMS = 16
# A terminal publishes its status at least this often; the controller calls a terminal
# silent when its latest heartbeat is older than ``SILENT_AFTER_HEARTBEATS`` of them.
HEARTBEAT_S = 30.0
SILENT_AFTER_HEARTBEATS = 3

AckStatus = Literal["stored", "duplicate", "refused"]
UnknownPersonPolicy = Literal["refuse", "admit_and_flag"]
ACK_STATUSES = ("stored", "duplicate", "refused")
UNKNOWN_PERSON_POLICIES = ("refuse", "admit_and_flag")


class BadMessage(PresenceError):
    """A payload that is not the message it should be (codes: ``not_json``, ``shape``,
    ``version``, ``too_large``)."""


def person_hash(salt: str, person: PersonId) -> str:
    """The salted SHA-256 under which a person appears in the site config's lists.

    ``salt`` is hex; the hashed text is the person id's bare digits.
    """
    return hashlib.sha256(bytes.fromhex(salt) + person.digits.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class Ack:
    event_id: uuid.UUID
    status: AckStatus
    presence_state: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SitePolicy:
    unknown_person: UnknownPersonPolicy = "refuse"
    cooldown_s: int = 60


@dataclass(frozen=True, slots=True)
class SiteConfig:
    version: int
    issued_at: datetime
    salt: str
    policy: SitePolicy = SitePolicy()
    allowlist: frozenset[str] = field(default_factory=frozenset)
    blocklist: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class TerminalStatus:
    state: Literal["online", "offline"]
    at: datetime | None = None
    software_version: str | None = None
    outbox_depth: int = 0
    outbox_alarm: bool = False
    oldest_unacked_s: float | None = None
    clock_synced: bool | None = None
    health: dict[str, str] = field(default_factory=dict)


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps({"v": MESSAGE_VERSION, **body}, separators=(",", ":")).encode()


def _load(payload: bytes, what: str) -> dict[str, Any]:
    if len(payload) > MAX_MESSAGE_BYTES:
        raise BadMessage("too_large", f"{what} over {MAX_MESSAGE_BYTES} bytes")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadMessage("not_json", f"{what} is not UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise BadMessage("shape", f"{what} must be a JSON object")
    if body.get("v") != MESSAGE_VERSION:
        raise BadMessage("version", f"{what} has an unsupported version")
    return body


def _shape(what: str, exc: Exception) -> BadMessage:
    return BadMessage("shape", f"{what} is malformed ({type(exc).__name__})")


def encode_ack(ack: Ack) -> bytes:
    return _dump(_ack_body(ack))


def _ack_body(ack: Ack) -> dict[str, Any]:
    return {
        "event_id": str(ack.event_id),
        "status": ack.status,
        "presence_state": ack.presence_state,
        "reason": ack.reason,
    }


def _ack_of(body: Any) -> Ack:
    status = body["status"]
    if status not in ACK_STATUSES:
        raise ValueError(status)
    state, reason = body.get("presence_state"), body.get("reason")
    if not (state is None or isinstance(state, str)) or not (
        reason is None or isinstance(reason, str)
    ):
        raise TypeError("presence_state/reason")
    return Ack(uuid.UUID(body["event_id"]), status, state, reason)


def decode_ack(payload: bytes) -> Ack:
    body = _load(payload, "ack")
    try:
        return _ack_of(body)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise _shape("ack", exc) from None


def encode_acks(acks: Sequence[Ack]) -> bytes:
    """Several end-to-end acks in one message: ``{"v": 1, "acks": [ack, ...]}``.

    The controller answers a whole commit group with one message per terminal.
    """
    if not acks:
        raise ValueError("an ack batch holds at least one ack")
    return _dump({"acks": [_ack_body(ack) for ack in acks]})


def decode_acks(payload: bytes) -> list[Ack]:
    """The acks of an ack message, batch or single form; one bad ack refuses the batch."""
    body = _load(payload, "ack")
    try:
        if "acks" not in body:
            return [_ack_of(body)]
        items = body["acks"]
        if not isinstance(items, list) or not items:
            raise ValueError("acks must be a non-empty list")
        return [_ack_of(item) for item in items]
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise _shape("ack", exc) from None


def encode_site_config(config: SiteConfig) -> bytes:
    return _dump(
        {
            "version": config.version,
            "issued_at": config.issued_at.isoformat(),
            "salt": config.salt,
            "policy": {
                "unknown_person": config.policy.unknown_person,
                "cooldown_s": config.policy.cooldown_s,
            },
            "allowlist": sorted(config.allowlist),
            "blocklist": sorted(config.blocklist),
        }
    )


def decode_site_config(payload: bytes) -> SiteConfig:
    body = _load(payload, "site config")
    try:
        policy = body["policy"]
        if policy["unknown_person"] not in UNKNOWN_PERSON_POLICIES:
            raise ValueError("unknown_person")
        issued_at = datetime.fromisoformat(body["issued_at"])
        if issued_at.tzinfo is None:
            raise ValueError("naive issued_at")
        bytes.fromhex(body["salt"])
        lists = [body["allowlist"], body["blocklist"]]
        if not all(isinstance(h, str) and len(h) == 64 for hashes in lists for h in hashes):
            raise ValueError("hash list")
        return SiteConfig(
            version=int(body["version"]),
            issued_at=issued_at,
            salt=body["salt"],
            policy=SitePolicy(policy["unknown_person"], int(policy["cooldown_s"])),
            allowlist=frozenset(body["allowlist"]),
            blocklist=frozenset(body["blocklist"]),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise _shape("site config", exc) from None


def encode_status(status: TerminalStatus) -> bytes:
    return _dump(
        {
            "state": status.state,
            "at": status.at.isoformat() if status.at else None,
            "software_version": status.software_version,
            "outbox_depth": status.outbox_depth,
            "outbox_alarm": status.outbox_alarm,
            "oldest_unacked_s": status.oldest_unacked_s,
            "clock_synced": status.clock_synced,
            "health": status.health,
        }
    )


def decode_status(payload: bytes) -> TerminalStatus:
    """Strict: every field has its type and a sane range, so that what is accepted here can
    always be stored (a retained status that cannot be stored would come back forever)."""
    body = _load(payload, "status")
    try:
        if body["state"] not in ("online", "offline"):
            raise ValueError("state")
        at = _optional_aware(body.get("at"))
        health = body.get("health") or {}
        if len(health) > MAX_HEALTH_ITEMS or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 32 and len(v) <= 32
            for k, v in health.items()
        ):
            raise ValueError("health")
        version = body.get("software_version")
        if version is not None and (not isinstance(version, str) or len(version) > 64):
            raise ValueError("software_version")
        depth = body.get("outbox_depth", 0)
        if type(depth) is not int or not 0 <= depth < 2**31:
            raise ValueError("outbox_depth")
        oldest = body.get("oldest_unacked_s")
        if oldest is not None and (type(oldest) not in (int, float) or not 0 <= oldest < 10**9):
            raise ValueError("oldest_unacked_s")
        alarm, synced = body.get("outbox_alarm", False), body.get("clock_synced")
        if not isinstance(alarm, bool) or not (synced is None or isinstance(synced, bool)):
            raise ValueError("outbox_alarm/clock_synced")
        return TerminalStatus(
            state=body["state"],
            at=at,
            software_version=version,
            outbox_depth=depth,
            outbox_alarm=alarm,
            oldest_unacked_s=float(oldest) if oldest is not None else None,
            clock_synced=synced,
            health=dict(health),
        )
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise _shape("status", exc) from None


def _optional_aware(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None or not 2000 <= moment.astimezone(UTC).year < 2100:
        raise ValueError("at")
    return moment
