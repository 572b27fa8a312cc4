"""``sitegate-provision enrol``: checks like add-terminal, stores the token hashed, draws the
QR code; a refusal prints one line with its code, exits 1 and stores nothing."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from controller import config as controller_config
from controller import schema
from controller.config import ControllerConfig
from controller.store import open_store
from presence.enrolment import parse_code, token_hash
from presence.qr import make_decoder
from provisioning import cli, terminal_admin, tomlgen
from provisioning.layout import SiteLayout
from tests.provisioning.enrolment.support import configure


@pytest.fixture
def config(site: SiteLayout, tmp_path: Path) -> ControllerConfig:  # no broker needed here
    path = configure(site, f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "no.pid")
    return controller_config.load(path)


def stored(config: ControllerConfig) -> list[dict[str, object]]:
    store = open_store(config.database.url)
    try:
        with store.transaction() as conn:
            return [dict(r) for r in conn.execute(select(schema.enrolment_tokens)).mappings()]
    finally:
        store.close()


def provision(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_enrol_writes_the_qr_code_of_a_stored_token(
    site: SiteLayout, config: ControllerConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "gate-3.png"

    code, out, err = provision(capsys, "enrol", "gate-3", "--direction", "in", "--valid", "1h",
                               "--png", str(png), "--dir", str(site.root))  # fmt: skip

    assert (code, err) == (0, "")
    assert "enrolment code for gate-3 (in), single use, valid until" in out
    assert "█" in out or "▀" in out  # drawn in the terminal
    [text] = make_decoder("zxing").decode(np.asarray(Image.open(png).convert("L")))
    enrolment = parse_code(text)
    assert enrolment.terminal_id == "gate-3" and enrolment.url == config.enrolment.url  # type: ignore[union-attr]
    [row] = stored(config)
    assert row["token_hash"] == token_hash(enrolment.token)
    assert (row["expires_at"] - row["created_at"]).total_seconds() == 3600  # type: ignore[operator]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--set", "gate.relay_pin=22"], "bad_setting"),  # the green LED's pin
        (["--set", "terminal.id=gate-9"], "bad_setting"),
        (["--valid", "30d"], "bad_validity"),
    ],
    ids=["pin-clash", "managed-key", "validity"],
)
def test_enrol_refuses_what_the_terminal_or_the_rules_would_refuse(
    site: SiteLayout, config: ControllerConfig, capsys: pytest.CaptureFixture[str],
    argv: list[str], error: str,
) -> None:  # fmt: skip
    code, out, err = provision(capsys, "enrol", "gate-3", "--direction", "in", *argv,
                               "--no-qr", "--dir", str(site.root))  # fmt: skip

    assert code == cli.EXIT_ERROR
    assert f"[{error}]" in err and out == ""
    assert stored(config) == []


def test_a_revoked_terminal_gets_no_enrolment_code(
    site: SiteLayout, config: ControllerConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal_admin.add_terminal(site.root, "gate-3", "in")
    terminal_admin.revoke_terminal(site.root, "gate-3")

    code, _, err = provision(capsys, "enrol", "gate-3", "--direction", "in", "--no-qr",
                             "--dir", str(site.root))  # fmt: skip

    assert code == cli.EXIT_ERROR and "[revoked]" in err
    assert stored(config) == []


def test_a_controller_without_enrolment_makes_no_code(
    site: SiteLayout, config: ControllerConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    document = tomllib.loads(config.path.read_text())
    document.pop("enrolment")
    config.path.write_text(tomlgen.dumps(document))

    code, _, err = provision(capsys, "enrol", "gate-3", "--direction", "in", "--no-qr",
                             "--dir", str(site.root))  # fmt: skip

    assert code == cli.EXIT_ERROR and "[no_enrolment]" in err and "add-terminal" in err
    assert stored(config) == []
