"""``StandIn``: the NSSO PresenceRegistration stand-in as a loopback HTTP(S) server.

Runs in a thread for tests (``with StandIn(...) as nsso: nsso.endpoint``) or in the
foreground as ``sitegate-registry``.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import sys
import threading
from dataclasses import asdict
from datetime import date
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from presence.clock import Clock
from registry import xsd
from sim.nsso.faults import FaultPlan, Faults, FaultSpecError
from sim.nsso.handler import SOAP_PATH, Handler
from sim.nsso.service import DEFAULT_VALIDATION_DELAY_S, PresenceService
from sim.nsso.store import Store
from sim.nsso.tls import ServerTls
from sim.nsso.works import WorksRegister, load_works
from sim.nsso.wsse import Verifier

log = logging.getLogger(__name__)

SHUTDOWN_POLL_S = 0.05  # how often serve_forever looks for a shutdown request


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls_context: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        """The TLS handshake happens here, in the request's own thread."""
        if self.tls_context is not None:
            try:
                request = self.tls_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.info("TLS handshake with %s refused: %s", client_address[0], exc)
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.info("connection from %s ended with an error: %s", client_address[0], sys.exc_info()[1])


class StandIn:
    """The stand-in service; ``start()`` serves in a daemon thread, ``close()`` stops it."""

    def __init__(
        self,
        db: str | Path,
        works: WorksRegister | str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        validation_delay_s: float = DEFAULT_VALIDATION_DELAY_S,
        today: date | None = None,
        tls: ServerTls | None = None,
        verify_signature: str | Path | None = None,
        faults: FaultPlan | None = None,
        check_answers: bool = False,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the stand-in listens on loopback only")
        xsd.schema()  # fail now, not on the first call, if the XSDs are missing
        register = works if isinstance(works, WorksRegister) else load_works(works)
        self.store = Store(db)
        self.service = PresenceService(
            self.store,
            register,
            clock=clock,
            validation_delay_s=validation_delay_s,
            today=today,
            check_answers=check_answers,
        )
        self.faults = Faults(faults)
        self.verifier = Verifier(verify_signature) if verify_signature else None
        handler = type("BoundHandler", (Handler,), {"stand_in": self})
        self._server = _Server((host, port), handler, bind_and_activate=True)
        if tls is not None:
            self._server.tls_context = tls.context()
        self.scheme = "https" if tls is not None else "http"
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return self.base_url + SOAP_PATH

    def start(self) -> StandIn:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_S},
            name="nsso-stand-in",
            daemon=True,
        )
        self._thread.start()
        log.info("NSSO stand-in serving %s", self.endpoint)
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=SHUTDOWN_POLL_S)

    def shutdown(self) -> None:
        """Stop ``serve_forever`` (from another thread or a signal handler's thread)."""
        self._server.shutdown()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
        self.store.close()

    def __enter__(self) -> StandIn:
        return self.start() if self._thread is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- admin -----------------------------------------------------------------------

    def registrations(self) -> list[dict[str, Any]]:
        with self.store.transaction():
            self.service.validate_due()
        return [
            {
                "receipt_id": row.receipt_id,
                "status": row.status,
                "workplace_id": row.workplace_id,
                "registration_date": row.registration_date.isoformat(),
                "inss": row.inss,
                "company_id": row.company_id,
                "limosa_id": row.limosa_id,
                "client_reference": row.client_reference,
                "remarks": list(row.history[-1].remarks),
                "created_at": row.created_at.isoformat(),
                "cancel_reason": row.cancel_reason,
                "history": [[s.status, list(s.remarks)] for s in row.history],
            }
            for row in self.store.all()
        ]

    def admin(self, path: str, spec: dict[str, Any]) -> dict[str, Any]:
        """``/admin/faults``, ``/admin/reset``, ``/admin/validate`` or ``/admin/today``."""
        if path == "/admin/faults":
            return asdict(self.faults.update(spec))
        if path == "/admin/reset":
            self.faults.reset()
            self.store.clear()
            return {"reset": True}
        if path == "/admin/validate":
            with self.store.transaction():
                return {"validated": self.service.validate_due(force=True)}
        if path == "/admin/today":
            value = spec.get("today")
            if value is not None and not isinstance(value, str):
                raise FaultSpecError("today must be YYYY-MM-DD or null")
            self.service.today_override = None if value is None else date.fromisoformat(value)
            return {"today": self.service.today().isoformat()}
        raise FaultSpecError(f"unknown admin path {path}")

    def wsdl(self) -> bytes:
        return (xsd.xsd_dir() / xsd.WSDL).read_bytes()


def serve(db: str | Path, works: WorksRegister | str | Path, **options: Any) -> StandIn:
    """A started ``StandIn`` on a free loopback port (``close()`` it, or use ``with``)."""
    return StandIn(db, works, **options).start()
