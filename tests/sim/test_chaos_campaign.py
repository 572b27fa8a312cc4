"""The fault campaign keeps sitegate's promise: a minute of the whole site in real processes
under a fixed seed, and short fault schedules drawn by hypothesis against an in-process site.

Every kind of person (profile ``full``: people who show both an eID card and an L1 code
too) and every fault kind. Seed 247 draws 22 faults of 11 kinds, among them two SIGKILLs of
the broker, a ``clock_offline`` reboot and a ``kill_mid_relay``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from presence.clock import brussels_date
from sim.chaos import checker
from sim.chaos.campaign import Options, run
from sim.chaos.inprocess import FAULT_KINDS, InProcessSite, Step, play
from sim.chaos.scheduler import KINDS
from sim.chaos.workload import Profile, make_workload
from tests.support.ci import skip_or_fail

pytestmark = pytest.mark.integration

SEED = 247
PROFILE: Profile = "full"
KNOWN_FAILING: tuple[str, ...] = ()  # fault kinds left out: none


def test_a_minute_of_combined_faults_keeps_the_promise(tmp_path: Path) -> None:
    kinds = tuple(k for k in KINDS if k not in KNOWN_FAILING)
    options = Options(
        seed=SEED,
        minutes=1.0,
        gates=3,
        workers=60,
        profile=PROFILE,
        kinds=kinds,
        workdir=tmp_path / "chaos",
    )
    result = run(options, out=lambda line: None)
    report = "\n".join(result.report())
    if not result.card_reader.startswith("pcscd"):
        skip_or_fail(f"gate-1 could not use pcscd + vpcd ({result.card_reader})")
    assert result.ok, report
    assert sum(result.faults.values()) >= 6, report
    assert len(result.faults) >= 6, report  # faults of several kinds, in combination
    assert result.findings.admitted >= 30, report


steps = st.lists(
    st.builds(
        Step,
        at=st.floats(0.0, 4.0),
        kind=st.sampled_from(FAULT_KINDS),
        target=st.integers(0, 3),
        duration=st.floats(0.3, 3.0),
    ),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schedule=steps, seed=st.integers(0, 10_000))
def test_short_fault_schedules_keep_the_promise(
    schedule: list[Step], seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    today = brussels_date(datetime.now(UTC))
    load = make_workload(seed, 10, 4.0, ["gate-1", "gate-2"], ["gate-3"], today, PROFILE)
    workdir = tmp_path_factory.mktemp("inprocess")
    with InProcessSite(workdir, load, today) as site:
        play(site, load.passes, schedule)
        settled = site.settle(40.0)
        sources = site.sources()
    found = checker.check(sources, load, None, "" if settled else "(not settled in 40 s)")
    assert not found.violations, [f"{v.code}: {v.detail}" for v in found.violations]
    assert found.admitted > 0
