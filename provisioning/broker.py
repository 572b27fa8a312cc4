"""mosquitto's configuration for a site: one TLS listener that admits only clients holding a
certificate of the site CA (not revoked), takes the certificate's common name as the user
name, and an ACL that confines each terminal to its own topics (``presence.topics``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from presence.topics import ROOT

CONTROLLER_USER = "sitegate-controller"
DEFAULT_PORT = 8883
INSTALLED_DIR = Path("/etc/sitegate/broker")


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    """Where mosquitto finds the site's files (absolute paths: it has no notion of ours)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    crl_file: Path
    acl_file: Path

    @classmethod
    def in_dir(cls, directory: Path) -> BrokerFiles:
        return cls(
            ca_file=directory / "ca.pem",
            cert_file=directory / "server.pem",
            key_file=directory / "server.key",
            crl_file=directory / "crl.pem",
            acl_file=directory / "acl",
        )


def mosquitto_conf(files: BrokerFiles, port: int | str = DEFAULT_PORT, bind: str = "") -> str:
    """A conf.d drop-in. ``port`` may be a template placeholder such as ``{port}``; ``bind``
    "" listens on every interface (the terminals are on the site LAN)."""
    listener = f"listener {port} {bind}".rstrip()
    return "\n".join(
        [
            "# sitegate: MQTT over TLS between the site's terminals and its controller.",
            "# Written by sitegate-provision; install as /etc/mosquitto/conf.d/sitegate.conf.",
            "# Only clients with a certificate of the site CA get in; the certificate's",
            "# common name (the terminal id) is the user name the ACL works with.",
            listener,
            f"cafile {files.ca_file}",
            f"certfile {files.cert_file}",
            f"keyfile {files.key_file}",
            f"crlfile {files.crl_file}",
            "require_certificate true",
            "use_identity_as_username true",
            "allow_anonymous false",
            f"acl_file {files.acl_file}",
            "# QoS 1 packets are tiny: without this each round trip waits for a delayed ack.",
            "set_tcp_nodelay true",
            "",
        ]
    )


def acl(workplace_id: str, controller_user: str = CONTROLLER_USER) -> str:
    base = f"{ROOT}/{workplace_id}"
    return "\n".join(
        [
            "# sitegate ACL. Written by sitegate-provision.",
            "# Every client: its user name is its certificate's common name. A terminal",
            "# publishes only its own check-ins and status, reads only its own acks and",
            "# the site config.",
            f"pattern write {base}/%u/checkin",
            f"pattern write {base}/%u/status",
            f"pattern read {base}/%u/ack",
            "# (mosquitto warns that the next pattern has no %u: it is meant for every client)",
            f"pattern read {base}/config",
            "",
            "# The controller reads every check-in and status, writes the acks and the",
            "# retained site config.",
            f"user {controller_user}",
            f"topic read {base}/+/checkin",
            f"topic read {base}/+/status",
            f"topic write {base}/+/ack",
            f"topic readwrite {base}/config",
            "",
        ]
    )
