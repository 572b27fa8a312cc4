"""``add-terminal``, ``list-terminals``, ``revoke-terminal``, ``rotate-terminal``. Each
reads and checks everything first, then writes bundle, CRL, the broker's access control
(``dynamic-security.json``) and ``terminals.toml`` in one ``FileSet`` commit: a failure
anywhere leaves the site directory as it was. ``live_broker`` then reaches the running
broker to make the same change there (``dynsec`` has the commands)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from presence.clock import Clock, SystemClock
from provisioning import bundle, dynsec, pki, terminals
from provisioning.errors import ProvisioningError
from provisioning.fileset import PRIVATE_DIR, SECRET, FileSet
from provisioning.layout import SiteLayout
from provisioning.live_broker import PID_FILE, LiveBroker
from provisioning.record import SiteRecord, load_record
from terminal import config as terminal_config
from terminal.errors import TerminalError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Site:
    layout: SiteLayout
    record: SiteRecord
    ca: pki.Issued
    registry: list[terminals.TerminalRecord]


def open_site(directory: str | Path) -> Site:
    layout = SiteLayout.at(directory)
    record = load_record(layout.site_file)
    try:
        ca = pki.load_issued(layout.ca_key.read_bytes(), layout.ca_cert.read_bytes(), "site CA")
    except OSError as exc:
        raise ProvisioningError("bad_site", f"cannot read the site CA: {exc.strerror}") from None
    return Site(layout, record, ca, terminals.load(layout.terminals_file))


def stage_access(files: FileSet, site: Site, registry: list[terminals.TerminalRecord]) -> None:
    workplace = str(site.record.workplace_id)
    files.write(site.layout.dynsec_file, dynsec.render(workplace, terminals.active_ids(registry)))


def site_ca_pem(directory: str | Path) -> bytes:
    """The site CA's certificate (public), as the enrolment service hands it out."""
    path = SiteLayout.at(directory).ca_cert
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ProvisioningError("bad_site", f"cannot read {path}: {exc.strerror}") from None


def workplace_of(directory: str | Path) -> str:
    return str(load_record(SiteLayout.at(directory).site_file).workplace_id)


def live_broker(directory: str | Path, pid_file: Path = PID_FILE) -> LiveBroker:
    """The site's running broker, on this machine at the port the site was set up with."""
    layout = SiteLayout.at(directory)
    return LiveBroker.of_site(layout, load_record(layout.site_file).broker_port, pid_file)


def read_crl(site: Site) -> dict[int, datetime]:
    try:
        crl = pki.load_crl(site.layout.crl.read_bytes(), str(site.layout.crl))
    except OSError as exc:
        raise ProvisioningError("bad_site", f"cannot read the CRL: {exc.strerror}") from None
    return pki.revoked_serials(crl)


def _stage_bundle(
    files: FileSet,
    site: Site,
    terminal_id: str,
    config_text: str,
    issued: pki.Issued,
    clock: Clock,
) -> None:
    content = bundle.bundle_files(
        config_text,
        pki.cert_pem(site.ca.cert),
        pki.cert_pem(issued.cert),
        pki.key_pem(issued.key),
    )
    directory = site.layout.bundle_dir(terminal_id)
    files.directory(site.layout.terminals_dir, PRIVATE_DIR)
    files.directory(directory, PRIVATE_DIR)
    for name, (data, mode) in content.items():
        files.write(directory / name, data, mode)
    archive = bundle.tar_gz(content, clock.now())
    files.write(site.layout.bundle_archive(terminal_id), archive, SECRET)


def add_terminal(
    directory: str | Path,
    name: str,
    direction: str,
    settings: Sequence[str] = (),
    clock: Clock | None = None,
) -> terminals.TerminalRecord:
    clock = clock or SystemClock()
    terminal_id = terminals.check_id(name)
    checked_direction = terminals.check_direction(direction)
    parsed = tuple(bundle.parse_setting(text) for text in settings)
    site = open_site(directory)
    known = any(r.id == terminal_id for r in site.registry)
    if known or site.layout.bundle_dir(terminal_id).exists():
        raise ProvisioningError("duplicate_terminal", f"a terminal named {name!r} exists")
    issued = pki.issue(site.ca, terminal_id, "client", clock.now())
    record = terminals.TerminalRecord(terminal_id, checked_direction, issued.serial_hex)
    registry = terminals.add(site.registry, record)
    config_text = bundle.terminal_toml(
        terminal_id,
        str(site.record.workplace_id),
        checked_direction,
        site.record.broker_hosts[0],
        site.record.broker_port,
        parsed,
    )
    check_with_terminal_parser(config_text, site.layout.bundle_dir(terminal_id))
    files = FileSet()
    _stage_bundle(files, site, terminal_id, config_text, issued, clock)
    stage_access(files, site, registry)
    files.write(site.layout.terminals_file, terminals.render(registry))
    files.commit()
    log.info("terminal %s added, certificate %s", terminal_id, issued.serial_hex)
    return record


def check_with_terminal_parser(config_text: str, directory: Path) -> None:
    """Never ship a config the terminal would refuse (ranges, pin clashes, choices)."""
    try:
        terminal_config.parse(config_text, directory / bundle.CONFIG_NAME)
    except TerminalError as exc:
        raise ProvisioningError("bad_setting", f"the terminal would refuse it: {exc}") from None


def list_terminals(directory: str | Path) -> list[terminals.TerminalRecord]:
    return open_site(directory).registry


def revoke_terminal(
    directory: str | Path, name: str, clock: Clock | None = None
) -> terminals.TerminalRecord:
    now = (clock or SystemClock()).now()
    site = open_site(directory)
    registry = terminals.revoke(site.registry, name)
    current = terminals.find(site.registry, name)
    revoked = read_crl(site)
    revoked[int(current.cert_serial, 16)] = now
    files = FileSet()
    files.write(site.layout.crl, pki.crl_pem(pki.make_crl(site.ca, revoked, now)))
    stage_access(files, site, registry)
    files.write(site.layout.terminals_file, terminals.render(registry))
    files.commit()
    log.info("terminal %s revoked, certificate %s", name, current.cert_serial)
    return terminals.find(registry, name)


def rotate_terminal(
    directory: str | Path, name: str, clock: Clock | None = None
) -> terminals.TerminalRecord:
    """A new key and certificate for a terminal; the old certificate is revoked."""
    clock = clock or SystemClock()
    now = clock.now()
    site = open_site(directory)
    current = terminals.find(site.registry, name)
    issued = pki.issue(site.ca, current.id, "client", now)
    registry = terminals.rotate(site.registry, name, issued.serial_hex)
    config_path = site.layout.bundle_dir(name) / bundle.CONFIG_NAME
    try:
        config_text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        config_text = bundle.terminal_toml(
            name,
            str(site.record.workplace_id),
            current.direction,
            site.record.broker_hosts[0],
            site.record.broker_port,
        )
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvisioningError("bad_site", f"{config_path}: unreadable ({exc})") from None
    revoked = read_crl(site)
    revoked[int(current.cert_serial, 16)] = now
    files = FileSet()
    _stage_bundle(files, site, name, config_text, issued, clock)
    files.write(site.layout.crl, pki.crl_pem(pki.make_crl(site.ca, revoked, now)))
    files.write(site.layout.terminals_file, terminals.render(registry))
    files.commit()
    log.info("terminal %s rotated to certificate %s", name, issued.serial_hex)
    return terminals.find(registry, name)
