"""The other MQTT payloads: the controller's end-to-end ack, the retained site config, a
terminal's retained status and its refusal summaries. Each decoder raises ``BadMessage`` and
nothing else."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from presence.clock import MAX_MONO_S, is_boot_id
from presence.errors import PresenceError
from presence.ids import PersonId

MESSAGE_VERSION = 1
# The site config's own version: 2 since its lists hold scrypt hashes. A terminal of version
# 1 refuses a v2 config ("unsupported version") instead of misreading it; this one still
# reads v1 (SHA-256), so that a terminal upgraded before its controller keeps working.
SITE_CONFIG_VERSION = 2
SITE_CONFIG_VERSIONS = (1, 2)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # a site config with a large allowlist
MAX_HEALTH_ITEMS = 16
# A terminal publishes its status at least this often; the controller calls a terminal
# silent when its latest heartbeat is older than ``SILENT_AFTER_HEARTBEATS`` of them.
HEARTBEAT_S = 30.0
SILENT_AFTER_HEARTBEATS = 3
MAX_REFUSAL_COUNTS = 1000  # buckets in one refusal summary message
REFUSAL_SPANS = (1, 60)  # a bucket covers one minute, or an hour once coarsened
_REASON = re.compile(r"[a-z0-9_]{1,64}")

AckStatus = Literal["stored", "duplicate", "refused"]
UnknownPersonPolicy = Literal["refuse", "admit_and_flag"]
ACK_STATUSES = ("stored", "duplicate", "refused")
UNKNOWN_PERSON_POLICIES = ("refuse", "admit_and_flag")


class BadMessage(PresenceError):
    """A payload that is not the message it should be (codes: ``not_json``, ``shape``,
    ``version``, ``too_large``, ``hash_scheme``)."""


@dataclass(frozen=True, slots=True)
class HashScheme:
    """How a person id becomes an entry of the site config's lists.

    ``scrypt`` (site config v2): memory-hard and slow on purpose, because the salt is
    published beside the hashes and national numbers are few per birth date (README,
    "What a stolen terminal reveals"). n=1024, r=8, p=1 takes 1 MB and about 1.6 ms on the
    development machine, about 7 ms on a Raspberry Pi 4 (assumed 4x slower per core): one
    hash per check-in, within the terminal's decision budget (p99 15 ms here; n=2048 took
    it to 16-19 ms under load, docs/performance.md). ``sha256`` is the v1 scheme, read for
    compatibility only."""

    kdf: Literal["scrypt", "sha256"] = "scrypt"
    n: int = 1024
    r: int = 8
    p: int = 1

    def check(self) -> None:
        """Refuse parameters that would make a check-in slow or are not scrypt's (a config
        is not trusted to choose any cost it likes); raises ``BadMessage("hash_scheme")``."""
        if self.kdf == "sha256":
            return
        ok = (
            self.kdf == "scrypt"
            and all(type(v) is int for v in (self.n, self.r, self.p))
            and MIN_SCRYPT_N <= self.n <= MAX_SCRYPT_N
            and self.n & (self.n - 1) == 0
            and 1 <= self.r <= 16
            and self.p == 1
            and 128 * self.n * self.r <= MAX_SCRYPT_BYTES
        )
        if not ok:
            raise BadMessage("hash_scheme", f"unusable hash scheme {self.kdf} n={self.n} "
                             f"r={self.r} p={self.p}")  # fmt: skip


MIN_SCRYPT_N = 2**10
MAX_SCRYPT_N = 2**14
MAX_SCRYPT_BYTES = 8 * 1024 * 1024  # 128 * n * r: at most 8 MB, 8x today's cost
SCRYPT = HashScheme()
LEGACY_SHA256 = HashScheme("sha256", 0, 0, 0)
PERSON_HASH_CACHE = 4096  # the terminal's recent people: their hash is not computed again


def hash_digits(salt: str, digits: str, scheme: HashScheme = SCRYPT) -> str:
    """The list entry of the person whose bare id digits are ``digits`` (``salt`` is hex)."""
    secret = digits.encode("ascii")
    if scheme.kdf == "sha256":
        return hashlib.sha256(bytes.fromhex(salt) + secret).hexdigest()
    # hashlib.scrypt releases the GIL: the controller hashes a roster on all cores.
    return hashlib.scrypt(
        secret, salt=bytes.fromhex(salt), n=scheme.n, r=scheme.r, p=scheme.p, dklen=32,
        maxmem=2 * MAX_SCRYPT_BYTES,
    ).hex()  # fmt: skip


@functools.lru_cache(maxsize=PERSON_HASH_CACHE)
def _cached_hash(salt: str, digits: str, scheme: HashScheme) -> str:
    return hash_digits(salt, digits, scheme)


def person_hash(salt: str, person: PersonId, scheme: HashScheme = SCRYPT) -> str:
    """The entry under which ``person`` appears in a site config's lists (see ``HashScheme``).

    Remembered for the last ``PERSON_HASH_CACHE`` people, so the blocklist and the allowlist
    checks of one check-in, and a person's later passages, cost one hash."""
    return _cached_hash(salt, person.digits, scheme)


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
    scheme: HashScheme = SCRYPT

    def hash_of(self, person: PersonId) -> str:
        return person_hash(self.salt, person, self.scheme)

    @property
    def format(self) -> int:
        """The format it travels in: 1 (SHA-256) or 2 (scrypt). A controller that publishes
        version 2 also reads what its terminals add since: the boot and monotonic moment
        in check-ins, refusal summaries. A terminal sends those only to such a controller
        (``controller_reads_v2``): an older one would refuse the events, and the terminal
        would drop them."""
        return 1 if self.scheme.kdf == "sha256" else SITE_CONFIG_VERSION


