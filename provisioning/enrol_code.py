"""``sitegate-provision enrol``: a single-use enrolment code for one terminal, checked the way
``add-terminal`` checks its input (name, direction, settings the terminal would accept), kept
hashed in the controller's database, and shown as a QR code (on the terminal, as a PNG)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controller import audit
from controller import config as controller_config
from controller import enrolment as tokens
from controller.errors import ControllerError
from controller.store import open_store
from provisioning import bundle, terminal_admin, terminals
from provisioning.controller_config import CONFIG_NAME
from provisioning.errors import ProvisioningError
from provisioning.layout import SiteLayout

PORT = 8444  # beside the console's 8443


@dataclass(frozen=True, slots=True)
class EnrolmentCode:
    terminal_id: str
    direction: str
    text: str  # what the QR code holds
    token: tokens.NewToken


def controller_config_of(directory: str | Path) -> controller_config.ControllerConfig:
    path = SiteLayout.at(directory).controller_dir / CONFIG_NAME
    try:
        return controller_config.load(path)
    except ControllerError as exc:
        raise ProvisioningError("bad_site", str(exc)) from None


def new_code(
    directory: str | Path,
    name: str,
    direction: str,
    settings: Sequence[str] = (),
    valid: str = "15m",
    actor: audit.Actor | None = None,
) -> EnrolmentCode:
    terminal_id = terminals.check_id(name)
    checked = terminals.check_direction(direction)
    parsed = tuple(bundle.parse_setting(text) for text in settings)
    site = terminal_admin.open_site(directory)
    known = next((r for r in site.registry if r.id == terminal_id), None)
    if known is not None and known.revoked:
        raise ProvisioningError("revoked", f"terminal {name!r} is revoked; use a new name")
    text = bundle.terminal_toml(
        terminal_id, str(site.record.workplace_id), checked,
        site.record.broker_hosts[0], site.record.broker_port, parsed,
    )  # fmt: skip
    terminal_admin.check_with_terminal_parser(text, site.layout.bundle_dir(terminal_id))
    config = controller_config_of(directory)
    try:
        valid_s = tokens.parse_validity(valid)
        if config.enrolment is None:
            raise ProvisioningError(
                "no_enrolment", f"{config.path} has no [enrolment] section: add-terminal instead"
            )
        store = open_store(config.database.url)
        try:
            token, code = tokens.new_code(
                store, config, terminal_id, checked, tuple(settings), valid_s, actor
            )
        finally:
            store.close()
        return EnrolmentCode(terminal_id, checked, code, token)
    except ControllerError as exc:
        raise ProvisioningError(exc.code, str(exc)) from None


def qr_png(text: str, scale: int = 8) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def qr_terminal(text: str) -> str:
    import segno

    buffer = io.StringIO()
    segno.make(text, error="m", micro=False).terminal(out=buffer, compact=True)
    return buffer.getvalue()


def enrolment_section(url: str, port: int = PORT, host: str = "0.0.0.0") -> str:
    """The ``[enrolment]`` section of ``controller.toml`` init-site writes (``host``: the
    address it listens on, the broker's when the site binds it to one)."""
    return (
        "\n# Terminals enrol by QR code here (sitegate-provision enrol); HTTPS with the\n"
        "# console's certificate. site_dir: the site directory, for the CA and the broker.\n"
        "[enrolment]\n"
        f'url = "{url}"\n'
        f'host = "{host}"\n'
        f"port = {port}\n"
        'cert_file = "console.pem"\n'
        'key_file = "console.key"\n'
        'site_dir = ".."\n'
    )
