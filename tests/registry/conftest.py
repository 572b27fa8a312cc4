"""Fixtures for the registry tests: a declared-works file, the stand-in, a client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from presence.clock import ManualClock
from registry.client import RegistryClient
from sim.nsso.server import StandIn
from tests.registry.pki import Authority

WORKPLACE = "1Y102M7NZF7PZ"
OTHER_WORKPLACE = "2AB3C4D5E6F7G"
COMPANY = 403170701  # 0403.170.701 on the declaration
STRANGER = 202239951  # 0202.239.951: valid KBO number, not on the declaration
INSS = "85073003328"
INSS_2 = "90022742191"
LIMOSA = "24912345678901234"
LIMOSA_EXPIRED = "24900000000000001"
# 07:30 in Brussels on Monday 2 March 2026
START = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
DELAY_S = 60.0

WORKS_TOML = f"""
[[works]]
workplace_id = "{WORKPLACE}"
start = 2026-01-05
end = 2026-12-18
sector = "construction"
companies = ["0403170701"]

[[works]]
workplace_id = "{OTHER_WORKPLACE}"
start = 2026-03-03
end = 2026-04-30
sector = "meat"
companies = ["0403170701"]
subject = false

[[limosa]]
id = "{LIMOSA}"
valid_from = 2026-01-01
valid_until = 2026-06-30

[[limosa]]
id = "{LIMOSA_EXPIRED}"
valid_from = 2025-01-01
valid_until = 2025-12-31
"""


@pytest.fixture
def works_file(tmp_path: Path) -> Path:
    path = tmp_path / "works.toml"
    path.write_text(WORKS_TOML, encoding="utf-8")
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def stand_in(tmp_path: Path, works_file: Path, clock: ManualClock) -> Iterator[StandIn]:
    """The stand-in in a thread; it validates every answer it sends against the XSD."""
    nsso = StandIn(
        tmp_path / "nsso.db",
        works_file,
        clock=clock,
        validation_delay_s=DELAY_S,
        check_answers=True,
    )
    with nsso:
        yield nsso


@pytest.fixture
def client(stand_in: StandIn) -> Iterator[RegistryClient]:
    with RegistryClient(stand_in.endpoint, connect_timeout=2.0, read_timeout=5.0) as registry:
        yield registry


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A CA with a server certificate, a client certificate, and a foreign CA's client."""
    folder = tmp_path_factory.mktemp("pki")
    ca = Authority(folder, "nsso-ca")
    other = Authority(folder, "rogue-ca")
    return {
        "ca": ca.ca_file,
        "server": ca.issue("server", server=True),
        "client": ca.issue("company"),
        "rogue": other.issue("rogue"),
    }