def controller_reads_v2(config: SiteConfig | None) -> bool:
    """Whether the controller that published ``config`` reads boot ids in check-ins and
    refusal summaries (see ``SiteConfig.format``)."""
    return config is not None and config.format >= 2


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
    # A heartbeat's moment on the terminal's monotonic clock (presence.clock), and the
    # message expiry it was published with: together they let the controller tell a live
    # heartbeat from one that waited in the broker. Absent from older terminals' statuses.
    boot_id: str | None = None
    mono_s: float | None = None
    expiry_s: int | None = None
    # Where NTP set the clock right in recent boots (``ClockPin``): check-ins of a boot that
    # never reached the controller with a live heartbeat are dated by them.
    clock_pins: tuple[ClockPin, ...] = ()


@dataclass(frozen=True, slots=True)
class ClockPin:
    """The moment a terminal's clock became NTP-synchronised in one boot: its monotonic
    reading then and its (then right) wall clock. The pair dates any moment of that boot by
    monotonic distance, also the check-ins taken before the sync with a wrong clock."""

    boot_id: str
    mono_s: float
    at: datetime


MAX_CLOCK_PINS = 8  # in one status


@dataclass(frozen=True, slots=True)
class RefusalCount:
    """How many refusals of one reason a terminal summarised for one minute (or hour).

    Keyed by the terminal's boot and monotonic minute, which never repeat, so a summary sent
    twice, or coarsened later, replaces what the controller holds instead of adding to it.
    ``at`` is the terminal's wall clock at the bucket's first refusal."""

    boot_id: str
    minute: int  # floor(monotonic seconds / 60) in that boot
    span: int  # minutes covered: 1, or 60 once coarsened
    reason: str
    at: datetime
    clock_synced: bool
    count: int


@dataclass(frozen=True, slots=True)
class RefusalSummary:
    """Refusals a terminal recorded only in its local log, summarised; acked by ``id``."""

    id: uuid.UUID
    counts: tuple[RefusalCount, ...]


def _dump(body: dict[str, Any], version: int = MESSAGE_VERSION) -> bytes:
    return json.dumps({"v": version, **body}, separators=(",", ":")).encode()


