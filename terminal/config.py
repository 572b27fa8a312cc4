"""``terminal.toml``, parsed once at start-up into frozen dataclasses.

Every key is typed and range-checked, unknown keys are refused, and each error names the
file, the section and the key. Relative file paths are relative to the config file's folder.
A missing section takes its defaults; ``config_version`` and the ``[terminal]`` identity keys
are required.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from presence.events import Direction
from presence.ids import InvalidIdentifier, WorkplaceId, parse_workplace_id
from presence.messages import UnknownPersonPolicy
from terminal.drivers.gate import GateConfig, GateConfigError
from terminal.errors import TerminalError

CONFIG_VERSION = 1
_TERMINAL_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

ReaderBackend = Literal["pcsc", "fake", "none"]
CameraBackend = Literal["picamera2", "v4l2", "folder", "synthetic", "none"]
QrDecoderName = Literal["zxing", "zbar"]
KeypadBackend = Literal["evdev", "fake", "none"]


class ConfigError(TerminalError):
    """A config file that cannot be used. Codes: ``unreadable``, ``not_toml``, ``version``,
    ``missing_key``, ``unknown_key``, ``wrong_type``, ``out_of_range``, ``bad_value``."""

    def __init__(self, code: str, path: Path, where: str, problem: str) -> None:
        super().__init__(code, f"{path}: {where}: {problem}" if where else f"{path}: {problem}")
        self.path = path
        self.where = where


@dataclass(frozen=True, slots=True)
class TerminalSection:
    id: str
    workplace_id: WorkplaceId
    direction: Direction
    state_dir: Path


@dataclass(frozen=True, slots=True)
class BrokerSection:
    host: str = "127.0.0.1"
    port: int = 8883
    tls: bool = True
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = 30
    session_expiry_s: int = 86400


@dataclass(frozen=True, slots=True)
class ReaderSection:
    backend: ReaderBackend = "pcsc"
    name: str = ""


@dataclass(frozen=True, slots=True)
class CameraSection:
    backend: CameraBackend = "picamera2"
    width: int = 640
    height: int = 480
    fps: int = 15
    device: str = ""


@dataclass(frozen=True, slots=True)
class QrSection:
    decoder: QrDecoderName = "zxing"
    repeat_window_s: float = 3.0


@dataclass(frozen=True, slots=True)
class KeypadSection:
    backend: KeypadBackend = "none"
    device: str = ""
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class PolicySection:
    unknown_person: UnknownPersonPolicy = "refuse"
    allowlist_max_age_s: int = 86400
    cooldown_s: int = 60


@dataclass(frozen=True, slots=True)
class TerminalConfig:
    path: Path
    config_version: int
    terminal: TerminalSection
    broker: BrokerSection = field(default_factory=BrokerSection)
    reader: ReaderSection = field(default_factory=ReaderSection)
    camera: CameraSection = field(default_factory=CameraSection)
    qr: QrSection = field(default_factory=QrSection)
    keypad: KeypadSection = field(default_factory=KeypadSection)
    gate: GateConfig = field(default_factory=GateConfig)
    policy: PolicySection = field(default_factory=PolicySection)

    @property
    def outbox_path(self) -> Path:
        return self.terminal.state_dir / "outbox.db"


# --- value checkers: each returns the parsed value or raises ValueError/TypeError ----------

Check = Callable[[Any], Any]


class _WrongType(TypeError):
    pass


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _WrongType("must be a string")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _WrongType("must be true or false")
    return value


def _int(lo: int, hi: int) -> Check:
    def check(value: Any) -> int:
        if type(value) is not int:
            raise _WrongType("must be an integer")
        if not lo <= value <= hi:
            raise OverflowError(f"must be between {lo} and {hi}")
        return value

    return check


def _float(lo: float, hi: float) -> Check:
    def check(value: Any) -> float:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise _WrongType("must be a number")
        if not lo <= value <= hi:
            raise OverflowError(f"must be between {lo:g} and {hi:g}")
        return float(value)

    return check


def _choice(*allowed: str) -> Check:
    def check(value: Any) -> str:
        text = _str(value)
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return text

    return check


def _host(value: Any) -> str:
    text = _str(value).strip()
    if not text or any(c.isspace() for c in text):
        raise ValueError("must be a host name or address")
    return text


def _terminal_id(value: Any) -> str:
    text = _str(value)
    if not _TERMINAL_ID.fullmatch(text):
        raise ValueError("must be 1-64 of a-z 0-9 _ - starting with a letter or digit")
    return text


def _workplace(value: Any) -> WorkplaceId:
    try:
        return parse_workplace_id(_str(value))
    except InvalidIdentifier as exc:
        raise ValueError(str(exc)) from None


def _optional_path(base: Path) -> Check:
    def check(value: Any) -> Path | None:
        text = _str(value)
        return (base / text) if text else None

    return check


def _path(base: Path) -> Check:
    def check(value: Any) -> Path:
        text = _str(value)
        if not text:
            raise ValueError("must not be empty")
        return base / text

    return check


_REQUIRED = object()


def _schema(base: Path) -> dict[str, dict[str, tuple[Check, Any]]]:
    """section -> key -> (checker, default or _REQUIRED)."""
    opt_path = _optional_path(base)
    return {
        "terminal": {
            "id": (_terminal_id, _REQUIRED),
            "workplace_id": (_workplace, _REQUIRED),
            "direction": (_choice("in", "out"), _REQUIRED),
            "state_dir": (_path(base), "/var/lib/sitegate-terminal"),
        },
        "broker": {
            "host": (_host, "127.0.0.1"),
            "port": (_int(1, 65535), 8883),
            "tls": (_bool, True),
            "ca_file": (opt_path, ""),
            "cert_file": (opt_path, ""),
            "key_file": (opt_path, ""),
            "keepalive_s": (_int(5, 3600), 30),
            "session_expiry_s": (_int(0, 2**32 - 1), 86400),
        },
        "reader": {
            "backend": (_choice("pcsc", "fake", "none"), "pcsc"),
            "name": (_str, ""),
        },
        "camera": {
            "backend": (_choice("picamera2", "v4l2", "folder", "synthetic", "none"), "picamera2"),
            "width": (_int(16, 4096), 640),
            "height": (_int(16, 4096), 480),
            "fps": (_int(1, 120), 15),
            "device": (_str, ""),
        },
        "qr": {
            "decoder": (_choice("zxing", "zbar"), "zxing"),
            "repeat_window_s": (_float(0.0, 60.0), 3.0),
        },
        "keypad": {
            "backend": (_choice("evdev", "fake", "none"), "none"),
            "device": (_str, ""),
            "timeout_s": (_float(1.0, 120.0), 10.0),
        },
        "policy": {
            "unknown_person": (_choice("refuse", "admit_and_flag"), "refuse"),
            "allowlist_max_age_s": (_int(60, 30 * 86400), 86400),
            "cooldown_s": (_int(0, 3600), 60),
        },
    }


def load(path: str | Path) -> TerminalConfig:
    """Read and check ``path``; raises ``ConfigError`` and nothing else."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError("unreadable", path, "", exc.strerror or type(exc).__name__) from None
    except UnicodeDecodeError:
        raise ConfigError("unreadable", path, "", "not UTF-8 text") from None
    return parse(text, path)


