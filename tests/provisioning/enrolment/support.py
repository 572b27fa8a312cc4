"""A site set up for enrolment on loopback: init-site with the controller at 127.0.0.1, its
controller.toml pointed at the test's database, ports and broker; CSRs and raw requests."""

from __future__ import annotations

import json
import shutil
import ssl
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from presence.clock import SystemClock
from provisioning import site_setup, tomlgen
from provisioning.layout import SiteLayout
from sim.processes import free_port
from tests.provisioning.conftest import hand_files_to_mosquitto, site_request


@contextmanager
def enrolment_site() -> Iterator[SiteLayout]:
    """A site whose controller (broker and enrolment) is 127.0.0.1, outside pytest's private
    tmp so that mosquitto can read it."""
    root = Path(tempfile.mkdtemp(prefix="sitegate-enrol-"))
    root.chmod(0o755)
    layout = SiteLayout.at(root / "site")
    try:
        request = site_request(layout.root, broker_hosts=("127.0.0.1",), broker_port=free_port())
        site_setup.init_site(request, SystemClock())
        hand_files_to_mosquitto(layout)
        yield layout
    finally:
        shutil.rmtree(root, ignore_errors=True)


def configure(
    layout: SiteLayout,
    database_url: str,
    pid_file: Path,
    registry_endpoint: str | None = None,
    **enrolment: Any,
) -> Path:
    """The provisioned controller.toml with the test's database, a free enrolment port on
    loopback, the test broker's pid file and no console; returns its path."""
    path = layout.controller_dir / "controller.toml"
    document = tomllib.loads(path.read_text())
    port = free_port()
    document["database"]["url"] = database_url
    document.pop("web")
    document["enrolment"].update(
        host="127.0.0.1",
        port=port,
        url=f"https://127.0.0.1:{port}/v1/enrol",
        broker_pid_file=str(pid_file),
        **enrolment,
    )
    if registry_endpoint is not None:
        document["registry"]["endpoint"] = registry_endpoint
        document["timing"].update(relay_interval_s=0.5, retry_base_s=0.5, retry_max_s=2.0,
                                  poll_interval_s=1.0)  # fmt: skip
    path.write_text(tomlgen.dumps(document))
    return path


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def csr_pem(common_name: str, key: Any = None, **extra: str) -> str:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if "organisation" in extra:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, extra["organisation"]))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    signed = builder.sign(key or new_key(), hashes.SHA256())
    return signed.public_bytes(serialization.Encoding.PEM).decode()


def post(layout: SiteLayout, url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """A raw POST over TLS verified with the site CA."""
    context = ssl.create_default_context(cafile=str(layout.ca_cert))
    answer = httpx.post(
        url, content=body, headers={"Content-Type": "application/json"}, verify=context,
        timeout=10,
    )  # fmt: skip
    return answer.status_code, json.loads(answer.content)
