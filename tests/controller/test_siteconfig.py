"""The site config's allowlist: scrypt hashes of the roster, each computed once (real store)."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import schema, siteconfig
from controller.config import ControllerConfig
from controller.ingest import HOUSEKEEPING_S
from controller.roster import import_file
from controller.store import Store, open_store
from presence.messages import SCRYPT, decode_site_config, encode_site_config, hash_digits
from sim.identifiers import with_inss_check
from tests.controller.support import COMPANY, checkin, inss, limosa

DAY = date(2026, 3, 2)


def _roster(store: Store, tmp_path: Path, *people: str) -> None:
    path = tmp_path / "roster.csv"
    lines = [f"{p},{COMPANY if len(p) == 11 else ''}" for p in people]
    path.write_text("person,employer\n" + "\n".join(lines) + "\n")
    import_file(store, path)


def test_the_allowlist_holds_scrypt_hashes_of_the_roster(
    store: Store, site_config: ControllerConfig, tmp_path: Path
) -> None:
    _roster(store, tmp_path, inss(1).digits, limosa(2).digits)
    config, _stamp = siteconfig.build(store, site_config, DAY)
    assert config.scheme == SCRYPT
    assert config.allowlist == {
        hash_digits(config.salt, inss(1).digits), hash_digits(config.salt, limosa(2).digits)
    }  # fmt: skip
    body = json.loads(encode_site_config(config))
    assert body["v"] == 2 and body["hash"]["kdf"] == "scrypt"
    assert inss(1).digits not in json.dumps(body)


def test_a_persons_hash_is_computed_once_and_kept(
    store: Store, site_config: ControllerConfig, tmp_path: Path
) -> None:
    _roster(store, tmp_path, inss(1).digits)
    first, _ = siteconfig.build(store, site_config, DAY)
    h = schema.person_hashes.c
    kept = "ab" * 32  # a kept hash is read back, not computed again
    with store.transaction() as conn:
        conn.execute(schema.person_hashes.update().values(hash=kept))
    _roster(store, tmp_path, inss(1).digits, inss(2).digits)
    second, _ = siteconfig.build(store, site_config, DAY)
    assert second.allowlist == {kept, hash_digits(second.salt, inss(2).digits)}
    assert second.version == first.version + 1
    with store.transaction() as conn:
        schemes = set(conn.execute(select(h.scheme)).scalars())
    assert schemes == {siteconfig.scheme_key(second.salt)}


def test_a_new_salt_hashes_everyone_again_and_forgets_the_old_hashes(
    store: Store, site_config: ControllerConfig, tmp_path: Path
) -> None:
    _roster(store, tmp_path, inss(1).digits)
    siteconfig.build(store, site_config, DAY)
    with store.transaction() as conn:
        store.set_meta(conn, siteconfig.SALT_KEY, "ff" * 16)
    config, _ = siteconfig.build(store, site_config, DAY)
    assert config.allowlist == {hash_digits("ff" * 16, inss(1).digits)}
    with store.transaction() as conn:
        rows = conn.execute(select(schema.person_hashes.c.scheme)).scalars().all()
    assert rows == [siteconfig.scheme_key("ff" * 16)]


@pytest.mark.integration
def test_check_ins_are_acknowledged_while_a_large_roster_is_hashed(running, terminal, tmp_path):
    """2,000 new people take seconds to hash: the ingest thread does not wait for them."""
    _controller, store = running
    decode_site_config(terminal.configs.get(timeout=10))  # the config of the empty roster
    crew = [with_inss_check(f"{day:%y%m%d}{n:03d}") for day in _days(20) for n in range(1, 101)]
    path = tmp_path / "crew.csv"
    path.write_text("person,employer\n" + "".join(f"{p},{COMPANY}\n" for p in crew))
    with_store = open_store(store.engine.url.render_as_string(hide_password=False))
    try:
        import_file(with_store, path)
    finally:
        with_store.close()
    time.sleep(HOUSEKEEPING_S * 1.5)  # the build has begun
    terminal.send(checkin(limosa(1)))
    assert terminal.ack(timeout=2).status == "stored"
    assert terminal.configs.empty()  # the new config is not out yet
    config = decode_site_config(terminal.configs.get(timeout=60))
    assert len(config.allowlist) == 2000


def _days(count: int) -> list[date]:
    return [date(1980, 1, 1) + timedelta(days=n) for n in range(count)]
