"""The clock-synchronisation probe and the tiny sd_notify."""

from __future__ import annotations

import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from presence.clock import ManualClock
from presence.messages import ClockPin
from terminal import timesync
from terminal.notify import SystemdNotifier
from terminal.timesync import ClockSync
from tests.conftest import ErrorLogGuard


def test_the_probe_answer_is_kept_and_asked_again() -> None:
    answers = iter([False, True])
    sync = ClockSync(lambda: next(answers))
    assert sync.synced is False
    assert sync.refresh() is False and sync.synced is False
    assert sync.refresh() is True and sync.synced is True


def test_the_probe_keeps_asking_in_its_own_thread() -> None:
    asked = threading.Semaphore(0)

    def probe() -> bool:
        asked.release()
        return True

    sync = ClockSync(probe, poll_s=0.01).start()
    try:
        assert all(asked.acquire(timeout=2) for _ in range(3))
        assert sync.synced
    finally:
        sync.close()


def test_without_timedated_the_clock_counts_as_unsynchronised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "timedatectl"
    fake.write_text("#!/bin/sh\necho 'Failed to connect to bus' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert timesync.ntp_synchronized() is False


@pytest.mark.parametrize(("output", "synced"), [("yes", True), ("no", False)])
def test_timedatectl_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, output: str, synced: bool
) -> None:
    fake = tmp_path / "timedatectl"
    fake.write_text(
        f'#!/bin/sh\n[ "$*" = "show -p NTPSynchronized" ] && echo NTPSynchronized={output}\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert timesync.ntp_synchronized() is synced


def test_a_missing_timedatectl_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert timesync.ntp_synchronized() is False


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled and notifier.ready() is False and notifier.watchdog_s is None


def test_messages_reach_the_notify_socket(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "3000000"})
        assert notifier.watchdog_s == 3.0
        assert notifier.ready() and notifier.watchdog() and notifier.status("ok")
        assert [listener.recv(64) for _ in range(3)] == [b"READY=1", b"WATCHDOG=1", b"STATUS=ok"]
        notifier.close()


def test_an_abstract_socket_address_is_understood() -> None:
    name = f"sitegate-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.stopping()
        assert listener.recv(64) == b"STOPPING=1"
        notifier.close()


def test_a_watchdog_meant_for_another_process_is_ignored() -> None:
    notifier = SystemdNotifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert notifier.watchdog_s is None


def test_a_vanished_socket_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.ready() is False


def test_when_ntp_sets_the_clock_right_the_boot_is_pinned_to_it() -> None:
    clock = ManualClock(datetime(2025, 1, 1, tzinfo=UTC))  # a Pi back from a power cut
    answers = iter([False, True])
    taken: list[ClockPin] = []
    sync = ClockSync(lambda: next(answers), clock=clock, on_pin=taken.append)
    sync.refresh()
    assert taken == []  # the wrong clock is never a pin
    clock.reboot(datetime(2026, 3, 2, 23, 0, tzinfo=UTC), uptime_s=40.0)  # NTP steps it
    sync.refresh()
    assert taken == [ClockPin(clock.boot_id(), 40.0, datetime(2026, 3, 2, 23, 0, tzinfo=UTC))]
    assert sync.pin == taken[0]


def test_a_clock_already_synchronised_at_start_is_pinned_once() -> None:
    """The program may restart within a boot after check-ins with a wrong clock."""
    clock = ManualClock()
    taken: list[ClockPin] = []
    sync = ClockSync(lambda: True, clock=clock, on_pin=taken.append)
    sync.refresh()
    clock.advance(60)
    sync.refresh()
    assert [pin.mono_s for pin in taken] == [1000.0]


def test_a_pin_that_cannot_be_kept_is_logged_and_the_answer_stands(
    logged_errors: ErrorLogGuard,
) -> None:
    def full_disk(_pin: ClockPin) -> None:
        raise OSError("no space left")

    logged_errors.expect("not kept")
    sync = ClockSync(lambda: True, clock=ManualClock(), on_pin=full_disk)
    assert sync.refresh() is True
    assert [r.getMessage() for r in logged_errors.records] == [
        f"clock pin of boot {sync.pin.boot_id[:8]} not kept" if sync.pin else ""
    ]
