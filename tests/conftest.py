"""The shared test harness: real services started by fixtures, and a guard on logged errors.

Under ``CI=true`` a fixture that cannot start its service fails the test instead of skipping.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sim.mosquitto import MosquittoBroker
from tests.support import postgres
from tests.support.ci import skip_or_fail

OUR_PACKAGES = ("presence", "registry", "terminal", "controller", "provisioning", "sim")


# --- mosquitto ---------------------------------------------------------------------------


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., MosquittoBroker]]:
    """Start brokers from a config the test supplies; all are stopped afterwards."""
    started: list[MosquittoBroker] = []

    def start(config: str | None = None, persistent: bool = True) -> MosquittoBroker:
        broker = MosquittoBroker(config=config, persistent=persistent)
        started.append(broker)
        try:
            return broker.start()
        except (OSError, RuntimeError) as exc:
            skip_or_fail(f"cannot start mosquitto: {exc}")
            raise

    yield start
    for broker in started:
        broker.close()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """A private broker on a free loopback port: anonymous, loopback only."""
    return mosquitto_factory()


# --- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    url = os.environ.get("SITEGATE_TEST_PG_URL")
    if url:
        yield url
        return
    if postgres.answers(postgres.DEFAULT_URL):
        yield postgres.DEFAULT_URL
        return
    try:
        with postgres.throwaway_cluster() as cluster_url:
            yield cluster_url
    except (OSError, FileNotFoundError) as exc:
        skip_or_fail(f"no PostgreSQL: nothing answers on 127.0.0.1:5432 and {exc}")


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database (SQLAlchemy URL), dropped after the test."""
    with postgres.scratch_database(pg_server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on SQLite (a file in tmp) and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sitegate.db'}"
    return str(request.getfixturevalue("pg_url"))


# --- logged errors -----------------------------------------------------------------------


class ErrorLogGuard(logging.Handler):
    """Collects ERROR records of our packages; a test declares the ones it expects."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.expected: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in OUR_PACKAGES:
            self.records.append(record)

    def expect(self, fragment: str) -> None:
        """Errors whose message contains ``fragment`` are part of the test, not a failure."""
        self.expected.append(fragment)

    def unexpected(self) -> list[str]:
        messages = [r.getMessage() for r in self.records]
        return [m for m in messages if not any(f in m for f in self.expected)]


@pytest.fixture(autouse=True)
def logged_errors() -> Iterator[ErrorLogGuard]:
    """Fails the test when code of ours logged an ERROR the test did not expect."""
    guard = ErrorLogGuard()
    root = logging.getLogger()
    root.addHandler(guard)
    try:
        yield guard
    finally:
        root.removeHandler(guard)
    unexpected = guard.unexpected()
    if unexpected:
        pytest.fail("unexpected ERROR logged: " + " | ".join(unexpected[:5]), pytrace=False)
