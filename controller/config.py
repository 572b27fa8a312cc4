"""``controller.toml``, parsed once at start-up into frozen dataclasses.

Unknown sections and keys are rejected; every error names the file, the section and the key.
Relative file paths are relative to the config file's directory.
"""

from __future__ import annotations

import tomllib
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from controller.errors import ConfigError
from presence.ids import InvalidIdentifier, parse_company_id, parse_workplace_id
from presence.messages import UNKNOWN_PERSON_POLICIES

CONFIG_VERSION = 1
DEFAULT_PATH = "/etc/sitegate/controller/controller.toml"  # where sitegate-provision puts it
DEFAULT_DATABASE_URL = "sqlite:////var/lib/sitegate/controller.db"


@dataclass(frozen=True, slots=True)
class SiteSection:
    workplace_id: str
    company_id: str = ""
    name: str = ""
    terminals_file: str = "terminals.toml"


@dataclass(frozen=True, slots=True)
class BrokerSection:
    host: str = "127.0.0.1"
    port: int = 8883
    tls: bool = True
    ca_file: str = "ca.pem"
    cert_file: str = "controller.pem"
    key_file: str = "controller.key"
    client_id: str = "sitegate-controller"
    session_expiry_s: int = 86400


@dataclass(frozen=True, slots=True)
class DatabaseSection:
    url: str = DEFAULT_DATABASE_URL


@dataclass(frozen=True, slots=True)
class RegistrySection:
    endpoint: str = "https://services-sim.socialsecurity.be/PresenceRegistration/v1"
    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    sign: bool = False
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class TimingSection:
    relay_interval_s: float = 2.0
    retry_base_s: float = 1.0
    retry_max_s: float = 300.0
    poll_interval_s: float = 60.0
    clock_skew_max_s: float = 300.0
    # How long a batch whose answer was lost stays untouched before searchPresences decides
    # what NSSO registered: a read timeout usually means NSSO is still working on it.
    in_doubt_grace_s: float = 120.0


@dataclass(frozen=True, slots=True)
class PolicySection:
    unknown_person: str = "refuse"
    cooldown_s: int = 60


# Five years: how long an inspection can still act on a day's registrations (the Social
# Penal Code's limitation period; docs/controller.md "Retention" gives the reasoning).
DEFAULT_RETENTION_DAYS = 1826
RETENTION_MIN_DAYS = 31  # a missed presence is registered by hand: its number must be there


@dataclass(frozen=True, slots=True)
class RetentionSection:
    days: int = DEFAULT_RETENTION_DAYS


SMTP_SECURITY = ("starttls", "ssl", "none")


@dataclass(frozen=True, slots=True)
class SmtpSection:
    """E-mail alerts (``controller.alerts``); the section is optional. The TOML key ``from``
    is held as ``sender``."""

    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 587
    security: str = "starttls"  # starttls | ssl | none (none: loopback relays only)
    user: str = ""
    password_file: str = ""
    ca_file: str = ""  # "" = the system trust store
    console_url: str = ""  # links in the mails, e.g. https://site-office.example:8443
    interval_s: float = 60.0
    timeout_s: float = 20.0


@dataclass(frozen=True, slots=True)
class WebSection:
    """The web console (controller/web): served when the section is present."""

    host: str = "0.0.0.0"
    port: int = 8443
    tls: bool = True  # plain HTTP is allowed on a loopback host only
    cert_file: str = "console.pem"  # issued by init-site from the site CA
    key_file: str = "console.key"
    session_idle_s: int = 7200
    session_max_s: int = 43200


@dataclass(frozen=True, slots=True)
class EnrolmentSection:
    """Terminals enrolling by QR code (``provisioning.enrol_service``, started by ``run``):
    served when the section is present. ``url`` is what the enrolment QR code carries;
    ``site_dir`` the site directory (CA, broker access control, terminals.toml)."""

    url: str
    host: str = "0.0.0.0"
    port: int = 8444
    cert_file: str = "console.pem"  # a server certificate of the site CA naming the host
    key_file: str = "console.key"
    site_dir: str = ".."
    broker_pid_file: str = "/run/mosquitto/mosquitto.pid"
    tries_per_minute: int = 10  # per client address


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    path: Path
    site: SiteSection
    broker: BrokerSection
    database: DatabaseSection
    registry: RegistrySection
    timing: TimingSection
    policy: PolicySection
    retention: RetentionSection = RetentionSection()
    config_version: int = CONFIG_VERSION
    web: WebSection | None = None  # no [web] section: no console
    smtp: SmtpSection | None = None
    enrolment: EnrolmentSection | None = None  # no [enrolment] section: no enrolment

    @property
    def terminals_path(self) -> Path:
        return self.site_path(self.site.terminals_file)

    def site_path(self, name: str) -> Path:
        """A file named in the config, resolved against the config file's directory."""
        return self.path.parent / name


