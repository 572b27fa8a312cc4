"""The enrolment service: HTTPS on the controller (``[enrolment]`` in ``controller.toml``),
started by ``sitegate-controller run`` through its services hook (``controller.service``:
the entry point ``sitegate.controller_services`` names ``start``), so that the controller
never imports provisioning, which holds the CA and the broker's access control.

``GET /v1/ca`` gives the site CA (public; the terminal checks it against the fingerprint of
its enrolment code before it trusts anything). ``POST /v1/enrol`` takes a token and a CSR
(``presence.enrolment``) and answers the terminal's certificate, its ``terminal.toml`` and
the CA, after the running broker has let the terminal in. A refusal answers JSON
``{"error": code, "message": ...}`` with a 4xx status, is audited, and changes nothing.
More than ``tries_per_minute`` requests a minute from one address are refused unread.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from controller.config import ControllerConfig, EnrolmentSection, resolve
from controller.enrolment import EnrolmentRefused, record_refusal
from controller.errors import ConfigError
from controller.store import Store
from controller.web.throttle import LoginThrottle
from presence.enrolment import (
    CA_PATH,
    ENROL_PATH,
    MAX_BODY_BYTES,
    BadEnrolment,
    decode_request,
    encode_answer,
    encode_refusal,
)
from provisioning import enrolment, terminal_admin
from provisioning.errors import ProvisioningError
from provisioning.live_broker import LiveBroker

log = logging.getLogger(__name__)

START_TIMEOUT_S = 15.0
WINDOW_S = 60.0
JSON = "application/json"
STATUS = {
    "too_large": 413,
    "rate_limited": 429,
    "unknown_token": 403,
    "used_token": 403,
    "expired_token": 403,
    "revoked_terminal": 403,
    "unavailable": 503,
}


class EnrolmentApp:
    """The service's two routes over one site directory and one store."""

    def __init__(
        self,
        store: Store,
        site_dir: Path,
        section: EnrolmentSection,
        live: LiveBroker | None,
    ) -> None:
        self.store = store
        self.site_dir = site_dir
        self.live = live
        self.tries = LoginThrottle(
            store.clock, per_account=sys.maxsize, per_address=section.tries_per_minute,
            window_s=WINDOW_S,
        )  # fmt: skip
        self._floods: dict[str, float] = {}
        self._flood_lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route(CA_PATH, self.ca, methods=["GET"]),
                Route(ENROL_PATH, self.enrol, methods=["POST"]),
            ]
        )

    async def ca(self, request: Request) -> Response:
        try:
            pem = terminal_admin.site_ca_pem(self.site_dir)
        except ProvisioningError as exc:
            log.error("the site CA cannot be handed out: %s", exc)
            return Response(encode_refusal("unavailable", "no site CA"), 503, media_type=JSON)
        return Response(pem, media_type="application/x-pem-file")

    async def enrol(self, request: Request) -> Response:
        address = request.client.host if request.client else "unknown"
        try:
            if self.tries.blocked("", address):
                raise EnrolmentRefused("rate_limited", "too many tries from this address")
            self.tries.failed("", address)  # every try counts, good or bad
            body = await _body(request)
            token, csr = _decoded(body)
            done = await run_in_threadpool(self._enrol, token, csr, address)
        except EnrolmentRefused as exc:
            return await run_in_threadpool(self._refuse, exc.code, str(exc), address)
        return Response(encode_answer(done.answer), media_type=JSON)

    def _enrol(self, token: str, csr: str, address: str) -> enrolment.Enrolment:
        done = enrolment.enrol(self.site_dir, self.store, token, csr, address)
        if self.live is not None:  # before answering: the terminal connects at once
            applied = self.live.apply(done.broker_commands, reload_crl=done.replaced)
            if not applied.done:
                log.warning(
                    "terminal %s enrolled, but the running broker did not take it (%s): "
                    "reload or restart mosquitto", done.answer.terminal_id,
                    "; ".join(applied.problems),
                )  # fmt: skip
        return done

    def _refuse(self, code: str, message: str, address: str) -> Response:
        if self._first_of_a_flood(code, address):
            log.warning("enrolment from %s refused: %s (%s)", address, code, message)
            try:
                record_refusal(self.store, code, message, address)
            except Exception:
                log.exception("the refused enrolment could not be audited")
        status = STATUS.get(code, 400)
        return Response(encode_refusal(code, message), status_code=status, media_type=JSON)

    def _first_of_a_flood(self, code: str, address: str) -> bool:
        """Whether to log and audit this refusal: a rate-limited address is recorded once a
        window, so that a flood cannot fill the log and the audit trail."""
        if code != "rate_limited":
            return True
        now = self.store.clock.monotonic()
        with self._flood_lock:
            last = self._floods.get(address)
            if last is not None and now - last < WINDOW_S:
                return False
            self._floods[address] = now
            return True


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise EnrolmentRefused("too_large", f"the request is over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise EnrolmentRefused("too_large", f"the request is over {MAX_BODY_BYTES} bytes")
    except ClientDisconnect:
        raise EnrolmentRefused("bad_request", "the request was cut off") from None
    return bytes(body)


def _decoded(body: bytes) -> tuple[str, str]:
    try:
        return decode_request(body)
    except BadEnrolment as exc:
        raise EnrolmentRefused(exc.code, str(exc)) from None


class EnrolmentServer:
    """The service under uvicorn in a thread, with the certificate ``[enrolment]`` names."""

    def __init__(self, config: ControllerConfig, store: Store, port: int | None = None) -> None:
        section = config.enrolment
        if section is None:
            raise ConfigError("enrolment", f"{config.path}: no [enrolment] section")
        cert, key = resolve(config, section.cert_file), resolve(config, section.key_file)
        for path in (cert, key):
            if not Path(path).is_file():
                raise ConfigError("tls", f"{config.path}: [enrolment] {path} is missing")
        site_dir = config.site_path(section.site_dir).resolve()
        live = terminal_admin.live_broker(site_dir, Path(section.broker_pid_file))
        self.site = EnrolmentApp(store, site_dir, section, live)
        self.host = section.host
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.site.app,
                host=section.host,
                port=section.port if port is None else port,
                log_level="warning",
                access_log=False,
                server_header=False,
                proxy_headers=False,
                lifespan="off",
                ssl_certfile=cert,
                ssl_keyfile=key,
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="enrolment", daemon=True)

    def start(self) -> EnrolmentServer:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError("enrolment_start", f"enrolment could not listen on {self.host}")
            time.sleep(0.02)
        log.info("terminal enrolment on port %d", self.port)
        return self

    @property
    def port(self) -> int:
        for server in getattr(self._server, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self._server.config.port)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)


def start(config: ControllerConfig, store: Store) -> Any:
    """The services hook: the enrolment service when ``[enrolment]`` is configured."""
    if config.enrolment is None:
        return None
    return EnrolmentServer(config, store).start()
