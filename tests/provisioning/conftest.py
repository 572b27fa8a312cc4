"""Fixtures of the provisioning tests: a site made by init-site in a temporary directory, and
a site with its own mosquitto run from the drop-in init-site wrote."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from presence.clock import ManualClock, SystemClock
from provisioning import site_setup
from provisioning.layout import SiteLayout
from provisioning.record import load_record
from sim.mosquitto import MosquittoBroker
from sim.mosquitto import hand_site_files_to_mosquitto as hand_files_to_mosquitto
from sim.processes import free_port
from tests.support.ci import skip_or_fail

WORKPLACE = "1Y102M7NZF7PZ"
COMPANY = "0403170701"


def site_request(directory: Path, **changes: object) -> site_setup.SiteRequest:
    fields: dict[str, object] = {
        "directory": str(directory),
        "workplace": WORKPLACE,
        "company": COMPANY,
        "sector": "construction",
        "works_start": "2017-05-02",
        "contract_amount": "650000",
        "name": "Demo site Antwerp",
        "broker_hosts": ("gate-controller.local",),
        "broker_port": 8883,
    }
    fields.update(changes)
    return site_setup.SiteRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 6, 30, tzinfo=UTC))


@pytest.fixture
def site(tmp_path: Path, clock: ManualClock) -> SiteLayout:
    """An initialised site directory."""
    directory = tmp_path / "site"
    site_setup.init_site(site_request(directory), clock)
    return SiteLayout.at(directory)


def snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under ``root`` with its mode and (for files) content."""
    state: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(root.rglob("*")):
        content = path.read_bytes() if path.is_file() else None
        state[str(path.relative_to(root))] = (path.stat().st_mode, content)
    return state


@pytest.fixture
def make_unwritable() -> Iterator[Callable[[Path], None]]:
    """Makes a directory unwritable for this process: mode 0500, and the immutable attribute
    when running as root (root ignores the mode)."""
    changed: list[Path] = []

    def apply(directory: Path) -> None:
        directory.chmod(0o500)
        changed.append(directory)
        if os.geteuid() != 0:
            return
        done = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, text=True)
        if done.returncode != 0:
            skip_or_fail(f"as root, cannot make a directory unwritable: {done.stderr.strip()}")

    yield apply
    for directory in changed:
        if os.geteuid() == 0:
            with contextlib.suppress(OSError):
                subprocess.run(["chattr", "-i", str(directory)], check=False)
        directory.chmod(0o755)


# --- a site's own broker: mosquitto run from the drop-in init-site wrote -------------------


@pytest.fixture
def broker_site() -> Iterator[SiteLayout]:
    """A site whose broker port is a free loopback port, where mosquitto can read its files:
    outside pytest's private tmp, with the files README.md hands to mosquitto handed over."""
    root = Path(tempfile.mkdtemp(prefix="sitegate-site-"))
    root.chmod(0o755)
    layout = SiteLayout.at(root / "site")
    try:
        site_setup.init_site(site_request(layout.root, broker_port=free_port()), SystemClock())
        hand_files_to_mosquitto(layout)
        yield layout
    finally:
        shutil.rmtree(root, ignore_errors=True)


def site_broker(layout: SiteLayout) -> MosquittoBroker:
    """A broker (not started) run from the site's drop-in, as on its controller."""
    drop_in = (layout.broker_dir / "mosquitto.conf").read_text()
    return MosquittoBroker.provisioned(drop_in, load_record(layout.site_file).broker_port)
