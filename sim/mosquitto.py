"""A private mosquitto broker on loopback, for tests, benchmarks and the demo."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from sim.processes import free_port, wait_for_port


def default_config(port: int, persistence_dir: Path | None = None) -> str:
    """Anonymous, loopback only; persistence on when a directory is given."""
    lines = [
        f"listener {port} 127.0.0.1",
        # As root, mosquitto drops to the mosquitto user and then cannot write our temp
        # directory: its persistence (sessions, queued messages) would be lost on restart.
        *(["user root"] if os.geteuid() == 0 else []),
        "allow_anonymous true",
        "max_queued_messages 100000",
        "max_inflight_messages 100",
        "set_tcp_nodelay true",
    ]
    if persistence_dir is not None:
        lines += ["persistence true", f"persistence_location {persistence_dir}/"]
    else:
        lines.append("persistence false")
    return "\n".join(lines) + "\n"


class MosquittoBroker:
    """Runs ``mosquitto -c <file>``; ``stop()``/``start()`` simulate a broker outage.

    ``config`` is the whole config file text; ``{port}`` and ``{dir}`` in it are replaced by
    the chosen port and the broker's working directory.
    """

    def __init__(self, config: str | None = None, port: int | None = None, persistent: bool = True):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="sitegate-mosquitto-"))
        template = config or default_config(self.port, self.workdir if persistent else None)
        text = template.replace("{port}", str(self.port)).replace("{dir}", str(self.workdir))
        self.config_path = self.workdir / "mosquitto.conf"
        self.config_path.write_text(text)
        self.log_path = self.workdir / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None

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
