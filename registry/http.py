"""The HTTP leg: a pooled httpx client, TLS set-up, and translation of what can go wrong.

httpx exceptions and HTTP status codes stop here; callers see ``RegistryError`` subclasses.
"""

from __future__ import annotations

import logging
import ssl
import time

import httpx

from registry.errors import FaultDetail, MalformedResponse, RegistryRejected, RegistryUnavailable
from registry.soap import CONTENT_TYPE, Envelope, Fault, parse_envelope

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429})
MAX_CONNECTIONS = 4


def tls_context(client_cert: tuple[str, str] | None, ca_file: str | None) -> ssl.SSLContext:
    """Server verification against ``ca_file`` (or the system store), our certificate if any."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
        if client_cert is not None:
            context.load_cert_chain(client_cert[0], client_cert[1])
    except (OSError, ssl.SSLError) as exc:
        raise RegistryRejected("tls_config", f"cannot load TLS files: {exc}") from None
    return context


def make_session(
    endpoint: str,
    client_cert: tuple[str, str] | None,
    ca_file: str | None,
    connect_timeout: float,
    read_timeout: float,
) -> httpx.Client:
    timeout = httpx.Timeout(
        connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
    )
    verify: ssl.SSLContext | bool = True
    if endpoint.startswith("https://"):
        verify = tls_context(client_cert, ca_file)
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
    )
    return httpx.Client(timeout=timeout, verify=verify, limits=limits, trust_env=False)


def post(session: httpx.Client, endpoint: str, soap_action: str, body: bytes) -> httpx.Response:
    """One SOAP call. httpx's timeouts bound each read; an answer that trickles in is also cut
    off once the whole call has taken connect + read timeout (then at most one more read
    timeout passes), so a relay's lease on a batch always outlives the call."""
    headers = {"Content-Type": CONTENT_TYPE, "SOAPAction": f'"{soap_action}"'}
    timeout = session.timeout
    deadline = time.monotonic() + (timeout.connect or 0.0) + (timeout.read or 0.0)
    try:
        with session.stream("POST", endpoint, content=body, headers=headers) as streamed:
            chunks = []
            for chunk in streamed.iter_raw():  # still encoded: Response decodes it once
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise RegistryUnavailable(
                        "timeout", "the answer took longer than the call may", in_doubt=True
                    )
            return httpx.Response(
                streamed.status_code,
                headers=streamed.headers,
                content=b"".join(chunks),
                request=streamed.request,
            )
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise RegistryUnavailable("connect", f"cannot reach the registry: {exc}") from None
    except httpx.TimeoutException as exc:
        raise RegistryUnavailable(
            "timeout", f"no answer in time: {type(exc).__name__}", in_doubt=True
        ) from None
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise RegistryUnavailable(
            "connection_lost", f"connection lost before the answer: {exc}", in_doubt=True
        ) from None
    except httpx.HTTPError as exc:
        raise RegistryUnavailable("network", f"HTTP failure: {exc}", in_doubt=True) from None


def read_answer(response: httpx.Response) -> Envelope:
    """The envelope of a successful answer; faults and HTTP errors become exceptions."""
    status = response.status_code
    if status == 200:
        parsed = parse_envelope(response.content)
        if isinstance(parsed, Fault):
            raise fault_error(parsed)
        return parsed
    answer: Envelope | Fault | None = None
    try:
        answer = parse_envelope(response.content)
    except MalformedResponse:
        log.debug("HTTP %s without a SOAP body", status)
    if isinstance(answer, Fault):
        raise fault_error(answer)
    if status >= 500 or status in RETRYABLE_STATUS:
        raise RegistryUnavailable(
            f"http_{status}",
            f"registry answered HTTP {status}",
            in_doubt=status not in (502, 503, 429),
        )
    raise RegistryRejected(f"http_{status}", f"registry answered HTTP {status}")


def fault_error(fault: Fault) -> RegistryUnavailable | RegistryRejected:
    """SystemError or Retry=true: may be retried; BusinessError or Retry=false: do not resend."""
    detail = fault.detail
    if detail is None:
        retry = "server" in fault.fault_code.lower()
        detail = FaultDetail("Fault", fault.fault_code, fault.fault_string, None, fault.fault_code)
    elif detail.retry is not None:
        retry = detail.retry
    else:
        retry = detail.kind == "SystemError"
    code = {"SystemError": "system_error", "BusinessError": "business_error"}.get(
        detail.kind, "soap_fault"
    )
    message = f"{detail.kind} {detail.code}: {detail.message}"
    log.warning("registry fault %s %s (retry=%s)", detail.kind, detail.code, detail.retry)
    if retry:
        return RegistryUnavailable(code, message, fault=detail)
    return RegistryRejected(code, message, fault=detail)
