"""Accounts of the web console: argon2id hashes, roles, disable, and the ``user`` commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from controller import accounts, schema
from controller.cli import main
from controller.store import open_store
from tests.controller.support import write_site

PASSWORD = "a long enough secret"


@pytest.fixture
def db(tmp_path: Path):
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    yield store
    store.close()


def test_a_password_is_stored_as_an_argon2id_hash_only(db) -> None:
    accounts.add_account(db, "anna", accounts.MANAGER, PASSWORD)
    with db.transaction() as conn:
        stored = conn.execute(select(schema.accounts.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_authenticate_answers_the_account_for_its_password_only(db) -> None:
    accounts.add_account(db, "anna", accounts.VIEWER, PASSWORD)
    assert accounts.authenticate(db, "anna", PASSWORD).role == accounts.VIEWER
    assert accounts.authenticate(db, "anna", PASSWORD + "x") is None
    assert accounts.authenticate(db, "nobody", PASSWORD) is None
    assert accounts.get_account(db, "anna").last_login_at is not None


def test_a_disabled_account_cannot_sign_in_until_enabled(db) -> None:
    accounts.add_account(db, "anna", accounts.VIEWER, PASSWORD)
    accounts.set_disabled(db, "anna")
    assert accounts.authenticate(db, "anna", PASSWORD) is None
    accounts.set_disabled(db, "anna", False)
    assert accounts.authenticate(db, "anna", PASSWORD) is not None


@pytest.mark.parametrize(
    ("name", "role", "password", "code"),
    [
        ("Anna", "viewer", PASSWORD, "bad_name"),
        ("an na", "viewer", PASSWORD, "bad_name"),
        ("a" * 56, "viewer", PASSWORD, "bad_name"),
        ("anna", "admin", PASSWORD, "bad_role"),
        ("anna", "viewer", "short", "bad_password"),
        ("anna", "viewer", "tab\tinside password", "bad_password"),
    ],
)
def test_bad_accounts_are_refused_with_a_code(db, name, role, password, code) -> None:
    with pytest.raises(accounts.AccountError) as caught:
        accounts.add_account(db, name, role, password)
    assert caught.value.code == code
    assert accounts.list_accounts(db) == []


def test_an_account_name_is_taken_once(db) -> None:
    accounts.add_account(db, "anna", accounts.VIEWER, PASSWORD)
    with pytest.raises(accounts.AccountError) as caught:
        accounts.add_account(db, "anna", accounts.MANAGER, PASSWORD)
    assert caught.value.code == "exists"


def test_roles_grant_read_scan_act_and_reveal_as_documented() -> None:
    assert accounts.may("viewer", "read") and not accounts.may("viewer", "act")
    assert accounts.may("team-leader", "scan") and not accounts.may("team-leader", "act")
    assert all(accounts.may("manager", p) for p in ("read", "act", "scan", "reveal"))
    assert not accounts.may("intruder", "read")


# --- the commands ---------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return write_site(tmp_path / "site", db_url=f"sqlite:///{tmp_path / 'c.db'}")


def test_user_add_reads_the_password_from_a_file_and_lists_the_account(
    site, tmp_path, capsys
) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    args = ["--config", str(site), "user", "add", "mia", "--role", "manager"]
    assert main([*args, "--password-file", str(secret)]) == 0
    assert main(["--config", str(site), "user", "list"]) == 0
    out = capsys.readouterr().out
    assert "mia" in out and "manager" in out and PASSWORD not in out
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        assert accounts.authenticate(store, "mia", PASSWORD) is not None
        assert main(["--config", str(site), "user", "list"]) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("mia"))
        assert line.endswith((" CET", " CEST"))  # the sign-in, in Brussels time
    finally:
        store.close()


def test_user_add_prompts_twice_and_refuses_different_passwords(site, monkeypatch, capsys) -> None:
    answers = iter([PASSWORD, PASSWORD + "!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["--config", str(site), "user", "add", "mia", "--role", "viewer"]) == 1
    assert "differ" in capsys.readouterr().err


def test_user_passwd_and_disable_change_the_account(site, tmp_path, capsys) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD)
    base = ["--config", str(site), "user"]
    assert main([*base, "add", "tom", "--role", "team-leader", "--password-file", str(secret)]) == 0
    secret.write_text("another long secret")
    assert main([*base, "passwd", "tom", "--password-file", str(secret)]) == 0
    assert main([*base, "disable", "tom"]) == 0
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        assert accounts.get_account(store, "tom").disabled
        accounts.set_disabled(store, "tom", False)
        assert accounts.authenticate(store, "tom", "another long secret") is not None
    finally:
        store.close()


def test_user_command_on_an_unknown_account_fails_with_its_code(site, capsys) -> None:
    assert main(["--config", str(site), "user", "disable", "ghost"]) == 1
    assert "[not_found]" in capsys.readouterr().err
