"""The exception root of the registry package and its three kinds of failure.

Every vendor exception (httpx, lxml, signxml) is translated into one of these at the
boundary; callers only ever see ``RegistryError`` subclasses, each with a stable ``code``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FaultDetail:
    """What a SOAP fault said: its kind (``SystemError``/``BusinessError``), NSSO's own code."""

    kind: str
    code: str
    message: str
    retry: bool | None
    fault_code: str = ""


class RegistryError(Exception):
    """Base of every error raised by ``registry``; ``code`` is stable, the message is for people."""

    code: str = "registry_error"

    def __init__(self, code: str, message: str, *, fault: FaultDetail | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.fault = fault
        # register() with more than 200 items: answers of the calls made before this error
        self.partial_results: list[object] = []


class RegistryUnavailable(RegistryError):
    """The service could not answer now; sending again later may succeed.

    ``in_doubt`` is True when the request may have reached the service and been processed
    (read timeout, connection lost after sending): check with ``search`` before resending.
    """

    def __init__(
        self, code: str, message: str, *, fault: FaultDetail | None = None, in_doubt: bool = False
    ) -> None:
        super().__init__(code, message, fault=fault)
        self.in_doubt = in_doubt


class RegistryRejected(RegistryError):
    """The service refused the request: sending it again unchanged will not succeed."""


class MalformedResponse(RegistryError):
    """The answer was not a document the contract allows (not XML, wrong shape, bad values)."""

    def __init__(self, message: str, code: str = "malformed_response") -> None:
        super().__init__(code, message)


class InvalidRequest(RegistryError, ValueError):
    """Our own caller handed us something the contract cannot carry; nothing was sent."""
