"""A terminal's bundle: ``terminal.toml`` (the schema ``terminal/config.py`` parses, agreed in
the team's contracts) with the CA certificate, the terminal's certificate and its key; as a
directory and as a ``.tar.gz`` to unpack into ``/etc/sitegate-terminal`` on the Pi."""

from __future__ import annotations

import copy
import io
import tarfile
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from provisioning import tomlgen
from provisioning.errors import ProvisioningError
from provisioning.fileset import PUBLIC, SECRET
from terminal.drivers.gate import GateConfig

CONFIG_VERSION = 1
CONFIG_NAME = "terminal.toml"
CA_NAME = "ca.pem"
CERT_NAME = "terminal.pem"
KEY_NAME = "terminal.key"
STATE_DIR = "/var/lib/sitegate-terminal"  # systemd StateDirectory=sitegate-terminal

# Every section and key of terminal.toml, with the default provisioning writes.
DEFAULTS: dict[str, dict[str, Any]] = {
    "terminal": {"id": "", "workplace_id": "", "direction": "in", "state_dir": STATE_DIR},
    "broker": {
        "host": "127.0.0.1",
        "port": 8883,
        "tls": True,
        "ca_file": CA_NAME,
        "cert_file": CERT_NAME,
        "key_file": KEY_NAME,
        "keepalive_s": 30,
        "session_expiry_s": 86400,
    },
    "reader": {"backend": "pcsc", "name": ""},
    "camera": {"backend": "picamera2", "width": 640, "height": 480, "fps": 15, "device": ""},
    "qr": {"decoder": "zxing", "repeat_window_s": 3.0},
    "keypad": {"backend": "none", "device": "", "timeout_s": 10.0},
    "gate": asdict(GateConfig()),  # the wiring of README's table, one source
    "policy": {"unknown_person": "refuse", "allowlist_max_age_s": 86400, "cooldown_s": 60},
}
CHOICES: dict[str, tuple[str, ...]] = {
    "reader.backend": ("pcsc", "fake", "none"),
    "camera.backend": ("picamera2", "v4l2", "folder", "synthetic", "none"),
    "qr.decoder": ("zxing", "zbar"),
    "keypad.backend": ("evdev", "fake", "none"),
    "gate.indicator": ("leds", "rgb"),
    "gate.buzzer_kind": ("active", "tonal"),
    "policy.unknown_person": ("refuse", "admit_and_flag"),
}
# Set by provisioning itself: identity, and the credentials it ships in the bundle.
MANAGED = frozenset(
    {
        "terminal.id",
        "terminal.workplace_id",
        "terminal.direction",
        "broker.tls",
        "broker.ca_file",
        "broker.cert_file",
        "broker.key_file",
    }
)


@dataclass(frozen=True, slots=True)
class Setting:
    section: str
    key: str
    value: str | int | float | bool


def parse_setting(text: str) -> Setting:
    """``section.key=value`` (``--set``), typed after the key's default and range-checked."""
    dotted, sep, raw = text.partition("=")
    section, dot, key = dotted.strip().partition(".")
    if not sep or not dot or key not in DEFAULTS.get(section, {}):
        raise ProvisioningError("bad_setting", f"--set {text!r}: not a terminal.toml key=value")
    name = f"{section}.{key}"
    if name in MANAGED:
        raise ProvisioningError("bad_setting", f"--set {name}: provisioning sets it")
    value = _typed(name, raw.strip(), DEFAULTS[section][key])
    choices = CHOICES.get(name)
    if choices is not None and value not in choices:
        raise ProvisioningError("bad_setting", f"--set {name}: one of {', '.join(choices)}")
    return Setting(section, key, value)


def _typed(name: str, raw: str, default: object) -> str | int | float | bool:
    try:
        if isinstance(default, bool):
            if raw not in ("true", "false"):
                raise ValueError(raw)
            return raw == "true"
        if isinstance(default, int):
            number = int(raw)
            if number < 0:
                raise ValueError(raw)
            return number
        if isinstance(default, float):
            real = float(raw)
            if not 0 <= real < float("inf"):
                raise ValueError(raw)
            return real
    except ValueError:
        kind = type(default).__name__
        raise ProvisioningError(
            "bad_setting", f"--set {name}: {raw!r} is not a valid {kind}"
        ) from None
    return raw


def terminal_toml(
    terminal_id: str,
    workplace_id: str,
    direction: str,
    broker_host: str,
    broker_port: int,
    settings: tuple[Setting, ...] = (),
) -> str:
    document = copy.deepcopy(DEFAULTS)
    document["terminal"].update(id=terminal_id, workplace_id=workplace_id, direction=direction)
    document["broker"].update(host=broker_host, port=broker_port)
    for setting in settings:
        document[setting.section][setting.key] = setting.value
    header = f"# Terminal {terminal_id}. Written by sitegate-provision add-terminal.\n"
    return header + tomlgen.dumps({"config_version": CONFIG_VERSION, **document})


def bundle_files(
    config_text: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes
) -> dict[str, tuple[bytes, int]]:
    """The bundle's files by name, with their modes."""
    return {
        CONFIG_NAME: (config_text.encode("utf-8"), PUBLIC),
        CA_NAME: (ca_pem, PUBLIC),
        CERT_NAME: (cert_pem, PUBLIC),
        KEY_NAME: (key_pem, SECRET),
    }


def tar_gz(files: dict[str, tuple[bytes, int]], now: datetime) -> bytes:
    """The bundle as a gzip'd tar of plain files (owner root, modes kept)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = int(now.timestamp())
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
