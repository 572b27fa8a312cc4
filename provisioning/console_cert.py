"""The web console's TLS certificate, issued by the site CA at ``init-site``.

The console runs on the controller machine, which also hosts the broker: the names and
addresses given with ``--broker-host`` are the controller's, so the console's certificate
carries them (and loopback). Browsers trust it once the site CA (``ca/ca.pem``) is installed
on the office PCs and phones; the console sends no HSTS header, so that a browser without the
CA can still be told to go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from provisioning import pki
from provisioning.fileset import SECRET, FileSet

CERT_NAME = "console.pem"
KEY_NAME = "console.key"
PORT = 8443
LOOPBACK = ("localhost", "127.0.0.1")


def stage(
    files: FileSet, directory: Path, ca: pki.Issued, hosts: Sequence[str], now: datetime
) -> None:
    """Stage the console's key and certificate beside ``controller.toml``."""
    names = tuple(dict.fromkeys([*hosts, *LOOPBACK]))
    issued = pki.issue(ca, names[0], "server", now, names)
    files.write(directory / CERT_NAME, pki.cert_pem(issued.cert))
    files.write(directory / KEY_NAME, pki.key_pem(issued.key), SECRET)


def web_section(port: int = PORT) -> str:
    """The ``[web]`` section of ``controller.toml``: HTTPS on every address of the machine."""
    return (
        "\n# The web console (HTTPS with the certificate the site CA issued).\n"
        "[web]\n"
        'host = "0.0.0.0"\n'
        f"port = {port}\n"
        "tls = true\n"
        f'cert_file = "{CERT_NAME}"\n'
        f'key_file = "{KEY_NAME}"\n'
        "session_idle_s = 7200\n"
        "session_max_s = 43200\n"
    )