def parse(text: str, path: Path) -> TerminalConfig:
    """Parse config text as if it were the file ``path`` (paths resolve beside it)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("not_toml", path, "", f"not valid TOML ({exc})") from None
    base = path.parent.resolve() if path.parent != Path("") else Path.cwd()
    schema = _schema(base)
    version = doc.get("config_version")
    if version is None:
        raise ConfigError("missing_key", path, "config_version", "missing")
    if type(version) is not int or version != CONFIG_VERSION:
        raise ConfigError("version", path, "config_version", f"must be {CONFIG_VERSION}")
    for key, value in doc.items():
        if key == "config_version":
            continue
        if key not in schema and key != "gate":
            raise ConfigError("unknown_key", path, key, "unknown section or key")
        if not isinstance(value, dict):
            raise ConfigError("wrong_type", path, f"[{key}]", "must be a table")
    sections = {name: _section(path, name, doc.get(name, {}), doc_keys)
                for name, doc_keys in schema.items()}  # fmt: skip
    gate = _gate(path, doc.get("gate", {}))
    return TerminalConfig(
        path=path,
        config_version=version,
        terminal=TerminalSection(**sections["terminal"]),
        broker=_broker(path, sections["broker"]),
        reader=ReaderSection(**sections["reader"]),
        camera=CameraSection(**sections["camera"]),
        qr=QrSection(**sections["qr"]),
        keypad=KeypadSection(**sections["keypad"]),
        gate=gate,
        policy=PolicySection(**sections["policy"]),
    )


def _section(
    path: Path, name: str, table: Mapping[str, Any], keys: dict[str, tuple[Check, Any]]
) -> dict[str, Any]:
    for key in table:
        if key not in keys:
            raise ConfigError("unknown_key", path, f"[{name}] {key}", "unknown key")
    values: dict[str, Any] = {}
    for key, (check, default) in keys.items():
        where = f"[{name}] {key}"
        if key not in table:
            if default is _REQUIRED:
                raise ConfigError("missing_key", path, where, "missing")
            values[key] = check(default)
            continue
        try:
            values[key] = check(table[key])
        except _WrongType as exc:
            raise ConfigError("wrong_type", path, where, str(exc)) from None
        except OverflowError as exc:
            raise ConfigError("out_of_range", path, where, str(exc)) from None
        except ValueError as exc:
            raise ConfigError("bad_value", path, where, str(exc)) from None
    return values


def _broker(path: Path, values: dict[str, Any]) -> BrokerSection:
    if (values["cert_file"] is None) != (values["key_file"] is None):
        raise ConfigError(
            "bad_value", path, "[broker] key_file", "cert_file and key_file go together"
        )
    if not values["tls"] and values["cert_file"] is not None:
        raise ConfigError("bad_value", path, "[broker] cert_file", "a client cert needs tls")
    return BrokerSection(**values)


_GATE_CODES = {"bad_type": "wrong_type", "bad_pin": "out_of_range", "pin_conflict": "bad_value"}


def _gate(path: Path, table: Mapping[str, Any]) -> GateConfig:
    """The gate driver checks its own section; its errors are restated as ``ConfigError``."""
    try:
        return GateConfig.from_table(table)
    except GateConfigError as exc:
        code = _GATE_CODES.get(exc.code, exc.code)
        raise ConfigError(code, path, f"[gate] {exc.key}", exc.detail) from None
