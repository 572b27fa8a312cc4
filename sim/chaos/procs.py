"""One process of the site under the campaign's hand: start, SIGKILL, SIGSTOP/SIGCONT, stop.

Every exit the campaign did not cause is recorded (``unexpected_exits``): the checker turns
them into a violation, because terminals and the controller must stay up by themselves.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class Exit:
    name: str
    pid: int
    returncode: int
    at: float


class Proc:
    """``command()`` builds the command line at each start (a restart may change flags)."""

    def __init__(
        self,
        name: str,
        command: Callable[[], list[str]],
        log_path: Path,
        *,
        cwd: Path | None = None,
        ready: Callable[[], bool] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.command = command
        self.log_path = log_path
        self.cwd = cwd
        self.ready = ready
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False
        self.starts = 0
        self._expected_exit = False
        self._lock = threading.Lock()
        self.unexpected_exits: list[Exit] = []

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 20.0) -> Proc:
        with self._lock:
            with self.log_path.open("ab") as out:
                out.write(f"--- start {self.starts + 1} at {time.time():.3f}\n".encode())
                out.flush()
                self.process = subprocess.Popen(
                    self.command(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.cwd,
                    env={**os.environ, **(self.env or {})},
                    start_new_session=True,  # a Ctrl-C of the campaign is ours to pass on
                )
            self.starts += 1
            self.frozen = False
            self._expected_exit = False
        if self.ready is not None:
            deadline = time.monotonic() + timeout
            while not self.ready():
                if not self.running:
                    raise RuntimeError(f"{self.name} exited at start; see {self.log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready in {timeout} s; see {self.log_path}")
                time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as in a power cut."""
        with self._lock:
            if not self.running:
                return
            assert self.process is not None
            self._expected_exit = True
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.frozen = False

    def freeze(self) -> None:
        """SIGSTOP: a hang, not a crash; its sockets stay open and silent."""
        with self._lock:
            if self.running and not self.frozen:
                assert self.process is not None
                self.process.send_signal(signal.SIGSTOP)
                self.frozen = True

    def thaw(self) -> None:
        with self._lock:
            if self.running and self.frozen:
                assert self.process is not None
                self.process.send_signal(signal.SIGCONT)
            self.frozen = False

    def stop(self) -> int | None:
        """SIGTERM (after SIGCONT) and wait; SIGKILL when it does not end in time."""
        with self._lock:
            if self.process is None:
                return None
            self._expected_exit = True
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGCONT)
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop on SIGTERM: killed", self.name)
                    self.process.kill()
                    self.process.wait()
            return self.process.returncode

    def check(self) -> Exit | None:
        """An exit nobody asked for, noticed now (recorded once)."""
        with self._lock:
            if self.process is None or self._expected_exit:
                return None
            code = self.process.poll()
            if code is None:
                return None
            self._expected_exit = True  # recorded once; a restart clears it
            found = Exit(self.name, self.process.pid, code, time.time())
            self.unexpected_exits.append(found)
            return found
