"""The controller's tables: one schema for SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)

SCHEMA_VERSION = 2  # 2: presences.state holds 24 characters (possible_same_person)

# Presence states (issue 4). ``sent``: claimed by a relay batch whose answer is not stored yet.
PENDING = "pending"
NEEDS_EMPLOYER = "needs_employer"
SENT = "sent"
REGISTERED = "registered"
VALIDATED = "validated"
FAILED_REMARKS = "failed_remarks"
REJECTED = "rejected"
MISSED = "missed"
CANCELLED = "cancelled"
# Held, never sent: maybe the same person as another presence of the day under their other
# number (a national number and a Limosa id); the site manager decides (same-person).
POSSIBLE_SAME = "possible_same_person"
STATES = (
    PENDING,
    NEEDS_EMPLOYER,
    SENT,
    REGISTERED,
    VALIDATED,
    FAILED_REMARKS,
    REJECTED,
    MISSED,
    CANCELLED,
    POSSIBLE_SAME,
)
ANOMALY_STATES = (NEEDS_EMPLOYER, REJECTED, FAILED_REMARKS, MISSED, POSSIBLE_SAME)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python; naive UTC in SQLite, timestamptz in PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()
Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrement needs INTEGER

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", UtcDateTime, nullable=False),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

batches = Table(
    "registry_batches",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # sending | done | in_doubt | resolved
    Column("item_count", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("error", Text),
    Index("ix_batches_state", "state"),
)

presences = Table(
    "presences",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("client_ref", String(24), nullable=False, unique=True),
    Column("person_kind", String(8), nullable=False),  # inss | limosa
    Column("person_id", String(20), nullable=False),
    Column("workplace_id", String(13), nullable=False),
    Column("date", Date, nullable=False),
    Column("company_id", String(10)),
    Column("state", String(24), nullable=False),
    Column("source", String(16), nullable=False),  # checkin | preregister
    Column("first_event_id", String(36)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("batch_id", ForeignKey("registry_batches.id")),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("receipt_id", String(64)),
    Column("registry_status", String(40)),
    Column("remarks", Text),  # JSON list of NSSO remark strings / error codes
    Column("registered_at", UtcDateTime),
    Column("polled_at", UtcDateTime),
    # JSON list of earlier receipts this presence replaced (cancel or rejection + requeue)
    Column("previous_receipts", Text),
    # Set when the retention period purged the person's number (controller.retention):
    # person_id then holds a placeholder, this the masked number.
    Column("person_masked", String(24)),
    # A ``possible_same_person`` presence: the presence of the day it may duplicate.
    Column("same_as_id", ForeignKey("presences.id")),
    # A ``missed`` presence the site manager has dealt with (controller.anomaly_actions).
    Column("acknowledged_at", UtcDateTime),
    Column("acknowledged_by", String(100)),
    Column("ack_comment", Text),
    UniqueConstraint("person_kind", "person_id", "workplace_id", "date", name="uq_presence"),
    Index("ix_presences_state_date", "state", "date"),
    Index("ix_presences_receipt", "receipt_id"),
    Index("ix_presences_date", "date"),  # the console's day views
)

events = Table(
    "checkin_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("terminal_id", String(64), nullable=False),
    Column("workplace_id", String(13), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("scanned_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("dated_at", UtcDateTime, nullable=False),  # the moment the presence is dated by
    Column("clock_synced", Boolean, nullable=False),
    Column("clock_correction_s", Float),  # received - scanned when the receive time was used
    Column("person_kind", String(8), nullable=False),
    Column("person_id", String(20), nullable=False),
    Column("credential_kind", String(16), nullable=False),
    Column("direction", String(3), nullable=False),
    Column("decision", String(8), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("presence_id", ForeignKey("presences.id")),
    Column("payload", LargeBinary, nullable=False),
    Column("person_masked", String(24)),  # set by the retention purge, as on presences
    Index("ix_events_person_dated", "person_kind", "person_id", "dated_at"),
    # The console's day views (feed, on site, refusals, first check-in of a presence).
    Index("ix_events_dated", "dated_at"),
    Index("ix_events_presence", "presence_id"),
)

roster = Table(
    "roster",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_kind", String(8), nullable=False),
    Column("person_id", String(20), nullable=False),
    Column("company_id", String(10), nullable=False),
    Column("valid_from", Date),
    Column("valid_to", Date),
    Column("source", String(200), nullable=False),
    Column("imported_at", UtcDateTime, nullable=False),
    # Who the person is, for the site manager's lists (never sent to terminals or NSSO).
    Column("name", String(200)),
    # A national number's Limosa id, when the roster links them: one person, one presence.
    Column("limosa_id", String(20)),
    # Refused at the gate (the site config's blocklist) while true.
    Column("blocked", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("person_kind", "person_id", "company_id", name="uq_roster"),
)

terminals = Table(
    "terminals",
    metadata,
    Column("terminal_id", String(64), primary_key=True),
    Column("direction", String(3), nullable=False),
    Column("cert_serial", String(80), nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("last_state", String(8)),
    Column("last_status_at", UtcDateTime),
    Column("last_seen_at", UtcDateTime),
    Column("outbox_depth", Integer),
    Column("outbox_alarm", Boolean),
    Column("clock_synced", Boolean),
    # The terminal's clock minus ours, seconds, from its latest live heartbeat: what dates
    # the check-ins of a terminal whose clock is not synchronised.
    Column("clock_offset_s", Float),
    Column("software_version", String(64)),
    # The heartbeat's health items (JSON object of short strings: reader, camera, flow...).
    Column("health", Text),
    # The terminal's own time in the heartbeat that set clock_offset_s: a later heartbeat
    # must be newer to replace it (controller.heartbeats).
    Column("clock_heartbeat_at", UtcDateTime),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("topic", String(256), nullable=False),
    Column("terminal_id", String(64)),
    Column("event_id", String(36)),
    Column("reason", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    # At most QUARANTINE_KEEP_BYTES of the payload (controller.quarantine), with the whole
    # payload's length and SHA-256: evidence of what came, without a 20 MiB row per visit.
    Column("payload", LargeBinary, nullable=False),
    Column("payload_length", BigInteger),
    Column("payload_sha256", String(64)),
    Index("ix_quarantine_sha256", "payload_sha256"),
)

# One running controller per identity (its broker client id): controller.lease.
controller_leases = Table(
    "controller_leases",
    metadata,
    Column("identity", String(256), primary_key=True),
    Column("holder", String(200), nullable=False),  # host:pid:random
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("renewed_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

# A national number and a Limosa id that are (same=true) or are not (same=false) one person,
# as NSSO's answer or the site manager said; the roster's own links are roster.limosa_id.
person_links = Table(
    "person_links",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("inss", String(11), nullable=False),
    Column("limosa_id", String(20), nullable=False),
    Column("same", Boolean, nullable=False),
    Column("source", String(16), nullable=False),  # nsso | site_manager
    Column("recorded_at", UtcDateTime, nullable=False),
    UniqueConstraint("inss", "limosa_id", name="uq_person_link"),
)

# Who did what in the console or with a site-manager command (controller.audit).
audit = Table(
    "audit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("who", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default=""),
    Column("address", String(64)),
    Index("ix_audit_at", "at"),
)

# Alerts already mailed, one row per condition (controller.alerts): each alert goes once.
alerts_sent = Table(
    "alerts_sent",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("subject", String(128), primary_key=True),
    Column("sent_at", UtcDateTime, nullable=False),
)

# --- the web console (controller.accounts) -------------------------------------------------

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # viewer | manager | team-leader
    Column("password_hash", String(200), nullable=False),  # argon2id, PHC string
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("created_at", UtcDateTime, nullable=False),
    Column("password_changed_at", UtcDateTime, nullable=False),
    Column("last_login_at", UtcDateTime),
)

# Server-side sessions: the cookie holds a random token, the table only its SHA-256, so a
# copy of the database opens no session; logout and ``user disable`` end sessions at once.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("address", String(64)),
    Index("ix_web_sessions_account", "account_id"),
)

# A terminal's monotonic clock, pinned to ours per boot by its latest live heartbeat of that
# boot (controller.checkins.ClockRef): what dates the check-ins of that boot.
terminal_clocks = Table(
    "terminal_clocks",
    metadata,
    Column("terminal_id", String(64), primary_key=True),
    Column("boot_id", String(36), primary_key=True),
    Column("mono_s", Float, nullable=False),
    Column("seen_at", UtcDateTime, nullable=False),
)

# Where NTP set a terminal's clock right in one boot (presence.messages.ClockPin), as its
# heartbeats carried it: dates the check-ins of a boot no live heartbeat pinned
# (controller.heartbeats).
terminal_clock_pins = Table(
    "terminal_clock_pins",
    metadata,
    Column("terminal_id", String(64), primary_key=True),
    Column("boot_id", String(36), primary_key=True),
    Column("mono_s", Float, nullable=False),
    Column("synced_at", UtcDateTime, nullable=False),  # the terminal's synchronised clock
    Column("received_at", UtcDateTime, nullable=False),
)

# Refusals a terminal kept only in its local log, summarised per reason and minute of its
# monotonic clock (presence.messages.RefusalCount); ``dated_at`` is our estimate of the
# bucket's start. Totals are the sum over ``span`` 1 and 60 rows.
refusal_counts = Table(
    "refusal_counts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("terminal_id", String(64), nullable=False),
    Column("boot_id", String(36), nullable=False),
    Column("minute", BigInteger, nullable=False),
    Column("span", Integer, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("count", Integer, nullable=False),
    Column("terminal_at", UtcDateTime, nullable=False),
    Column("clock_synced", Boolean, nullable=False),
    Column("dated_at", UtcDateTime, nullable=False),
    # heartbeat | ntp_pin | terminal | terminal_unsynced (controller.refusals)
    Column("dated_by", String(20), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    UniqueConstraint("terminal_id", "boot_id", "minute", "span", "reason", name="uq_refusal_count"),
    Index("ix_refusal_counts_dated", "dated_at"),
)

# Each roster person's site-config list entry (presence.messages.HashScheme), kept because a
# slow hash is worth computing once: ``scheme`` names the kdf, its parameters and the salt.
person_hashes = Table(
    "person_hashes",
    metadata,
    Column("person_kind", String(8), primary_key=True),
    Column("person_id", String(20), primary_key=True),
    Column("scheme", String(96), primary_key=True),
    Column("hash", String(64), nullable=False),
)
