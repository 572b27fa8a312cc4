"""The boot a monotonic reading belongs to."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from presence.clock import ManualClock, SystemClock, is_boot_id, read_boot_id


def test_the_kernels_boot_id_is_read(tmp_path: Path) -> None:
    path = tmp_path / "boot_id"
    path.write_text("6F1C2B0E-3D4A-4B5C-8D9E-0A1B2C3D4E5F\n")
    assert read_boot_id(path) == "6f1c2b0e-3d4a-4b5c-8d9e-0a1b2c3d4e5f"


def test_without_the_kernels_boot_id_each_reading_is_a_fresh_random_id(tmp_path: Path) -> None:
    first, second = read_boot_id(tmp_path / "missing"), read_boot_id(tmp_path / "missing")
    assert is_boot_id(first) and is_boot_id(second) and first != second


def test_a_garbled_boot_id_file_is_not_taken(tmp_path: Path) -> None:
    path = tmp_path / "boot_id"
    path.write_bytes(b"\xff\xfe garbage")
    assert is_boot_id(read_boot_id(path))


def test_the_system_clock_keeps_one_boot_id() -> None:
    clock = SystemClock()
    assert is_boot_id(clock.boot_id()) and clock.boot_id() == SystemClock().boot_id()


def test_a_manual_reboot_starts_a_new_boot_and_a_new_monotonic_clock() -> None:
    clock = ManualClock()
    before = clock.boot_id()
    clock.advance(5000)
    clock.reboot(datetime(2025, 1, 1, tzinfo=UTC), uptime_s=12.0)
    assert clock.boot_id() != before and is_boot_id(clock.boot_id())
    assert clock.monotonic() == 12.0 and clock.now() == datetime(2025, 1, 1, tzinfo=UTC)
