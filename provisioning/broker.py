"""mosquitto's configuration for a site: one TLS listener that admits only clients holding a
certificate of the site CA (not revoked), takes the certificate's common name as the user
name, and mosquitto's dynamic security plugin as the access control (``dynsec``): one role
per client, so a revoked terminal can be removed from the running broker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from presence.messages import MAX_MESSAGE_BYTES

CONTROLLER_USER = "sitegate-controller"
ADMIN_USER = "sitegate-admin"  # sitegate-provision, commanding the running broker
DEFAULT_PORT = 8883
INSTALLED_DIR = Path("/etc/sitegate/broker")
# Found by the dynamic loader in the system's library directories (on Debian the multiarch
# one, /usr/lib/<arch>/), so the drop-in is the same on amd64 and on a Raspberry Pi.
DYNSEC_PLUGIN = "mosquitto_dynamic_security.so"

# The largest packet mosquitto accepts: the largest message our readers accept (the retained
# site config, presence.messages.MAX_MESSAGE_BYTES; a 10,000-person allowlist is 654 KiB)
# plus room for the topic and properties. A check-in is at most MAX_EVENT_BYTES (8 KiB).
# Below it the controller's own config publish would get it disconnected again and again.
PACKET_OVERHEAD = 64 * 1024
MAX_PACKET_BYTES = MAX_MESSAGE_BYTES + PACKET_OVERHEAD
# Messages mosquitto keeps for a client that is offline (the controller, mostly), beyond the
# in-flight ones. Each terminal has at most terminal.link.WINDOW (100) check-ins unacked
# on the wire and sends them again every RESEND_AFTER_S (120 s), plus a status every 30 s:
# 20 terminals fill about 62,000 places in an hour without a controller. mosquitto's default
# (1,000) drops new messages after 10 full windows; the terminals send them again, but
# only after 2 minutes. A check-in is about 350 bytes: 100,000 of them are about 35 MB of
# memory; MAX_QUEUED_BYTES bounds what oversized junk can take.
MAX_QUEUED_MESSAGES = 100_000
MAX_QUEUED_BYTES = 256 * 1024 * 1024
MAX_INFLIGHT_MESSAGES = 100
# mosquitto writes its sessions, subscriptions and queued messages to disk every this many
# seconds (its default is 1,800) and at a clean exit. After a crash (SIGKILL, power cut) it
# comes back with what it last saved: a controller whose session is older than that has no
# subscription until it reconnects, and check-ins published meanwhile reach nobody (the
# terminals send them again when the controller's site config shows it is back,
# terminal.link). The file holds at most MAX_QUEUED_BYTES of queued messages; usually
# a few kilobytes.
AUTOSAVE_INTERVAL_S = 10


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    """Where mosquitto finds the site's files (absolute paths: it has no notion of ours)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    crl_file: Path
    dynsec_file: Path

    @classmethod
    def in_dir(cls, directory: Path) -> BrokerFiles:
        return cls(
            ca_file=directory / "ca.pem",
            cert_file=directory / "server.pem",
            key_file=directory / "server.key",
            crl_file=directory / "crl.pem",
            dynsec_file=directory / "dynamic-security.json",
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
            "# common name (the terminal id) is the user name. mosquitto reads the CRL at",
            "# start and on SIGHUP (systemctl reload mosquitto).",
            listener,
            f"cafile {files.ca_file}",
            f"certfile {files.cert_file}",
            f"keyfile {files.key_file}",
            f"crlfile {files.crl_file}",
            "require_certificate true",
            "use_identity_as_username true",
            "allow_anonymous false",
            "# Who may publish and read what: the dynamic security plugin, one role per client.",
            "# sitegate-provision changes it on the running broker (add, revoke, rotate);",
            "# mosquitto saves it to the file, which must be writable by the mosquitto user.",
            f"plugin {DYNSEC_PLUGIN}",
            f"plugin_opt_config_file {files.dynsec_file}",
            "# The largest message is the retained site config (presence MAX_MESSAGE_BYTES).",
            f"max_packet_size {MAX_PACKET_BYTES}",
            "# Keep what arrives for an offline controller: terminals x 100 unacked check-ins,",
            "# sent again every 2 minutes, and their statuses (see provisioning/broker.py).",
            f"max_queued_messages {MAX_QUEUED_MESSAGES}",
            f"max_queued_bytes {MAX_QUEUED_BYTES}",
            f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
            "# Sessions and queued messages survive a restart, in Debian's persistence_location",
            "# (/var/lib/mosquitto/, set in /etc/mosquitto/mosquitto.conf: not repeated here,",
            "# mosquitto refuses a second one).",
            "persistence true",
            "# Saved every few seconds, not only at a clean exit: a crashed broker comes back",
            "# with the sessions and subscriptions it had (see provisioning/broker.py).",
            f"autosave_interval {AUTOSAVE_INTERVAL_S}",
            "# QoS 1 packets are tiny: without this each round trip waits for a delayed ack.",
            "set_tcp_nodelay true",
            "",
        ]
    )
