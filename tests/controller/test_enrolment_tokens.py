"""Enrolment tokens in the controller's database, on SQLite and PostgreSQL: made once,
stored hashed, consumed once in the caller's transaction, given back by its rollback."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import config as config_module
from controller import enrolment as tokens
from controller import schema
from controller.enrolment import EnrolmentRefused
from controller.errors import ConfigError
from controller.store import Store, open_store
from presence.clock import ManualClock
from presence.enrolment import token_hash
from tests.controller.support import write_site


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 12, 3, 7, 0, tzinfo=UTC))


@pytest.fixture
def store(db_url: str, clock: ManualClock) -> Iterator[Store]:
    opened = open_store(db_url, clock)
    yield opened
    opened.close()


def claim(store: Store, token: str) -> tokens.TokenRow:
    with store.transaction() as conn:
        return tokens.claim(conn, token, store.clock.now(), "192.0.2.7")


def test_a_token_is_stored_hashed_and_names_its_terminal(store: Store) -> None:
    made = tokens.new_token(store, "gate-3", "out", ("keypad.backend=fake",), 600)

    with store.transaction() as conn:
        row = conn.execute(select(schema.enrolment_tokens)).mappings().one()
    assert row["token_hash"] == token_hash(made.token) != made.token
    assert (row["terminal_id"], row["direction"]) == ("gate-3", "out")
    assert claim(store, made.token) == tokens.TokenRow(
        "gate-3", "out", ("keypad.backend=fake",), made.expires_at
    )


def test_a_token_is_consumed_once(store: Store) -> None:
    made = tokens.new_token(store, "gate-3", "in")
    claim(store, made.token)

    with pytest.raises(EnrolmentRefused) as raised:
        claim(store, made.token)
    assert raised.value.code == "used_token"


def test_a_rolled_back_enrolment_gives_the_token_back(store: Store) -> None:
    made = tokens.new_token(store, "gate-3", "in")

    with pytest.raises(RuntimeError), store.transaction() as conn:
        tokens.claim(conn, made.token, store.clock.now(), "192.0.2.7")
        raise RuntimeError("the CSR was refused")

    assert claim(store, made.token).terminal_id == "gate-3"


def test_a_token_runs_out(store: Store, clock: ManualClock) -> None:
    made = tokens.new_token(store, "gate-3", "in", valid_s=60)
    clock.advance(60)

    with pytest.raises(EnrolmentRefused) as raised:
        claim(store, made.token)
    assert raised.value.code == "expired_token"


def test_two_claims_of_one_token_at_once_consume_it_once(store: Store) -> None:
    made = tokens.new_token(store, "gate-3", "in")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt() -> None:
        barrier.wait()
        try:
            claim(store, made.token)
            outcomes.append("enrolled")
        except Exception as exc:  # the second waits for the first's commit, then finds it used
            outcomes.append(getattr(exc, "code", type(exc).__name__))

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(outcomes) == ["enrolled", "used_token"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900), ("90s", 90), ("2h", 7200), ("7d", 604800)]
)
def test_a_validity_reads_as_seconds(text: str, seconds: int) -> None:
    assert tokens.parse_validity(text) == seconds


@pytest.mark.parametrize("text", ["30s", "8d", "15", "m", "-5m", "1.5h"])
def test_a_validity_out_of_range_or_unreadable_is_refused(text: str) -> None:
    with pytest.raises(EnrolmentRefused) as raised:
        tokens.parse_validity(text)
    assert raised.value.code == "bad_validity"


@pytest.mark.parametrize(
    ("name", "direction", "code"),
    [("Gate 3", "in", "bad_name"), ("gate-3", "sideways", "bad_direction")],
)
def test_a_token_for_a_bad_terminal_is_not_made(
    store: Store, name: str, direction: str, code: str
) -> None:
    with pytest.raises(EnrolmentRefused) as raised:
        tokens.new_token(store, name, direction)
    assert raised.value.code == code
    with store.transaction() as conn:
        assert conn.execute(select(schema.enrolment_tokens)).first() is None


def test_an_unknown_or_malformed_token_is_refused(store: Store) -> None:
    with pytest.raises(EnrolmentRefused) as unknown:
        claim(store, secrets.token_urlsafe(32))
    with pytest.raises(EnrolmentRefused) as malformed:
        claim(store, "short")
    assert (unknown.value.code, malformed.value.code) == ("unknown_token", "malformed_token")


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ('url = "http://c.lan:8444/v1/enrol"', "url"),
        ('url = "https://c.lan/v1/enrol"\nport = 0', "port"),
        ('url = "https://c.lan/v1/enrol"\ncert_file = ""', "cert_file"),
        ("port = 8444", "url"),
    ],
)
def test_a_bad_enrolment_section_names_its_key(tmp_path: Path, section: str, problem: str) -> None:
    path = write_site(tmp_path, db_url="sqlite:///x.db")
    path.write_text(path.read_text() + f"\n[enrolment]\n{section}\n")

    with pytest.raises(ConfigError) as raised:
        config_module.load(path)
    assert "[enrolment]" in str(raised.value) and f"'{problem}'" in str(raised.value)
