"""controller.toml: parsed once, typed, unknown keys rejected, errors name file/section/key."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller import config
from controller.errors import ConfigError
from tests.controller.support import write_site


def _site(tmp_path: Path) -> Path:
    return write_site(tmp_path, db_url="sqlite:///x.db")


def test_the_contract_file_parses_into_frozen_sections(tmp_path: Path) -> None:
    loaded = config.load(_site(tmp_path))
    assert loaded.site.workplace_id == "1Y102M7NZF7PZ"
    assert loaded.broker.tls is False and loaded.broker.session_expiry_s == 3600
    assert loaded.timing.relay_interval_s == 0.2
    assert loaded.terminals_path == tmp_path.resolve() / "terminals.toml"
    with pytest.raises(AttributeError):
        loaded.site.workplace_id = "X"  # type: ignore[misc]


def test_defaults_fill_absent_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('config_version = 1\n[site]\nworkplace_id = "1Y102M7NZF7PZ"\n')
    loaded = config.load(path)
    assert loaded.database.url == "sqlite:////var/lib/sitegate/controller.db"
    assert loaded.timing.clock_skew_max_s == 300.0


@pytest.mark.parametrize(
    ("edit", "code", "fragment"),
    [
        (
            ("[timing]", "[timing]\nrelay_every = 3"),
            "unknown_key",
            "[timing] unknown key 'relay_every'",
        ),
        (("[policy]", "[extras]\n[policy]"), "unknown_section", "unknown section [extras]"),
        (("port = ", "port = 'x'\n#"), "wrong_type", "[broker] key 'port' must be int"),
        (("config_version = 1", "config_version = 2"), "version", "config_version 2"),
        (
            ('workplace_id = "1Y102M7NZF7PZ"', 'workplace_id = "bad id!"'),
            "bad_value",
            "[site] key 'workplace_id'",
        ),
        (
            ("relay_interval_s = 0.2", "relay_interval_s = 0"),
            "range",
            "[timing] key 'relay_interval_s' must be positive",
        ),
        (
            ('unknown_person = "refuse"', 'unknown_person = "maybe"'),
            "bad_value",
            "[policy] key 'unknown_person'",
        ),
        (
            ('company_id = "0403170701"', 'company_id = "0403170702"'),
            "bad_value",
            "[site] key 'company_id'",
        ),
    ],
)
def test_a_bad_file_names_file_section_and_key(tmp_path: Path, edit, code, fragment) -> None:
    path = _site(tmp_path)
    old, new = edit
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert caught.value.code == code
    assert str(path) in str(caught.value) and fragment in str(caught.value)


def test_missing_workplace_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("config_version = 1\n[site]\nname = 'x'\n")
    with pytest.raises(ConfigError, match=r"\[site\] key 'workplace_id' is missing"):
        config.load(path)


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path / "absent.toml")
    assert caught.value.code == "unreadable"
    broken = tmp_path / "broken.toml"
    broken.write_text("config_version = = 1")
    with pytest.raises(ConfigError) as caught:
        config.load(broken)
    assert caught.value.code == "syntax"
