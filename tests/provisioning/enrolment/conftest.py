"""Fixtures of the enrolment tests: a site whose controller is 127.0.0.1, its own
mosquitto, the controller's config and store on a manual clock, the service in-process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controller import config as controller_config
from controller.config import ControllerConfig
from controller.store import Store, open_store
from presence.clock import ManualClock
from provisioning.enrol_service import EnrolmentServer
from provisioning.layout import SiteLayout
from sim.mosquitto import MosquittoBroker
from tests.provisioning.conftest import site_broker
from tests.provisioning.enrolment.support import configure, enrolment_site


@pytest.fixture
def site() -> Iterator[SiteLayout]:
    with enrolment_site() as layout:
        yield layout


@pytest.fixture
def broker(site: SiteLayout) -> Iterator[MosquittoBroker]:
    made = site_broker(site)
    yield made.start()
    made.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def config(site: SiteLayout, broker: MosquittoBroker, tmp_path: Path) -> ControllerConfig:
    return controller_config.load(configure(site, f"sqlite:///{tmp_path / 'c.db'}",
                                            broker.pid_file))  # fmt: skip


@pytest.fixture
def store(config: ControllerConfig, clock: ManualClock) -> Iterator[Store]:
    opened = open_store(config.database.url, clock)
    yield opened
    opened.close()


@pytest.fixture
def service(config: ControllerConfig, store: Store) -> Iterator[EnrolmentServer]:
    server = EnrolmentServer(config, store).start()
    yield server
    server.stop()
