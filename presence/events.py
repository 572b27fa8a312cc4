"""The check-in event a terminal publishes, and its JSON codec.

``decode`` is the trust boundary of the controller: it accepts exactly one shape and turns
anything else, whatever the bytes, into ``BadEvent`` with a stable code.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, cast

import uuid6

from presence.clock import MAX_MONO_S, is_boot_id
from presence.errors import PresenceError
from presence.ids import (
    InvalidIdentifier,
    PersonId,
    WorkplaceId,
    parse_inss,
    parse_limosa_id,
    parse_workplace_id,
)

SCHEMA_VERSION = 1
MAX_EVENT_BYTES = 8 * 1024
EARLIEST_SCAN = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_SCAN = datetime(2100, 1, 1, tzinfo=UTC)

CredentialKind = Literal["eid", "l1_qr", "keypad_inss", "keypad_limosa"]
Direction = Literal["in", "out"]
Decision = Literal["admitted", "refused"]

CREDENTIAL_KINDS: tuple[str, ...] = ("eid", "l1_qr", "keypad_inss", "keypad_limosa")
DIRECTIONS: tuple[str, ...] = ("in", "out")
DECISIONS: tuple[str, ...] = ("admitted", "refused")
_INSS_KINDS = ("eid", "keypad_inss")
_CODE = re.compile(r"[a-z0-9_]{1,64}")
_TERMINAL = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_CARD_NUMBER = re.compile(r"[A-Z0-9]{6,16}")

_EVENT_FIELDS = {
    "v", "event_id", "terminal_id", "workplace_id", "seq", "scanned_at", "clock_synced",
    "credential", "direction", "decision", "reason",
}  # fmt: skip
# Optional, both or neither: the moment of the scan on the terminal's monotonic clock. Events
# of terminals older than these fields lack them and stay valid (same schema version).
_CLOCK_FIELDS = {"boot_id", "mono_s"}
_CREDENTIAL_FIELDS: dict[str, set[str]] = {
    "eid": {"kind", "inss", "card_number", "card_valid_until"},
    "keypad_inss": {"kind", "inss"},
    "l1_qr": {"kind", "limosa_id"},
    "keypad_limosa": {"kind", "limosa_id"},
}


class BadEvent(PresenceError):
    """A payload that is not a valid check-in. Codes: ``too_large``, ``not_json``,
    ``not_object``, ``version``, ``missing_field``, ``extra_field``, ``wrong_type``,
    ``bad_value``, ``bad_identifier``, ``naive_datetime``."""


@dataclass(frozen=True, slots=True)
class Credential:
    kind: CredentialKind
    person: PersonId
    card_number: str | None = None
    card_valid_until: date | None = None


@dataclass(frozen=True, slots=True)
class CheckIn:
    event_id: uuid.UUID
    terminal_id: str
    workplace_id: WorkplaceId
    seq: int
    scanned_at: datetime
    clock_synced: bool
    credential: Credential
    direction: Direction
    decision: Decision
    reason: str
    boot_id: str | None = None  # the terminal's boot (presence.clock) ...
    mono_s: float | None = None  # ... and its monotonic clock at the scan

    def __post_init__(self) -> None:
        if self.scanned_at.tzinfo is None or self.scanned_at.utcoffset() is None:
            raise BadEvent("naive_datetime", "scanned_at must be timezone-aware")
        if (self.boot_id is None) != (self.mono_s is None):
            raise BadEvent("missing_field", "boot_id and mono_s come together")


def new_event_id() -> uuid.UUID:
    """A UUIDv7: unique, and sortable by creation time."""
    return uuid.UUID(str(uuid6.uuid7()))


def is_valid_terminal_id(text: str) -> bool:
    return isinstance(text, str) and _TERMINAL.fullmatch(text) is not None


def is_valid_reason(text: str) -> bool:
    return isinstance(text, str) and _CODE.fullmatch(text) is not None


def encode(event: CheckIn) -> bytes:
    cred = event.credential
    credential: dict[str, Any] = {"kind": cred.kind}
    if cred.kind in _INSS_KINDS:
        credential["inss"] = str(cred.person.digits)
    else:
        credential["limosa_id"] = str(cred.person.digits)
    if cred.kind == "eid":
        credential["card_number"] = cred.card_number
        credential["card_valid_until"] = (
            cred.card_valid_until.isoformat() if cred.card_valid_until else None
        )
    body = {
        "v": SCHEMA_VERSION,
        "event_id": str(event.event_id),
        "terminal_id": event.terminal_id,
        "workplace_id": str(event.workplace_id),
        "seq": event.seq,
        "scanned_at": event.scanned_at.isoformat(),
        "clock_synced": event.clock_synced,
        "credential": credential,
        "direction": event.direction,
        "decision": event.decision,
        "reason": event.reason,
    }
    if event.boot_id is not None and event.mono_s is not None:
        body["boot_id"] = event.boot_id
        body["mono_s"] = round(event.mono_s, 6)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def decode(payload: bytes) -> CheckIn:
    """Parse a check-in payload; raises ``BadEvent`` and nothing else."""
    try:
        return _decode(payload)
    except BadEvent:
        raise
    except InvalidIdentifier as exc:
        raise BadEvent("bad_identifier", str(exc)) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise BadEvent("bad_value", f"unreadable value: {type(exc).__name__}") from None


def _decode(payload: bytes) -> CheckIn:
    if not isinstance(payload, bytes | bytearray):
        raise BadEvent("wrong_type", "payload must be bytes")
    if len(payload) > MAX_EVENT_BYTES:
        raise BadEvent("too_large", f"payload of {len(payload)} bytes, at most {MAX_EVENT_BYTES}")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadEvent("not_json", "payload is not UTF-8 JSON") from None
    obj = _object(body, "event")
    if "v" not in obj:
        raise BadEvent("missing_field", "missing field 'v'")
    if type(obj["v"]) is not int or obj["v"] != SCHEMA_VERSION:
        raise BadEvent("version", f"unsupported schema version, expected {SCHEMA_VERSION}")
    clock_fields = _CLOCK_FIELDS & obj.keys()
    _exact_fields(obj, _EVENT_FIELDS | clock_fields, "event")
    if clock_fields and clock_fields != _CLOCK_FIELDS:
        raise BadEvent("missing_field", "boot_id and mono_s come together")
    terminal_id = _text(obj, "terminal_id")
    if not is_valid_terminal_id(terminal_id):
        raise BadEvent("bad_value", "terminal_id must be 1-64 of a-z 0-9 _ -")
    reason = _text(obj, "reason")
    if not is_valid_reason(reason):
        raise BadEvent("bad_value", "reason must be 1-64 of a-z 0-9 _")
    return CheckIn(
        event_id=_event_id(_text(obj, "event_id")),
        terminal_id=terminal_id,
        workplace_id=parse_workplace_id(_text(obj, "workplace_id")),
        seq=_seq(obj),
        scanned_at=_aware_datetime(_text(obj, "scanned_at")),
        clock_synced=_bool(obj, "clock_synced"),
        credential=_credential(_object(_field(obj, "credential"), "credential")),
        direction=cast(Direction, _choice(obj, "direction", DIRECTIONS)),
        decision=cast(Decision, _choice(obj, "decision", DECISIONS)),
        reason=reason,
        boot_id=_boot_id(obj) if clock_fields else None,
        mono_s=_mono(obj) if clock_fields else None,
    )


def _boot_id(obj: dict[str, Any]) -> str:
    value = _text(obj, "boot_id")
    if not is_boot_id(value):
        raise BadEvent("bad_value", "boot_id must be a lowercase UUID")
    return value


def _mono(obj: dict[str, Any]) -> float:
    value = _field(obj, "mono_s")
    if type(value) not in (int, float):
        raise BadEvent("wrong_type", "mono_s must be a number")
    if not 0 <= value < MAX_MONO_S:  # also refuses NaN
        raise BadEvent("bad_value", "mono_s out of range")
    return float(value)


def _credential(obj: dict[str, Any]) -> Credential:
    kind = _choice(obj, "kind", CREDENTIAL_KINDS)
    _exact_fields(obj, _CREDENTIAL_FIELDS[kind], "credential")
    if kind not in _INSS_KINDS:
        return Credential(cast(CredentialKind, kind), parse_limosa_id(_text(obj, "limosa_id")))
    inss = parse_inss(_text(obj, "inss"))
    if kind == "keypad_inss":
        return Credential("keypad_inss", inss)
    card_number = _text(obj, "card_number")
    if not _CARD_NUMBER.fullmatch(card_number):
        raise BadEvent("bad_value", "card_number must be 6-16 letters or digits")
    valid_until = date.fromisoformat(_text(obj, "card_valid_until"))
    return Credential("eid", inss, card_number, valid_until)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadEvent("not_object", f"{what} must be a JSON object")
    return value


def _exact_fields(obj: dict[str, Any], expected: set[str], what: str) -> None:
    missing = expected - obj.keys()
    if missing:
        raise BadEvent("missing_field", f"{what} misses field {sorted(missing)[0]!r}")
    extra = obj.keys() - expected
    if extra:
        raise BadEvent("extra_field", f"{what} has unknown field {sorted(extra)[0][:40]!r}")


def _field(obj: dict[str, Any], key: str) -> Any:
    if key not in obj:
        raise BadEvent("missing_field", f"missing field {key!r}")
    return obj[key]


def _text(obj: dict[str, Any], key: str) -> str:
    value = _field(obj, key)
    if not isinstance(value, str):
        raise BadEvent("wrong_type", f"{key} must be a string")
    return value


def _bool(obj: dict[str, Any], key: str) -> bool:
    value = _field(obj, key)
    if not isinstance(value, bool):
        raise BadEvent("wrong_type", f"{key} must be true or false")
    return value


def _seq(obj: dict[str, Any]) -> int:
    value = _field(obj, "seq")
    if type(value) is not int:
        raise BadEvent("wrong_type", "seq must be an integer")
    if not 0 <= value < 2**63:
        raise BadEvent("bad_value", "seq out of range")
    return value


def _choice(obj: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = _text(obj, key)
    if value not in allowed:
        raise BadEvent("bad_value", f"{key} must be one of {', '.join(allowed)}")
    return value


def _event_id(text: str) -> uuid.UUID:
    if len(text) != 36:
        raise BadEvent("bad_value", "event_id must be a UUID in its 36-character form")
    value = uuid.UUID(text)
    if value.version != 7:
        raise BadEvent("bad_value", "event_id must be a UUIDv7")
    return value


def _aware_datetime(text: str) -> datetime:
    if len(text) > 40:
        raise BadEvent("bad_value", "scanned_at too long")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise BadEvent("naive_datetime", "scanned_at must carry a UTC offset")
    # Far-off years are no scan time, and near datetime's limits they overflow in UTC.
    if not EARLIEST_SCAN <= moment <= LATEST_SCAN:
        raise BadEvent("bad_value", "scanned_at is not between 2000 and 2100")
    return moment
