"""The Terminals page makes enrolment codes: a manager's POST stores a single-use token
(hashed, audited) and shows its QR code; others may not; a bad name is said next to the
field and stores nothing."""

from __future__ import annotations

import base64
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from controller import config as config_module
from controller import schema
from controller.config import ControllerConfig
from presence.enrolment import parse_code, token_hash
from presence.qr import make_decoder
from provisioning import pki
from tests.controller.support import write_site
from tests.controller.web.conftest import Console

ENROLMENT = '\n[enrolment]\nurl = "https://site-office.example:8444/v1/enrol"\n'


@pytest.fixture
def web_config(tmp_path: Path) -> ControllerConfig:
    """The console's site, enrolling terminals, with the site CA beside controller.toml."""
    path = write_site(tmp_path / "site", db_url=f"sqlite:///{tmp_path / 'c.db'}")
    path.write_text(path.read_text() + ENROLMENT)
    ca = pki.make_ca("sitegate CA test", "sitegate test", datetime.now(UTC))
    (path.parent / "ca.pem").write_bytes(pki.cert_pem(ca.cert))
    return config_module.load(path)


def tokens(console: Console) -> list[dict[str, object]]:
    with console.store.transaction() as conn:
        return [dict(r) for r in conn.execute(select(schema.enrolment_tokens)).mappings()]


def shown_code(page: str) -> str:
    """The text of the QR code the page shows, read back with the terminals' decoder."""
    import numpy as np
    from PIL import Image

    found = re.search(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert found, "no QR code image on the page"
    image = Image.open(io.BytesIO(base64.b64decode(found.group(1)))).convert("L")
    [text] = make_decoder("zxing").decode(np.asarray(image))
    return text


def test_a_manager_makes_an_enrolment_code_shown_as_a_qr_code(console: Console) -> None:
    csrf = console.login("mia")

    answer = console.post(
        "/terminals/enrol", {"terminal": "gate-7", "direction": "out", "csrf": csrf}
    )

    assert answer.status_code == 200, answer.text[:500]
    code = parse_code(shown_code(answer.text))
    assert (code.url, code.terminal_id) == ("https://site-office.example:8444/v1/enrol", "gate-7")
    [row] = tokens(console)
    assert row["token_hash"] == token_hash(code.token)
    assert (row["terminal_id"], row["direction"], row["used_at"]) == ("gate-7", "out", None)
    with console.store.transaction() as conn:
        audited = conn.execute(
            select(schema.audit.c.who, schema.audit.c.target).where(
                schema.audit.c.action == "enrol_token"
            )
        ).all()
    assert [tuple(a) for a in audited] == [("mia", "gate-7")]


def test_the_terminals_page_offers_enrolment_to_managers_only(console: Console) -> None:
    console.login("vera")
    assert 'action="/terminals/enrol"' not in console.client.get("/terminals").text
    csrf = console.csrf("/terminals")

    answer = console.post(
        "/terminals/enrol", {"terminal": "gate-7", "direction": "in", "csrf": csrf}
    )

    assert answer.status_code == 403
    assert tokens(console) == []


def test_a_bad_terminal_name_is_said_next_to_the_field_and_stores_nothing(
    console: Console,
) -> None:
    csrf = console.login("mia")

    answer = console.post(
        "/terminals/enrol", {"terminal": "Gate 7!", "direction": "in", "csrf": csrf}
    )

    assert answer.status_code == 400
    assert 'id="terminal-error"' in answer.text
    assert tokens(console) == []


def test_an_enrolment_code_needs_the_csrf_token(console: Console) -> None:
    console.login("mia")

    answer = console.post("/terminals/enrol", {"terminal": "gate-7", "direction": "in"})

    assert answer.status_code == 403
    assert tokens(console) == []
