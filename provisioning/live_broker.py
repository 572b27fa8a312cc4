"""The site's running mosquitto, as sitegate-provision reaches it on the controller machine:
change its dynamic security config (over MQTT, as ``sitegate-admin`` with the admin
certificate of the site CA) and make it read the CRL again (SIGHUP, the signal
``systemctl reload mosquitto`` sends).

The reload comes first and the commands after: mosquitto handles a SIGHUP at the top of its
next loop, before it reads the commands that follow, so a terminal disconnected by a command
finds the new CRL when it tries again. Nothing here raises for an unreachable broker: the
site's files are already written, and the caller says what is left to do.
"""

from __future__ import annotations

import logging
import os
import signal
import ssl
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from provisioning import dynsec
from provisioning.broker import ADMIN_USER
from provisioning.layout import SiteLayout

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # the broker runs on the controller machine; its certificate names it
PID_FILE = Path("/run/mosquitto/mosquitto.pid")  # Debian's /etc/mosquitto/mosquitto.conf
CONNECT_TIMEOUT_S = 2.0
ANSWER_TIMEOUT_S = 2.0
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


class BrokerProblem(Exception):
    """Why the running broker was not (fully) changed; one line for the site manager."""


@dataclass(frozen=True, slots=True)
class Applied:
    """What became of a change on the running broker: ``reached`` is False when the broker
    was not reached at all (only a restart applies the site's files then)."""

    reached: bool
    problems: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.reached and not self.problems


@dataclass(frozen=True, slots=True)
class LiveBroker:
    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path
    pid_file: Path = PID_FILE
    host: str = HOST

    @classmethod
    def of_site(cls, layout: SiteLayout, port: int, pid_file: Path = PID_FILE) -> LiveBroker:
        return cls(port, layout.ca_cert, layout.admin_cert, layout.admin_key, pid_file)

    def apply(self, commands: list[dynsec.Command], reload_crl: bool = False) -> Applied:
        """Runs ``commands``, after a CRL reload if asked."""
        problems: list[str] = []
        try:
            with _AdminSession(self) as session:
                if reload_crl:
                    try:
                        signal_reload(self.pid_file, self.port)
                    except BrokerProblem as exc:
                        problems.append(f"CRL not reloaded: {exc}")
                if commands:
                    problems += session.run(commands)
        except BrokerProblem as exc:
            log.info("broker on %s:%d not reached: %s", self.host, self.port, exc)
            return Applied(False, (f"broker on {self.host}:{self.port} not reached: {exc}",))
        for problem in problems:
            log.info("running broker not fully changed: %s", problem)
        return Applied(True, tuple(problems))


def signal_reload(pid_file: Path, port: int) -> None:
    """SIGHUP to the mosquitto named by ``pid_file``, once sure it is the one on ``port``."""
    try:
        pid = int(pid_file.read_text(encoding="ascii").strip())
        name = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except (OSError, ValueError) as exc:
        raise BrokerProblem(f"no running mosquitto in {pid_file} ({exc})") from None
    if name != "mosquitto":
        raise BrokerProblem(f"{pid_file} names process {pid}, which is {name!r}, not mosquitto")
    if not listens_on(pid, port):
        raise BrokerProblem(f"the mosquitto of {pid_file} (pid {pid}) does not listen on {port}")
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        raise BrokerProblem(f"cannot signal mosquitto (pid {pid}): {exc.strerror}") from None
    log.info("mosquitto (pid %d) told to reload its configuration and CRL", pid)


def listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a TCP socket listening on ``port``."""
    try:
        links = [os.readlink(entry) for entry in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False
    inodes = {link[8:-1] for link in links if link.startswith("socket:[")}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if fields[3] == _LISTEN and local_port == port and fields[9] in inodes:
                return True
    return False


class _AdminSession:
    """One MQTT v5 connection as the admin, subscribed to the plugin's responses."""

    def __init__(self, broker: LiveBroker) -> None:
        self._broker = broker
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{ADMIN_USER}-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        self._client.connect_timeout = CONNECT_TIMEOUT_S
        self._ready = threading.Event()
        self._answered = threading.Event()
        self._refusal: str | None = None
        self._answer = b""
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def __enter__(self) -> _AdminSession:
        broker = self._broker
        try:
            context = ssl.create_default_context(cafile=str(broker.ca_file))
            context.load_cert_chain(str(broker.cert_file), str(broker.key_file))
            self._client.tls_set_context(context)
            self._client.connect(broker.host, broker.port, keepalive=30)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise BrokerProblem(str(exc) or type(exc).__name__) from None
        self._client.loop_start()
        if not self._ready.wait(CONNECT_TIMEOUT_S) or self._refusal is not None:
            self.__exit__()
            raise BrokerProblem(self._refusal or "no answer to connect and subscribe")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, code: ReasonCode, _p: Properties | None
    ) -> None:
        if code.is_failure:
            self._end(f"it refused the admin ({code})")
        else:
            client.subscribe(dynsec.RESPONSE_TOPIC, qos=1)

    def _on_subscribe(
        self, _c: object, _u: object, _mid: int, codes: list[ReasonCode], _p: object
    ) -> None:
        if any(code.is_failure for code in codes):
            self._end("the admin may not read the plugin's answers (not in its config?)")
        self._ready.set()

    def _on_disconnect(self, *_args: object) -> None:
        self._end("it closed the connection (admin certificate refused or revoked?)")

    def _end(self, why: str) -> None:
        if not self._ready.is_set():
            self._refusal = why
            self._ready.set()

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        if message.topic == dynsec.RESPONSE_TOPIC:
            self._answer = bytes(message.payload)
            self._answered.set()

    def run(self, commands: list[dynsec.Command]) -> list[str]:
        self._client.publish(dynsec.CONTROL_TOPIC, dynsec.request(commands), qos=1)
        if not self._answered.wait(ANSWER_TIMEOUT_S):
            return ["the dynamic security plugin did not answer (is it loaded?)"]
        return dynsec.failures(commands, self._answer)
