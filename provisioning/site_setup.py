"""``init-site`` and ``poster``: the site's CA, broker and controller files, and its
entrance poster. Every input is checked and everything built in memory before one
``FileSet`` commit: a failure anywhere leaves the disk as it was."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from controller import config as controller_config
from controller.errors import ControllerError
from presence.clock import Clock, SystemClock
from presence.enrolment import ENROL_PATH
from presence.ids import InvalidIdentifier, parse_company_id, parse_workplace_id
from provisioning import console_cert, dynsec, enrol_code, pki, terminals
from provisioning.broker import ADMIN_USER, CONTROLLER_USER, BrokerFiles, mosquitto_conf
from provisioning.controller_config import (
    CA_NAME,
    CERT_NAME,
    CONFIG_NAME,
    KEY_NAME,
    SIMULATION_ENDPOINT,
    STATE_DIR,
    controller_toml,
    database_url,
)
from provisioning.errors import ProvisioningError
from provisioning.fileset import PRIVATE_DIR, PUBLIC, SECRET, FileSet
from provisioning.layout import SiteLayout
from provisioning.poster import output_suffix, render
from provisioning.poster_text import Privacy
from provisioning.record import SiteRecord, load_record
from provisioning.site import SECTORS, Obligation, obligation, parse_amount, parse_date

log = logging.getLogger(__name__)

_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*")
MAX_SITE_NAME = 80
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True, slots=True)
class SiteRequest:
    directory: str
    workplace: str
    company: str
    sector: str
    works_start: str
    contract_amount: str | None = None
    name: str | None = None
    broker_hosts: Sequence[str] = ()
    broker_port: int = 8883
    broker_bind: str = ""  # the address the broker listens on; "" = every interface
    state_dir: str = STATE_DIR  # the controller's database directory
    registry_endpoint: str = SIMULATION_ENDPOINT
    web_port: int = console_cert.PORT


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the broker listens and where the controller keeps its state: checked, not part
    of the site's record (nothing after init-site needs them)."""

    broker_bind: str
    database_url: str
    registry_endpoint: str
    web_port: int


def _identifier_error(exc: InvalidIdentifier) -> ProvisioningError:
    code = "invalid_workplace" if exc.kind == "workplace id" else "invalid_company"
    return ProvisioningError(code, str(exc))


def _check_site(request: SiteRequest) -> tuple[SiteRecord, Obligation]:
    try:
        workplace = parse_workplace_id(request.workplace)
        company = parse_company_id(request.company)
    except InvalidIdentifier as exc:
        raise _identifier_error(exc) from None
    sector = next((s for s in SECTORS if s == request.sector), None)
    if sector is None:
        raise ProvisioningError("bad_sector", f"sector {request.sector!r}: {', '.join(SECTORS)}")
    works_start = parse_date(request.works_start, "works start")
    amount: Decimal | None = None
    if request.contract_amount is not None:
        amount = parse_amount(request.contract_amount)
    duty = obligation(sector, works_start, amount)
    name = (request.name or f"Site {workplace}").strip()
    if not name.isprintable() or not 0 < len(name) <= MAX_SITE_NAME:
        raise ProvisioningError("bad_name", f"site name: 1 to {MAX_SITE_NAME} printable characters")
    hosts = tuple(request.broker_hosts) or (_default_host(),)
    for host in hosts:
        _check_host(host)
    if not 0 < request.broker_port < 65536:
        raise ProvisioningError("bad_port", f"broker port {request.broker_port}: 1 to 65535")
    record = SiteRecord(
        workplace, company, name, sector, works_start, amount, hosts, request.broker_port
    )
    return record, duty


def _check_placement(request: SiteRequest) -> Placement:
    bind = request.broker_bind.strip()
    if bind:
        try:
            ipaddress.ip_address(bind)
        except ValueError:
            raise ProvisioningError(
                "bad_bind", f"broker bind address {bind!r} is not an IP address (e.g. 127.0.0.1)"
            ) from None
    state = request.state_dir.strip()
    if not state or any(c.isspace() or c in "?#%" for c in state):
        raise ProvisioningError(
            "bad_state_dir", f"state directory {state!r}: a path without spaces, ?, # or %"
        )
    endpoint = request.registry_endpoint.strip()
    if not endpoint.startswith(("http://", "https://")) or any(c.isspace() for c in endpoint):
        raise ProvisioningError("bad_endpoint", f"registry endpoint {endpoint!r}: an http(s) URL")
    if not 0 < request.web_port < 65536:
        raise ProvisioningError("bad_port", f"console port {request.web_port}: 1 to 65535")
    return Placement(bind, database_url(os.path.abspath(state)), endpoint, request.web_port)


def _default_host() -> str:
    return os.uname().nodename or "localhost"


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(host):
        raise ProvisioningError("bad_host", f"broker host {host!r} is not a host name or address")


def _check_new_site_dir(layout: SiteLayout) -> None:
    root = layout.root
    if any(c.isspace() for c in str(root)):
        # mosquitto's config file has no quoting: a path with a space cannot be written in it.
        raise ProvisioningError("bad_dir", f"site directory {root}: no spaces in the path")
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ProvisioningError("site_exists", f"{root} exists and is not an empty directory")