_SECTIONS: dict[str, type] = {
    "site": SiteSection,
    "broker": BrokerSection,
    "database": DatabaseSection,
    "registry": RegistrySection,
    "timing": TimingSection,
    "policy": PolicySection,
    "retention": RetentionSection,
}
_POSITIVE = {
    ("broker", "port"),
    ("broker", "session_expiry_s"),
    ("registry", "connect_timeout_s"),
    ("registry", "read_timeout_s"),
    ("timing", "relay_interval_s"),
    ("timing", "retry_base_s"),
    ("timing", "retry_max_s"),
    ("timing", "poll_interval_s"),
    ("timing", "clock_skew_max_s"),
    ("web", "port"),
    ("web", "session_idle_s"),
    ("web", "session_max_s"),
}
_NOT_NEGATIVE = {("timing", "in_doubt_grace_s")}
_OPTIONAL_SECTIONS: dict[str, type] = {
    "smtp": SmtpSection,
    "web": WebSection,
    "enrolment": EnrolmentSection,
}
_POSITIVE |= {("smtp", "port"), ("smtp", "interval_s"), ("smtp", "timeout_s")}
_POSITIVE |= {("enrolment", "port"), ("enrolment", "tries_per_minute")}
_RENAMED = {("smtp", "from"): "sender"}  # TOML keys that are Python keywords
T = TypeVar("T")


def load(path: str | Path) -> ControllerConfig:
    """Read and validate ``path``; raises ``ConfigError`` and nothing else."""
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("unreadable", f"{file}: cannot read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("syntax", f"{file}: not valid TOML ({exc})") from None
    return parse(raw, file)


def parse(raw: dict[str, Any], file: Path) -> ControllerConfig:
    where = str(file)
    version = raw.get("config_version")
    if version is None:
        raise ConfigError("missing", f"{where}: key 'config_version' is missing")
    if type(version) is not int or version != CONFIG_VERSION:
        raise ConfigError(
            "version", f"{where}: config_version {version!r} unsupported (expected 1)"
        )
    for name, value in raw.items():
        if name == "config_version":
            continue
        if name not in _SECTIONS and name not in _OPTIONAL_SECTIONS:
            raise ConfigError("unknown_section", f"{where}: unknown section [{name}]")
        if not isinstance(value, dict):
            raise ConfigError("wrong_type", f"{where}: [{name}] must be a table")
    sections: dict[str, Any] = {
        name: _section(where, name, cls, raw.get(name, {})) for name, cls in _SECTIONS.items()
    }
    sections |= {
        name: _section(where, name, cls, raw[name])
        for name, cls in _OPTIONAL_SECTIONS.items()
        if name in raw
    }
    config = ControllerConfig(path=file.resolve(), **sections)
    _check(where, config)
    return config


def _section(where: str, name: str, cls: type[T], values: dict[str, Any]) -> T:
    values = {_RENAMED.get((name, key), key): value for key, value in values.items()}
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    for key in values:
        if key not in known:
            raise ConfigError("unknown_key", f"{where}: [{name}] unknown key '{key}'")
    kwargs: dict[str, Any] = {}
    for key, spec in known.items():
        if key not in values:
            if spec.default is MISSING:  # no default: required
                shown = next((k for (s, k), f in _RENAMED.items() if (s, f) == (name, key)), key)
                raise ConfigError("missing", f"{where}: [{name}] key '{shown}' is missing")
            continue
        kwargs[key] = _typed(where, name, key, values[key], spec.type)
    return cls(**kwargs)


def _typed(where: str, section: str, key: str, value: Any, kind: Any) -> Any:
    if str(kind) == "tuple[str, ...]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                "wrong_type", f"{where}: [{section}] key '{key}' must be a list of strings"
            )
        return tuple(value)
    expected = {"str": str, "int": int, "float": float, "bool": bool}[str(kind)]
    ok = type(value) is expected or (expected is float and type(value) is int)
    if not ok:
        raise ConfigError(
            "wrong_type", f"{where}: [{section}] key '{key}' must be {expected.__name__}"
        )
    if (section, key) in _POSITIVE and value <= 0:
        raise ConfigError("range", f"{where}: [{section}] key '{key}' must be positive")
    if (section, key) in _NOT_NEGATIVE and value < 0:
        raise ConfigError("range", f"{where}: [{section}] key '{key}' must not be negative")
    return float(value) if expected is float else value


