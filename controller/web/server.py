"""Serving the console: uvicorn in a thread of the controller (or of ``sitegate-controller
web``), HTTPS with the certificate ``init-site`` issued, plain HTTP on loopback only."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from controller.config import ControllerConfig, WebSection, resolve
from controller.errors import ConfigError
from controller.heap import settle_after_start
from controller.store import Store
from controller.web.app import create_app
from controller.web.context import WebContext
from controller.web.listen import is_loopback
from presence.clock import Clock

log = logging.getLogger(__name__)

START_TIMEOUT_S = 15.0
GRACEFUL_S = 3


class ConsoleServer:
    """The console on ``host:port`` (port 0: any free port; see ``port`` once started)."""

    def __init__(
        self,
        config: ControllerConfig,
        store: Store,
        *,
        host: str | None = None,
        port: int | None = None,
        tls: bool | None = None,
        clock: Clock | None = None,
        registry_factory: Callable[[], Any] | None = None,
        live_poll_s: float | None = None,
    ) -> None:
        web = config.web or WebSection()
        self.host = host if host is not None else web.host
        self.tls = web.tls if tls is None else tls
        if not self.tls and not is_loopback(self.host):
            raise ConfigError(
                "plain_http",
                f"the console serves plain HTTP on a loopback address only, not {self.host}: "
                "set [web] tls = true (init-site issues console.pem and console.key)",
            )
        ssl: dict[str, Any] = {}
        if self.tls:
            cert, key = resolve(config, web.cert_file), resolve(config, web.key_file)
            for path in (cert, key):
                if not Path(path).is_file():
                    raise ConfigError("tls", f"{config.path}: [web] {path} is missing")
            ssl = {"ssl_certfile": cert, "ssl_keyfile": key}
        self.ctx = WebContext.build(
            config,
            store,
            clock=clock,
            secure=self.tls,
            registry_factory=registry_factory,
            live_poll_s=live_poll_s,
        )
        self.app = create_app(self.ctx)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=self.host,
                port=web.port if port is None else port,
                log_level="warning",
                access_log=False,
                server_header=False,
                proxy_headers=False,
                timeout_graceful_shutdown=GRACEFUL_S,
                lifespan="on",
                **ssl,
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="console", daemon=True)

    def start(self) -> ConsoleServer:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(
                    "web_start", f"the console could not listen on {self.host}:{self._port()}"
                )
            time.sleep(0.02)
        log.info("console at %s", self.url)
        return self

    def _port(self) -> int:
        servers = getattr(self._server, "servers", [])
        for server in servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self._server.config.port)

    @property
    def port(self) -> int:
        return self._port()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self.ctx.hub.request_close()
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=GRACEFUL_S + 5)


def serve_until_stopped(
    config: ControllerConfig, store: Store, host: str | None = None, port: int | None = None
) -> int:
    """``sitegate-controller web``: the console alone until SIGTERM or Ctrl-C."""
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = ConsoleServer(config, store, host=host, port=port).start()
    settle_after_start()
    print(f"console at {server.url}", flush=True)
    try:
        while not stop.wait(1.0):
            if not server.alive:
                log.error("the console stopped by itself")
                return 1
    finally:
        server.stop()
    return 0
