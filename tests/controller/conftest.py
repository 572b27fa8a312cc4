"""Fixtures of the controller tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller import config as config_module
from controller.config import ControllerConfig
from controller.service import Controller
from controller.store import Store, open_store
from sim.mosquitto import MosquittoBroker
from sim.nsso.server import StandIn, serve
from tests.controller.support import FakeTerminal, StandInAdmin, limosa, write_site, write_works


@pytest.fixture
def site_config(tmp_path: Path, db_url: str) -> ControllerConfig:
    """A controller config on the parametrised database, with no broker or registry."""
    return config_module.load(write_site(tmp_path / "site", db_url=db_url))


@pytest.fixture
def store(site_config: ControllerConfig) -> Iterator[Store]:
    opened = open_store(site_config.database.url)
    yield opened
    opened.close()


@pytest.fixture
def broker_config(tmp_path: Path, db_url: str, mosquitto: MosquittoBroker) -> ControllerConfig:
    return config_module.load(
        write_site(tmp_path / "site", db_url=db_url, broker_port=mosquitto.port)
    )


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[StandIn]:
    """The NSSO stand-in on a free loopback port, validating after 0.2 s."""
    works = write_works(tmp_path / "works.toml", tuple(limosa(n).digits for n in range(500)))
    with serve(tmp_path / "nsso.db", works, validation_delay_s=0.2) as server:
        yield server


@pytest.fixture
def admin(stand_in: StandIn) -> StandInAdmin:
    return StandInAdmin(stand_in.base_url)


@pytest.fixture
def relay_config(tmp_path: Path, db_url: str, stand_in: StandIn) -> ControllerConfig:
    return config_module.load(
        write_site(tmp_path / "site", db_url=db_url, registry=stand_in.endpoint)
    )


@pytest.fixture
def running(broker_config: ControllerConfig) -> Iterator[tuple[Controller, Store]]:
    """A controller ingesting from the test's broker (no relay), and its store."""
    store = open_store(broker_config.database.url)
    controller = Controller(broker_config, store, with_relay=False)
    controller.start()
    assert controller.ingest.subscribed.wait(10)
    yield controller, store
    controller.stop()
    store.close()


@pytest.fixture
def terminal(mosquitto: MosquittoBroker) -> Iterator[FakeTerminal]:
    """A terminal on the test's broker that publishes check-ins and collects acks."""
    t = FakeTerminal(mosquitto.port)
    yield t
    t.close()
