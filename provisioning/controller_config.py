"""``controller.toml``: the schema ``controller/config.py`` parses (the team's contracts).
Relative file names are relative to the file's directory: the controller's credentials and
``terminals.toml`` sit beside it."""

from __future__ import annotations

from typing import Any

from provisioning import tomlgen
from provisioning.broker import CONTROLLER_USER

CONFIG_VERSION = 1
CONFIG_NAME = "controller.toml"
CA_NAME = "ca.pem"
CERT_NAME = "controller.pem"
KEY_NAME = "controller.key"
TERMINALS_NAME = "terminals.toml"
STATE_DIR = "/var/lib/sitegate"  # systemd StateDirectory=sitegate
DATABASE_NAME = "controller.db"
DATABASE_URL = f"sqlite:///{STATE_DIR}/{DATABASE_NAME}"
SIMULATION_ENDPOINT = "https://services-sim.socialsecurity.be/PresenceRegistration/v1"


def database_url(state_dir: str) -> str:
    """The SQLite database in ``state_dir`` (an absolute path)."""
    return f"sqlite:///{state_dir.rstrip('/')}/{DATABASE_NAME}"


def controller_toml(
    workplace_id: str,
    company_id: str,
    name: str,
    broker_host: str,
    broker_port: int,
    database_url: str = DATABASE_URL,
    registry_endpoint: str = SIMULATION_ENDPOINT,
) -> str:
    document: dict[str, Any] = {
        "config_version": CONFIG_VERSION,
        "site": {
            "workplace_id": workplace_id,
            "company_id": company_id,
            "name": name,
            "terminals_file": TERMINALS_NAME,
        },
        "broker": {
            "host": broker_host,
            "port": broker_port,
            "tls": True,
            "ca_file": CA_NAME,
            "cert_file": CERT_NAME,
            "key_file": KEY_NAME,
            "client_id": CONTROLLER_USER,
            "session_expiry_s": 86400,
        },
        "database": {"url": database_url},
        "registry": {
            "endpoint": registry_endpoint,
            "cert_file": "",
            "key_file": "",
            "ca_file": "",
            "sign": False,
            "connect_timeout_s": 5.0,
            "read_timeout_s": 30.0,
        },
        "timing": {
            "relay_interval_s": 2.0,
            "retry_base_s": 1.0,
            "retry_max_s": 300.0,
            "poll_interval_s": 60.0,
            "clock_skew_max_s": 300.0,
        },
        "policy": {"unknown_person": "refuse", "cooldown_s": 60},
    }
    header = (
        "# The site controller. Written by sitegate-provision init-site.\n"
        "# [registry]: set the NSSO company certificate (cert_file, key_file) and the\n"
        "# production endpoint before going live.\n"
    )
    return header + tomlgen.dumps(document)
