"""``sitegate-registry``: the NSSO PresenceRegistration stand-in, in the foreground.

    sitegate-registry --listen 127.0.0.1:8443 --db nsso.db --works works.toml \\
        [--validation-delay 2] [--tls-cert F --tls-key F --client-ca F] \\
        [--verify-signature CERT] [--today YYYY-MM-DD] [--latency S] [--http-503-share X]

Serves ``/PresenceRegistration/v1`` until SIGINT/SIGTERM; prints the endpoint when ready.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from datetime import date
from types import FrameType

from presence.errors import PresenceError
from presence.version import version_line
from registry.errors import RegistryError
from sim.nsso.faults import FaultPlan
from sim.nsso.server import StandIn
from sim.nsso.service import DEFAULT_VALIDATION_DELAY_S
from sim.nsso.tls import ServerTls

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sitegate-registry",
        description="NSSO PresenceRegistration v1 stand-in (loopback only)",
    )
    parser.add_argument("--version", action="version", version=version_line("sitegate-registry"))
    parser.add_argument(
        "--listen", default="127.0.0.1:8080", help="HOST:PORT on loopback; port 0 picks a free one"
    )
    parser.add_argument("--db", required=True, help="SQLite file that keeps the stand-in's state")
    parser.add_argument("--works", required=True, help="declared-works TOML file")
    parser.add_argument(
        "--validation-delay",
        type=float,
        default=DEFAULT_VALIDATION_DELAY_S,
        metavar="SECONDS",
        help="seconds until VALIDATED/FAILED",
    )
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the service's day (default: the clock in Europe/Brussels)",
    )
    parser.add_argument("--tls-cert", help="server certificate (PEM): serve HTTPS")
    parser.add_argument("--tls-key", help="server private key (PEM)")
    parser.add_argument("--client-ca", help="CA (PEM) for client certificates: mutual TLS")
    parser.add_argument(
        "--verify-signature",
        metavar="CERT",
        help="require WS-Security signatures by this certificate (PEM)",
    )
    faults = parser.add_argument_group("fault injection (also POST /admin/faults)")
    faults.add_argument(
        "--latency", type=float, default=0.0, metavar="S", help="added to each call"
    )
    faults.add_argument(
        "--http-503-share", type=float, default=0.0, metavar="X", help="share answered 503"
    )
    faults.add_argument(
        "--system-error-retry",
        type=int,
        default=0,
        metavar="N",
        help="first N calls: SystemError, Retry=true",
    )
    faults.add_argument(
        "--drop-after-processing",
        type=int,
        default=0,
        metavar="N",
        help="first N calls: processed, then the connection is closed",
    )
    faults.add_argument(
        "--malformed",
        type=int,
        default=0,
        metavar="N",
        help="first N calls: processed, then answered with broken XML",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen must be HOST:PORT, not {value!r}")
    return host or "127.0.0.1", int(port)


def _tls(args: argparse.Namespace) -> ServerTls | None:
    if not args.tls_cert and not args.tls_key:
        if args.client_ca:
            raise ValueError("--client-ca needs --tls-cert and --tls-key")
        return None
    if not (args.tls_cert and args.tls_key):
        raise ValueError("--tls-cert and --tls-key go together")
    return ServerTls(args.tls_cert, args.tls_key, args.client_ca)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    plan = FaultPlan(
        args.latency,
        args.http_503_share,
        args.system_error_retry,
        args.drop_after_processing,
        args.malformed,
    )
    try:
        host, port = _listen(args.listen)
        stand_in = StandIn(
            args.db,
            args.works,
            host=host,
            port=port,
            today=args.today,
            tls=_tls(args),
            validation_delay_s=args.validation_delay,
            verify_signature=args.verify_signature,
            faults=plan,
        )
    except (ValueError, OSError, PresenceError, RegistryError) as exc:
        print(f"sitegate-registry: {exc}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=stand_in.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"sitegate-registry listening on {stand_in.endpoint}", flush=True)
    try:
        stand_in.serve_forever()
    finally:
        stand_in.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
