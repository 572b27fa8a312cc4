"""The terminal.toml of the contract, as tests write it."""

from __future__ import annotations

from pathlib import Path

CONTRACT_EXAMPLE = """\
config_version = 1
[terminal]
id = "gate-1"
workplace_id = "1Y102M7NZF7PZ"
direction = "in"
state_dir = "/var/lib/sitegate-terminal"
[broker]
host = "127.0.0.1"
port = 8883
tls = true
ca_file = "ca.pem"
cert_file = "terminal.pem"
key_file = "terminal.key"
keepalive_s = 30
session_expiry_s = 86400
[reader]
backend = "pcsc"
name = ""
[camera]
backend = "picamera2"
width = 640
height = 480
fps = 15
device = ""
[qr]
decoder = "zxing"
repeat_window_s = 3.0
[keypad]
backend = "none"
device = ""
timeout_s = 10.0
[gate]
pin_factory = ""
relay_pin = 17
relay_active_high = true
pulse_s = 3.0
fail_open = false
indicator = "leds"
green_pin = 22
red_pin = 27
amber_pin = 23
buzzer_pin = 24
buzzer_kind = "active"
passage_pin = 5
passage_window_s = 8.0
tamper_pin = 6
exit_button_pin = 0
[policy]
unknown_person = "refuse"
allowlist_max_age_s = 86400
cooldown_s = 60
"""


def sim_config(
    state_dir: Path,
    *,
    port: int = 1883,
    terminal_id: str = "gate-1",
    direction: str = "in",
    reader: str = "none",
    keypad: str = "fake",
    unknown_person: str = "refuse",
    gate: str = "tamper_pin = 0",
    extra: str = "",
) -> str:
    """A terminal on simulated hardware, talking plain MQTT to a loopback broker."""
    return f"""\
config_version = 1
[terminal]
id = "{terminal_id}"
workplace_id = "1Y102M7NZF7PZ"
direction = "{direction}"
state_dir = "{state_dir}"
[broker]
host = "127.0.0.1"
port = {port}
tls = false
keepalive_s = 5
session_expiry_s = 3600
[reader]
backend = "{reader}"
[camera]
backend = "none"
[keypad]
backend = "{keypad}"
[gate]
pin_factory = "mock"
{gate}
[policy]
unknown_person = "{unknown_person}"
allowlist_max_age_s = 3600
cooldown_s = 60
{extra}"""


def write(tmp_path: Path, text: str, name: str = "terminal.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path
