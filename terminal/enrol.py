"""A terminal enrols itself: it shows the ``provisioning`` pattern, reads the enrolment QR
code with its own camera (the scanner of L1 codes; any other code is ignored), makes its
EC P-256 key here (written 0600, never sent), and asks the controller for a certificate.

The controller's CA is pinned by the fingerprint in the code, never trusted on first use:
``GET /v1/ca`` (the only request made before the CA is known, and it sends nothing) must
give a certificate with that fingerprint, and the ``POST`` of the token and the CSR then goes
over TLS verified against that CA alone, to the host the code names. What comes back is
checked (our key, our name, signed by that CA, a ``terminal.toml`` the terminal accepts)
and written atomically beside ``terminal.toml``, which is renamed into place last: a
terminal with a ``terminal.toml`` is enrolled. The LEDs say ``enrolled``, or why not
(``enrolment_refused``: the controller refused the code; ``enrolment_failed``: controller
not reached or not this site's CA), and the terminal waits for another code.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import http.client
import logging
import os
import queue
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from presence.clock import Clock, SystemClock
from presence.enrolment import (
    CA_PATH,
    MAX_BODY_BYTES,
    BadEnrolment,
    EnrolmentCode,
    NotAnEnrolmentCode,
    decode_answer,
    decode_refusal,
    encode_request,
    fingerprint,
    parse_code,
)
from terminal import config as terminal_config
from terminal.config import CameraSection, QrSection, TerminalConfig
from terminal.drivers.events import DriverEvent, QrSeen
from terminal.drivers.gate import GateConfig
from terminal.drivers.gate.patterns import PATTERNS
from terminal.errors import TerminalError

log = logging.getLogger(__name__)

HTTP_TIMEOUT_S = 10.0
KEY_MODE = 0o600
PUBLIC_MODE = 0o644
POLL_S = 0.05
ENROLLED = "enrolled"


class EnrolmentFailed(TerminalError):
    """Why an enrolment did not happen. Codes: the controller's refusal (``presence.
    enrolment.REFUSALS``), ``unreachable``, ``ca_mismatch``, ``bad_answer``, ``unwritable``,
    ``timeout``."""

    @property
    def refused(self) -> bool:
        """The controller answered no (the code must be replaced), as opposed to a failure."""
        return self.code not in ("unreachable", "ca_mismatch", "bad_answer", "unwritable")


@dataclass(frozen=True, slots=True)
class Hardware:
    """What an unenrolled terminal uses: its camera and its LEDs (no terminal.toml yet)."""

    camera: CameraSection = field(default_factory=CameraSection)
    qr: QrSection = field(default_factory=QrSection)
    gate: GateConfig = field(default_factory=GateConfig)


def add_options(parser: argparse.ArgumentParser) -> None:
    """The hardware options of an unenrolled terminal (``enrol``, and ``run`` without a
    terminal.toml); the defaults are the standard Pi's."""
    group = parser.add_argument_group("before enrolment (no terminal.toml yet)")
    group.add_argument("--camera", default=CameraSection().backend, help="camera back-end")
    group.add_argument("--camera-device", default="", help="camera device (or image folder)")
    group.add_argument("--pin-factory", default="", help="gpiozero pin factory (default: auto)")


def hardware_of(args: argparse.Namespace) -> Hardware:
    try:
        return Hardware(
            camera=CameraSection(backend=args.camera, device=args.camera_device),
            gate=GateConfig(pin_factory=args.pin_factory),
        )
    except TerminalError as exc:
        raise EnrolmentFailed("bad_options", str(exc)) from None


# --- the exchange with the controller -------------------------------------------------------


def _connection(code: EnrolmentCode, context: ssl.SSLContext) -> http.client.HTTPSConnection:
    parts = urlsplit(code.url)
    assert parts.hostname is not None  # parse_code checked it
    return http.client.HTTPSConnection(
        parts.hostname, parts.port or 443, timeout=HTTP_TIMEOUT_S, context=context
    )


def _exchange(
    code: EnrolmentCode, context: ssl.SSLContext, method: str, path: str, body: bytes | None
) -> tuple[int, bytes]:
    connection = _connection(code, context)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read(MAX_BODY_BYTES + 1)
        return response.status, data
    except (OSError, http.client.HTTPException) as exc:
        raise EnrolmentFailed("unreachable", f"controller at {code.url}: {exc}") from None
    finally:
        connection.close()