def _load(
    payload: bytes, what: str, versions: tuple[int, ...] = (MESSAGE_VERSION,)
) -> dict[str, Any]:
    if len(payload) > MAX_MESSAGE_BYTES:
        raise BadMessage("too_large", f"{what} over {MAX_MESSAGE_BYTES} bytes")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadMessage("not_json", f"{what} is not UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise BadMessage("shape", f"{what} must be a JSON object")
    version = body.get("v")
    if type(version) is not int or version not in versions:
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
    """Version 2 with its hash scheme; a config of the legacy SHA-256 scheme (read from a v1
    payload) is written back as v1, so that a kept config reads as what it was."""
    body: dict[str, Any] = {
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
    if config.scheme.kdf == "sha256":
        return _dump(body, 1)
    scheme = config.scheme
    body["hash"] = {"kdf": scheme.kdf, "n": scheme.n, "r": scheme.r, "p": scheme.p}
    return _dump(body, SITE_CONFIG_VERSION)


def decode_site_config(payload: bytes) -> SiteConfig:
    """A v2 config (scrypt, parameters within ``HashScheme.check``) or a v1 one (SHA-256).
    Codes: ``version`` for any other version, ``hash_scheme`` for a scheme this terminal
    will not run, and the usual ``not_json``/``shape``/``too_large``."""
    body = _load(payload, "site config", SITE_CONFIG_VERSIONS)
    scheme = _hash_scheme(body)
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
            scheme=scheme,
        )
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise _shape("site config", exc) from None


def _hash_scheme(body: dict[str, Any]) -> HashScheme:
    if body["v"] == 1:
        if "hash" in body:
            raise BadMessage("shape", "a v1 site config has no hash scheme")
        return LEGACY_SHA256
    spec = body.get("hash")
    if not isinstance(spec, dict) or set(spec) != {"kdf", "n", "r", "p"}:
        raise BadMessage("shape", "site config hash must be {kdf, n, r, p}")
    if spec["kdf"] != "scrypt":
        raise BadMessage("hash_scheme", "site config hash kdf is not scrypt")
    scheme = HashScheme("scrypt", spec["n"], spec["r"], spec["p"])
    scheme.check()
    return scheme


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
            **_status_clock(status),
        }
    )


def _encode_pins(pins: Sequence[ClockPin]) -> list[dict[str, Any]]:
    return [
        {"boot_id": p.boot_id, "mono_s": round(p.mono_s, 6), "at": p.at.isoformat()} for p in pins
    ]