def _check(where: str, config: ControllerConfig) -> None:
    def fail(section: str, key: str, why: str) -> ConfigError:
        return ConfigError("bad_value", f"{where}: [{section}] key '{key}' {why}")

    try:
        parse_workplace_id(config.site.workplace_id)
    except InvalidIdentifier as exc:
        raise fail("site", "workplace_id", str(exc)) from None
    if config.site.workplace_id != config.site.workplace_id.strip().upper():
        raise fail("site", "workplace_id", "must be upper-case letters and digits")
    if config.site.company_id:
        try:
            parse_company_id(config.site.company_id)
        except InvalidIdentifier as exc:
            raise fail("site", "company_id", str(exc)) from None
    if not 0 < config.broker.port < 65536:
        raise fail("broker", "port", "must be 1-65535")
    if not config.broker.client_id:
        raise fail("broker", "client_id", "must not be empty")
    if not config.database.url.startswith(("sqlite:", "postgresql")):
        raise fail("database", "url", "must be a sqlite:// or postgresql:// SQLAlchemy URL")
    if not config.registry.endpoint.startswith(("http://", "https://")):
        raise fail("registry", "endpoint", "must be an http(s) URL")
    if bool(config.registry.cert_file) != bool(config.registry.key_file):
        raise fail("registry", "key_file", "cert_file and key_file go together")
    if config.registry.sign and not config.registry.cert_file:
        raise fail("registry", "sign", "needs cert_file and key_file")
    if config.timing.retry_max_s < config.timing.retry_base_s:
        raise fail("timing", "retry_max_s", "must not be below retry_base_s")
    if config.policy.unknown_person not in UNKNOWN_PERSON_POLICIES:
        raise fail("policy", "unknown_person", f"must be one of {UNKNOWN_PERSON_POLICIES}")
    if config.policy.cooldown_s < 0:
        raise fail("policy", "cooldown_s", "must not be negative")
    if config.retention.days < RETENTION_MIN_DAYS:
        raise fail("retention", "days", f"must be at least {RETENTION_MIN_DAYS}")
    if config.web is not None:
        _check_web(config.web, fail)
    if config.smtp is not None:
        _check_smtp(config, fail)
    if config.enrolment is not None:
        _check_enrolment(config.enrolment, fail)


def _check_enrolment(enrolment: EnrolmentSection, fail: Any) -> None:
    from presence.enrolment import BadEnrolment, check_url

    try:
        check_url(enrolment.url)
    except BadEnrolment as exc:
        raise fail("enrolment", "url", str(exc)) from None
    if not 0 < enrolment.port < 65536:
        raise fail("enrolment", "port", "must be 1-65535")
    if not (enrolment.cert_file and enrolment.key_file):
        raise fail("enrolment", "cert_file", "cert_file and key_file are needed (HTTPS only)")


def _check_web(web: WebSection, fail: Any) -> None:
    from controller.web.listen import is_loopback

    if not 0 < web.port < 65536:
        raise fail("web", "port", "must be 1-65535")
    if not web.tls and not is_loopback(web.host):
        raise fail("web", "tls", "may be false only on a loopback host (127.0.0.1, ::1)")
    if web.tls and not (web.cert_file and web.key_file):
        raise fail("web", "cert_file", "cert_file and key_file are needed for TLS")
    if web.session_max_s < web.session_idle_s:
        raise fail("web", "session_max_s", "must not be below session_idle_s")


def _check_smtp(config: ControllerConfig, fail: Any) -> None:
    smtp = config.smtp
    assert smtp is not None
    if not smtp.host:
        raise fail("smtp", "host", "must not be empty")
    if not 0 < smtp.port < 65536:
        raise fail("smtp", "port", "must be 1-65535")
    if smtp.security not in SMTP_SECURITY:
        raise fail("smtp", "security", f"must be one of {', '.join(SMTP_SECURITY)}")
    if "@" not in smtp.sender:
        raise fail("smtp", "from", "must be an e-mail address")
    if not smtp.to or not all("@" in address for address in smtp.to):
        raise fail("smtp", "to", "must list at least one e-mail address")
    if bool(smtp.user) != bool(smtp.password_file):
        raise fail("smtp", "password_file", "user and password_file go together")
    if smtp.password_file and not config.site_path(smtp.password_file).is_file():
        raise fail("smtp", "password_file", "names no readable file")
    if smtp.console_url and not smtp.console_url.startswith(("http://", "https://")):
        raise fail("smtp", "console_url", "must be an http(s) URL")


def resolve(config: ControllerConfig, name: str) -> str:
    """A path key's value made absolute ("" stays "": not configured)."""
    return str(config.site_path(name)) if name else ""
