"""The tiny sd_notify, against a real unix datagram socket standing in for systemd."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from controller.sdnotify import Notifier


def test_ready_and_watchdog_reach_the_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        notifier = Notifier(path)
        assert notifier.ready("site X") and notifier.watchdog()
        assert server.recv(256) == b"READY=1\nSTATUS=site X"
        assert server.recv(256) == b"WATCHDOG=1"


def test_without_notify_socket_nothing_is_sent() -> None:
    assert not Notifier("").ready()


def test_watchdog_interval_is_half_of_watchdog_usec(monkeypatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert Notifier("x").watchdog_interval_s() == 5.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert Notifier("x").watchdog_interval_s() is None