def _decode_pins(value: Any) -> tuple[ClockPin, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_CLOCK_PINS:
        raise ValueError("clock_pins")
    pins = []
    for item in value:
        boot_id, mono, at = item["boot_id"], item["mono_s"], _optional_aware(item["at"])
        if (
            not is_boot_id(boot_id)
            or not isinstance(mono, int | float)
            or isinstance(mono, bool)
            or not 0 <= mono < MAX_MONO_S
            or at is None
        ):
            raise ValueError("clock_pins")
        pins.append(ClockPin(boot_id, float(mono), at))
    return tuple(pins)


def _status_clock(status: TerminalStatus) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if status.boot_id is not None and status.mono_s is not None:
        fields["boot_id"] = status.boot_id
        fields["mono_s"] = round(status.mono_s, 6)
    if status.expiry_s is not None:
        fields["expiry_s"] = status.expiry_s
    if status.clock_pins:
        fields["clock_pins"] = _encode_pins(status.clock_pins)
    return fields


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
        boot_id, mono_s, expiry_s = _status_clock_fields(body)
        return TerminalStatus(
            state=body["state"],
            at=at,
            software_version=version,
            outbox_depth=depth,
            outbox_alarm=alarm,
            oldest_unacked_s=float(oldest) if oldest is not None else None,
            clock_synced=synced,
            health=dict(health),
            boot_id=boot_id,
            mono_s=mono_s,
            expiry_s=expiry_s,
            clock_pins=_decode_pins(body.get("clock_pins")),
        )
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise _shape("status", exc) from None


def _status_clock_fields(body: dict[str, Any]) -> tuple[str | None, float | None, int | None]:
    boot_id, mono = body.get("boot_id"), body.get("mono_s")
    if (boot_id is None) != (mono is None):
        raise ValueError("boot_id and mono_s come together")
    if boot_id is not None and (
        not is_boot_id(boot_id)
        or not isinstance(mono, int | float)
        or isinstance(mono, bool)
        or not 0 <= mono < MAX_MONO_S
    ):
        raise ValueError("boot_id/mono_s")
    expiry = body.get("expiry_s")
    if expiry is not None and (type(expiry) is not int or not 1 <= expiry <= 86400):
        raise ValueError("expiry_s")
    return boot_id, float(mono) if mono is not None else None, expiry


def is_refusal_summary(payload: bytes) -> bool:
    """Whether a payload on the status topic is a refusal summary rather than a status (a
    cheap look: ``decode_refusal_summary`` is the strict check)."""
    return b'"refusals"' in payload[:64]


def encode_refusal_summary(summary: RefusalSummary) -> bytes:
    """``{"v": 1, "refusals": {"id": .., "counts": [..]}}``, published on the terminal's
    status topic, not retained (the retained status stays the heartbeat)."""
    if not 0 < len(summary.counts) <= MAX_REFUSAL_COUNTS:
        raise ValueError(f"a refusal summary holds 1 to {MAX_REFUSAL_COUNTS} counts")
    counts = [
        {
            "boot_id": c.boot_id,
            "minute": c.minute,
            "span": c.span,
            "reason": c.reason,
            "at": c.at.isoformat(),
            "clock_synced": c.clock_synced,
            "count": c.count,
        }
        for c in summary.counts
    ]
    return _dump({"refusals": {"id": str(summary.id), "counts": counts}})


def decode_refusal_summary(payload: bytes) -> RefusalSummary:
    body = _load(payload, "refusal summary")
    try:
        if set(body) != {"v", "refusals"}:
            raise ValueError("fields")
        refusals = body["refusals"]
        if set(refusals) != {"id", "counts"}:
            raise ValueError("refusals fields")
        items = refusals["counts"]
        if not isinstance(items, list) or not 0 < len(items) <= MAX_REFUSAL_COUNTS:
            raise ValueError("counts")
        return RefusalSummary(uuid.UUID(refusals["id"]), tuple(_count_of(i) for i in items))
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise _shape("refusal summary", exc) from None


_COUNT_FIELDS = {"boot_id", "minute", "span", "reason", "at", "clock_synced", "count"}


def _count_of(item: Any) -> RefusalCount:
    if not isinstance(item, dict) or set(item) != _COUNT_FIELDS:
        raise ValueError("count fields")
    minute, span, count = item["minute"], item["span"], item["count"]
    if type(minute) is not int or not 0 <= minute < MAX_MONO_S / 60:
        raise ValueError("minute")
    if type(span) is not int or span not in REFUSAL_SPANS or minute % span:
        raise ValueError("span")
    if type(count) is not int or not 0 < count < 2**31:
        raise ValueError("count")
    if not is_boot_id(item["boot_id"]) or not isinstance(item["reason"], str):
        raise ValueError("boot_id/reason")
    if not _REASON.fullmatch(item["reason"]) or not isinstance(item["clock_synced"], bool):
        raise ValueError("reason/clock_synced")
    at = _optional_aware(item["at"])
    if at is None:
        raise ValueError("at")
    return RefusalCount(
        item["boot_id"], minute, span, item["reason"], at, item["clock_synced"], count
    )


def _optional_aware(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None or not 2000 <= moment.astimezone(UTC).year < 2100:
        raise ValueError("at")
    return moment