def init_site(request: SiteRequest, clock: Clock | None = None) -> Obligation:
    layout = SiteLayout.at(request.directory)
    record, duty = _check_site(request)
    placement = _check_placement(request)
    _check_new_site_dir(layout)
    now = (clock or SystemClock()).now()
    workplace = str(record.workplace_id)
    ca = pki.make_ca(f"sitegate CA {workplace}", f"sitegate {workplace}", now)
    files = FileSet()
    files.write(layout.site_file, record.render())
    files.directory(layout.ca_dir, PRIVATE_DIR)
    files.write(layout.ca_key, pki.key_pem(ca.key), SECRET)
    files.write(layout.ca_cert, pki.cert_pem(ca.cert))
    _stage_broker(files, layout, record, ca, now, placement.broker_bind)
    _stage_controller(files, layout, record, ca, now, placement)
    files.commit()
    log.info("site %s set up in %s", workplace, layout.root)
    return duty


def _stage_broker(
    files: FileSet,
    layout: SiteLayout,
    record: SiteRecord,
    ca: pki.Issued,
    now: datetime,
    bind: str = "",
) -> None:
    hosts = tuple(dict.fromkeys([*record.broker_hosts, *LOOPBACK_HOSTS]))
    server = pki.issue(ca, record.broker_hosts[0], "server", now, hosts)
    paths = BrokerFiles.in_dir(layout.broker_dir)
    conf = mosquitto_conf(paths, record.broker_port, bind)
    files.write(layout.broker_dir / "mosquitto.conf", conf)
    files.write(paths.dynsec_file, dynsec.render(str(record.workplace_id), []))
    files.write(paths.ca_file, pki.cert_pem(ca.cert))
    files.write(paths.cert_file, pki.cert_pem(server.cert))
    files.write(paths.key_file, pki.key_pem(server.key), SECRET)
    files.write(paths.crl_file, pki.crl_pem(pki.make_crl(ca, {}, now)))
    admin = pki.issue(ca, ADMIN_USER, "client", now)
    files.directory(layout.admin_dir, PRIVATE_DIR)
    files.write(layout.admin_cert, pki.cert_pem(admin.cert))
    files.write(layout.admin_key, pki.key_pem(admin.key), SECRET)


def _stage_controller(
    files: FileSet,
    layout: SiteLayout,
    record: SiteRecord,
    ca: pki.Issued,
    now: datetime,
    placement: Placement,
) -> None:
    """The controller reaches the broker on the same machine, through loopback."""
    controller = pki.issue(ca, CONTROLLER_USER, "client", now)
    directory = layout.controller_dir
    text = (
        controller_toml(
            str(record.workplace_id),
            record.company_id.digits,
            record.name,
            LOOPBACK_HOSTS[1],
            record.broker_port,
            database_url=placement.database_url,
            registry_endpoint=placement.registry_endpoint,
        )
        + console_cert.web_section(placement.web_port)
        + enrol_code.enrolment_section(
            enrolment_url(record.broker_hosts[0]), host=placement.broker_bind or "0.0.0.0"
        )
    )
    _check_with_controller_parser(text, directory / CONFIG_NAME)
    files.write(directory / CONFIG_NAME, text)
    files.write(directory / CA_NAME, pki.cert_pem(ca.cert))
    files.write(directory / CERT_NAME, pki.cert_pem(controller.cert))
    files.write(directory / KEY_NAME, pki.key_pem(controller.key), SECRET)
    files.write(layout.terminals_file, terminals.render([]))
    console_cert.stage(files, directory, ca, record.broker_hosts, now)


def enrolment_url(host: str, port: int = enrol_code.PORT) -> str:
    """Where terminals enrol: the controller machine, by the name its certificate carries."""
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}:{port}{ENROL_PATH}"


def _check_with_controller_parser(text: str, path: Path) -> None:
    """Never write a controller.toml the controller would refuse (e.g. an odd site name)."""
    try:
        controller_config.parse(tomllib.loads(text), path)
    except ControllerError as exc:
        raise ProvisioningError("bad_site", f"the controller would refuse it: {exc}") from None


def make_poster(directory: str | Path, out: str | Path) -> Path:
    target = Path(os.path.abspath(out))
    suffix = output_suffix(target)
    layout = SiteLayout.at(directory)
    record = load_record(layout.site_file)
    privacy = Privacy(
        controller=record.privacy_controller or str(record.company_id),
        retention_days=_retention_days(layout.controller_dir / "controller.toml"),
        contact=record.privacy_contact,
    )
    data = render(record.name, record.workplace_id, record.company_id, suffix, privacy)
    files = FileSet()
    files.write(target, data, PUBLIC)
    files.commit()
    return target


def _retention_days(controller_toml: Path) -> int:
    """``[retention] days`` of the site's controller.toml, as the poster announces it (the
    controller's default when the file or the key is absent)."""
    default = controller_config.DEFAULT_RETENTION_DAYS
    try:
        document = tomllib.loads(controller_toml.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return default
    days = document.get("retention", {}).get("days", default)
    return days if isinstance(days, int) and not isinstance(days, bool) else default
