"""The HTTP side of the stand-in: SOAP at /PresenceRegistration/v1 and the admin endpoints."""

from __future__ import annotations

import json
import logging
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from lxml import etree

from registry.errors import MalformedResponse
from registry.soap import (
    CONTENT_TYPE,
    NS_ERRORS,
    Fault,
    envelope,
    fault_envelope,
    parse_envelope,
    serialize,
)
from registry.wire import OPERATIONS
from sim.nsso.faults import FaultSpecError
from sim.nsso.service import ServiceFault
from sim.nsso.wsse import SignatureInvalid

if TYPE_CHECKING:
    from sim.nsso.server import StandIn

log = logging.getLogger(__name__)

SOAP_PATH = "/PresenceRegistration/v1"
MAX_BODY_BYTES = 10 * 1024 * 1024
IDLE_TIMEOUT_S = 60.0  # a kept-alive connection idle this long is closed
MALFORMED_BODY = b"<?xml version='1.0'?><soapenv:Envelope><Body><Registe"
_ACTIONS = {
    f"{{http://socialsecurity.be/presenceregistration/v1}}{op.request}": op.soap_action
    for op in OPERATIONS
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    server_version = "sitegate-nsso-standin/1"
    stand_in: StandIn  # set on the per-server subclass

    def setup(self) -> None:
        super().setup()
        # headers and body leave in two writes: without this, Nagle + delayed ACK add ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # --- routing ---------------------------------------------------------------------

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == SOAP_PATH:
            self._soap()
        elif path in ("/admin/faults", "/admin/reset", "/admin/validate", "/admin/today"):
            self._admin_post(path)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/admin/registrations":
            self._json(HTTPStatus.OK, self.stand_in.registrations())
        elif path == "/admin/faults":
            self._json(HTTPStatus.OK, self.stand_in.faults.plan().__dict__)
        elif path == SOAP_PATH and query.lower() == "wsdl":
            self._send(HTTPStatus.OK, self.stand_in.wsdl(), "text/xml; charset=utf-8")
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    # --- SOAP ------------------------------------------------------------------------

    def _soap(self) -> None:
        body = self._body()
        if body is None:
            return
        faults = self.stand_in.faults
        latency = faults.latency()
        if latency > 0:
            time.sleep(latency)
        if faults.answer_503():
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"service unavailable\n", "text/plain")
            return
        if faults.take("system_error_retry"):
            self._fault(
                ServiceFault(
                    "SystemError", "SERVICE_UNAVAILABLE", "temporary failure, try again later", True
                )
            )
            return
        try:
            answer = self._process(body)
        except ServiceFault as fault:
            self._fault(fault)
            return
        if faults.take("drop_after_processing"):
            log.info("fault injection: dropping the connection after processing")
            self.close_connection = True
            return
        if faults.take("malformed"):
            self._send(HTTPStatus.OK, MALFORMED_BODY, CONTENT_TYPE)
            return
        self._send(HTTPStatus.OK, serialize(envelope(answer)), CONTENT_TYPE)

    def _process(self, body: bytes) -> etree._Element:
        try:
            parsed = parse_envelope(body)
        except MalformedResponse as exc:
            raise ServiceFault("BusinessError", "MESSAGE_NOT_CONFORM", str(exc), False) from None
        if isinstance(parsed, Fault):
            raise ServiceFault(
                "BusinessError", "MESSAGE_NOT_CONFORM", "a request cannot be a fault"
            )
        action = (self.headers.get("SOAPAction") or "").strip().strip('"')
        expected = _ACTIONS.get(str(parsed.payload.tag))
        if action and expected and action != expected:
            raise ServiceFault(
                "BusinessError",
                "SOAP_ACTION_MISMATCH",
                f"SOAPAction {action} does not match the body",
                False,
            )
        if self.stand_in.verifier is not None:
            try:
                self.stand_in.verifier.verify(body)
            except SignatureInvalid as exc:
                raise ServiceFault("BusinessError", "SECURITY_ERROR", str(exc), False) from None
        return self.stand_in.service.handle(parsed.payload)

    def _fault(self, fault: ServiceFault) -> None:
        log.info("answering %s %s", fault.kind, fault.code)
        doc = fault_envelope(fault.kind, fault.code, str(fault), retry=fault.retry)
        if self.stand_in.service.check_answers:
            detail = doc.find(f".//{{{NS_ERRORS}}}{fault.kind}")
            assert detail is not None
            self.stand_in.service.check(detail)
        self._send(HTTPStatus.INTERNAL_SERVER_ERROR, serialize(doc), CONTENT_TYPE)

    # --- admin -----------------------------------------------------------------------

    def _admin_post(self, path: str) -> None:
        if self.client_address[0] != "127.0.0.1":
            self._send(HTTPStatus.FORBIDDEN, b"admin is loopback only\n", "text/plain")
            return
        body = self._body()
        if body is None:
            return
        try:
            spec = json.loads(body or b"{}")
            if not isinstance(spec, dict):
                raise FaultSpecError("the body must be a JSON object")
            result = self.stand_in.admin(path, spec)
        except (ValueError, FaultSpecError) as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._json(HTTPStatus.OK, result)

    # --- plumbing --------------------------------------------------------------------

    def _body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._send(HTTPStatus.LENGTH_REQUIRED, b"Content-Length required\n", "text/plain")
            return None
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"too large\n", "text/plain")
            return None
        return self.rfile.read(int(length))

    def _json(self, status: HTTPStatus, value: Any) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
