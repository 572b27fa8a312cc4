"""A private mosquitto broker on loopback, for tests, benchmarks and the demo: an anonymous
one with the production queue limits, or one run from a site's provisioned drop-in."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from provisioning.broker import (
    AUTOSAVE_INTERVAL_S,
    MAX_INFLIGHT_MESSAGES,
    MAX_PACKET_BYTES,
    MAX_QUEUED_BYTES,
    MAX_QUEUED_MESSAGES,
)
from sim.processes import free_port, wait_for_port

# /etc/mosquitto/mosquitto.conf as Debian ships it, with its paths in the broker's own
# directory: the site's drop-in goes into conf.d, as on a controller.
DEBIAN_MAIN_CONFIG = """pid_file {dir}/run/mosquitto.pid
persistence true
persistence_location {dir}/data/
include_dir {dir}/conf.d
"""
DROP_IN_NAME = "conf.d/sitegate.conf"


def default_config(port: int, persistence_dir: Path | None = None) -> str:
    """Anonymous, loopback only; persistence on when a directory is given."""
    lines = [
        f"listener {port} 127.0.0.1",
        # As root, mosquitto drops to the mosquitto user and then cannot write our temp
        # directory: its persistence (sessions, queued messages) would be lost on restart.
        *(["user root"] if os.geteuid() == 0 else []),
        "allow_anonymous true",
        f"max_packet_size {MAX_PACKET_BYTES}",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        f"max_queued_bytes {MAX_QUEUED_BYTES}",
        f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
        "set_tcp_nodelay true",
    ]
    if persistence_dir is not None:
        lines += [
            "persistence true",
            f"persistence_location {persistence_dir}/",
            f"autosave_interval {AUTOSAVE_INTERVAL_S}",  # as on a site
        ]
    else:
        lines.append("persistence false")
    return "\n".join(lines) + "\n"


def _give_to_mosquitto(path: Path) -> None:
    """As root, mosquitto runs as its own user, which must own what it writes."""
    if os.geteuid() != 0:
        return
    try:
        account = pwd.getpwnam("mosquitto")
    except KeyError:
        return  # no such user: mosquitto keeps running as root
    os.chown(path, account.pw_uid, account.pw_gid)


class MosquittoBroker:
    """Runs ``mosquitto -c <file>``; ``stop()``/``start()`` simulate a broker outage.

    ``config`` is the whole config file text; ``{port}`` and ``{dir}`` in it are replaced by
    the chosen port and the broker's working directory.
    """

    def __init__(
        self,
        config: str | None = None,
        port: int | None = None,
        persistent: bool = True,
        files: dict[str, str] | None = None,
    ):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="sitegate-mosquitto-"))
        template = config or default_config(self.port, self.workdir if persistent else None)
        self.config_path = self.workdir / "mosquitto.conf"
        self.config_path.write_text(self._fill(template))
        for name, text in (files or {}).items():
            (self.workdir / name).parent.mkdir(parents=True, exist_ok=True)
            (self.workdir / name).write_text(self._fill(text))
        self.log_path = self.workdir / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def provisioned(cls, drop_in: str, port: int) -> MosquittoBroker:
        """mosquitto as on a controller: Debian's main config and the site's drop-in, whose
        one listener (on ``port``, the site's) is bound to loopback, its only change. As
        root mosquitto runs as its own user, which owns the persistence directory, as
        Debian's package sets it up; the site's files must be readable by that user."""
        lines = drop_in.splitlines()
        listeners = [n for n, line in enumerate(lines) if line.startswith("listener ")]
        if len(listeners) != 1 or lines[listeners[0]] != f"listener {port}":
            raise ValueError(f"the drop-in must have one listener, on {port}")
        lines[listeners[0]] = f"listener {port} 127.0.0.1"
        broker = cls(DEBIAN_MAIN_CONFIG, port, files={DROP_IN_NAME: "\n".join(lines) + "\n"})
        broker.workdir.chmod(0o755)
        for own in ("data", "run"):  # /var/lib/mosquitto and /run/mosquitto on Debian
            (broker.workdir / own).mkdir()
            _give_to_mosquitto(broker.workdir / own)
        return broker

    def _fill(self, template: str) -> str:
        return template.replace("{port}", str(self.port)).replace("{dir}", str(self.workdir))

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process is not None else None

    @property
    def pid_file(self) -> Path:
        """Where ``DEBIAN_MAIN_CONFIG`` has it."""
        return self.workdir / "run" / "mosquitto.pid"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> MosquittoBroker:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [binary, "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        if not wait_for_port(self.host, self.port, timeout):
            self.stop()
            raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log_tail()}")
        return self

    def kill(self) -> None:
        """A crash: SIGKILL, so mosquitto keeps only what it last autosaved."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