def fetch_ca(code: EnrolmentCode) -> x509.Certificate:
    """The site CA, pinned by the code's fingerprint (the server is not trusted yet)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    status, data = _exchange(code, context, "GET", CA_PATH, None)
    try:
        ca = x509.load_pem_x509_certificate(data) if status == 200 else None
    except ValueError:
        ca = None
    if ca is None:
        raise EnrolmentFailed("bad_answer", f"no CA certificate at {CA_PATH} (HTTP {status})")
    found = fingerprint(ca.public_bytes(serialization.Encoding.DER))
    if not hmac.compare_digest(found, code.ca_fingerprint):
        raise EnrolmentFailed("ca_mismatch", "the controller's CA is not the one of the code")
    return ca


def request_certificate(code: EnrolmentCode, ca: x509.Certificate, csr_pem: str) -> Any:
    """POST the token and CSR over TLS verified against ``ca`` alone; the decoded answer."""
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode("ascii")
    context = ssl.create_default_context(cadata=ca_pem)  # this CA only, host name checked
    path = urlsplit(code.url).path or "/"
    status, data = _exchange(code, context, "POST", path, encode_request(code.token, csr_pem))
    if status != 200:
        reason, message = decode_refusal(data)
        raise EnrolmentFailed(reason, f"the controller refused: {message}")
    try:
        return decode_answer(data)
    except BadEnrolment as exc:
        raise EnrolmentFailed("bad_answer", str(exc)) from None


def make_csr(key: ec.EllipticCurvePrivateKey, terminal_id: str) -> str:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, terminal_id)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True, slots=True)
class Credentials:
    config_text: str
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def check_answer(
    answer: Any,
    code: EnrolmentCode,
    ca: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    config_path: Path,
) -> tuple[Credentials, TerminalConfig]:
    """Everything the controller sent, checked before anything is written."""
    try:
        cert = x509.load_pem_x509_certificate(answer.certificate_pem.encode("ascii"))
        sent_ca = x509.load_pem_x509_certificate(answer.ca_pem.encode("ascii"))
        ca_key = ca.public_key()
        assert isinstance(ca_key, ec.EllipticCurvePublicKey)
        ca_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    except (ValueError, UnicodeEncodeError, AssertionError, InvalidSignature) as exc:
        raise EnrolmentFailed(
            "bad_answer", f"the certificate is not the site CA's ({exc})"
        ) from None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if (
        sent_ca != ca
        or cert.public_key() != key.public_key()
        or [n.value for n in names] != [code.terminal_id]
        or answer.terminal_id != code.terminal_id
    ):
        raise EnrolmentFailed("bad_answer", "the certificate is not for this terminal's key")
    try:
        config = terminal_config.parse(answer.config_toml, config_path)
    except TerminalError as exc:
        raise EnrolmentFailed("bad_answer", f"the terminal.toml received: {exc}") from None
    broker = config.broker
    if config.terminal.id != code.terminal_id or None in (
        broker.ca_file,
        broker.cert_file,
        broker.key_file,
    ):
        raise EnrolmentFailed("bad_answer", "the terminal.toml received is not for this terminal")
    credentials = Credentials(
        answer.config_toml,
        ca.public_bytes(serialization.Encoding.PEM),
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return credentials, config


def write_credentials(credentials: Credentials, config: TerminalConfig) -> None:
    """All files under temporary names first, then renamed, ``terminal.toml`` last."""
    broker = config.broker
    assert broker.ca_file and broker.cert_file and broker.key_file
    order = [
        (broker.key_file, credentials.key_pem, KEY_MODE),
        (broker.ca_file, credentials.ca_pem, PUBLIC_MODE),
        (broker.cert_file, credentials.cert_pem, PUBLIC_MODE),
        (config.path, credentials.config_text.encode("utf-8"), PUBLIC_MODE),
    ]
    staged: list[tuple[str, Path]] = []
    try:
        for path, data, mode in order:
            path.parent.mkdir(parents=True, exist_ok=True)
            staged.append((_temporary(path, data, mode), path))
        for temp, path in staged:
            os.replace(temp, path)
        for directory in {path.parent for _, path in staged}:
            _fsync_dir(directory)
    except OSError as exc:
        for temp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        raise EnrolmentFailed("unwritable", f"cannot write the credentials: {exc}") from None


def _temporary(path: Path, data: bytes, mode: int) -> str:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates it 0600
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return name


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def enrol_with(code: EnrolmentCode, config_path: Path) -> TerminalConfig:
    """One enrolment from a code read: key, CSR, pinned CA, certificate, files."""
    ca = fetch_ca(code)
    key = ec.generate_private_key(ec.SECP256R1())
    answer = request_certificate(code, ca, make_csr(key, code.terminal_id))
    credentials, config = check_answer(answer, code, ca, key, config_path)
    write_credentials(credentials, config)
    log.info("enrolled as terminal %s; credentials written beside %s", code.terminal_id,
             config_path)  # fmt: skip
    return config


# --- the terminal waiting for its code ------------------------------------------------------


class Enroller:
    """The camera and the LEDs of an unenrolled terminal, until a code enrols it."""

    def __init__(
        self,
        config_path: Path,
        hardware: Hardware,
        *,
        clock: Clock | None = None,
        pin_factory: Any = None,
        source: Any = None,
        on_code: Callable[[EnrolmentCode], None] | None = None,
    ) -> None:
        from terminal import wiring
        from terminal.drivers import camera, qr

        self.config_path = config_path
        self.clock = clock or SystemClock()
        self.events: queue.Queue[DriverEvent] = queue.Queue()
        self.on_code = on_code
        self.last_failure: EnrolmentFailed | None = None
        self._stop = threading.Event()
        cam = hardware.camera
        with wiring.translated("gate"):
            from terminal.drivers.gate import Gate

            self.gate = Gate(hardware.gate, self.events, pin_factory=pin_factory, clock=self.clock)
        try:
            with wiring.translated("camera"):
                self.source = source or camera.open_source(
                    cam.backend, cam.width, cam.height, cam.fps, cam.device, self.clock
                )
                self.scanner = qr.QrScanner(
                    self.source, qr.make_decoder(hardware.qr.decoder), self.events,
                    clock=self.clock, repeat_window_s=hardware.qr.repeat_window_s,
                )  # fmt: skip
        except BaseException:
            self.gate.close()
            raise

    def stop(self) -> None:
        self._stop.set()

    def run(self, timeout_s: float | None = None) -> TerminalConfig:
        """Wait for an enrolment code and enrol; ``EnrolmentFailed("timeout")`` after
        ``timeout_s`` (None: until stopped) without one that worked."""
        self.gate.show("provisioning")
        self.scanner.start()
        log.info("waiting for an enrolment code (%s)", self.config_path)
        deadline = None if timeout_s is None else self.clock.monotonic() + timeout_s
        while not self._stop.is_set():
            if deadline is not None and self.clock.monotonic() > deadline:
                break
            try:
                event = self.events.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if isinstance(event, QrSeen):
                done = self._try(event.text)
                if done is not None:
                    return done
        raise EnrolmentFailed("timeout", "no enrolment code worked")

    def _try(self, text: str) -> TerminalConfig | None:
        try:
            code = parse_code(text)
        except NotAnEnrolmentCode:
            log.debug("a QR code that is not an enrolment code: ignored")
            return None
        except BadEnrolment as exc:
            self._failed(EnrolmentFailed(exc.code, str(exc)))
            return None
        if self.on_code is not None:
            self.on_code(code)
        try:
            return enrol_with(code, self.config_path)
        except EnrolmentFailed as exc:
            self._failed(exc)
            return None

    def _failed(self, exc: EnrolmentFailed) -> None:
        self.last_failure = exc
        log.warning("enrolment failed (%s): %s", exc.code, exc)
        self.gate.show("enrolment_refused" if exc.refused else "enrolment_failed")

    def close(self) -> None:
        self.scanner.close()
        self.gate.close()


def add_parsers(sub: argparse._SubParsersAction, run: argparse.ArgumentParser) -> None:
    """``enrol`` (``--config``: where terminal.toml goes, the credentials beside it), and
    the hardware options of ``run``, which enrols first when needed."""
    add_options(run)
    add_options(sub.add_parser("enrol", help="enrol this terminal from the enrolment QR code"))


def is_enrolled(args: argparse.Namespace) -> bool:
    """False for ``enrol``, and for ``run`` while there is no terminal.toml yet."""
    if args.command == "enrol":
        return False
    return args.command != "run" or Path(args.config).exists()


def run_command(args: argparse.Namespace, run: Callable[[TerminalConfig, str], int]) -> int:
    if args.command == "enrol":
        return run_enrol(args)
    return enrol_then_run(args, run)


def run_enrol(args: argparse.Namespace) -> int:
    """``sitegate-terminal enrol``: enrol (again), show the outcome, exit."""
    config_path = Path(args.config)
    try:
        enroller = Enroller(config_path, hardware_of(args))
    except TerminalError as exc:
        print(f"sitegate-terminal: cannot enrol ({exc.code}): {exc}", file=sys.stderr)
        return 1
    try:
        config = enroller.run()
        enroller.gate.show(ENROLLED)
        threading.Event().wait(PATTERNS[ENROLLED].duration)  # played before the LEDs go
    except EnrolmentFailed as exc:
        print(f"sitegate-terminal: not enrolled ({exc.code}): {exc}", file=sys.stderr)
        return 1
    finally:
        enroller.close()
    print(f"enrolled as terminal {config.terminal.id}: {config.path}")
    return 0


def enrol_then_run(args: argparse.Namespace, run: Callable[[TerminalConfig, str], int]) -> int:
    """``run`` without a terminal.toml: enrol first (until stopped), then ``run`` the
    terminal, which greets with the ``enrolled`` pattern."""
    try:
        enroller = Enroller(Path(args.config), hardware_of(args))
    except TerminalError as exc:
        print(f"sitegate-terminal: cannot enrol ({exc.code}): {exc}", file=sys.stderr)
        return 1
    _stop_on_signals(enroller)
    try:
        config = enroller.run()
    except EnrolmentFailed as exc:
        print(f"sitegate-terminal: not enrolled ({exc.code}): {exc}", file=sys.stderr)
        return 1
    finally:
        enroller.close()
    return run(config, ENROLLED)


def _stop_on_signals(enroller: Enroller) -> None:
    import signal

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: enroller.stop())
