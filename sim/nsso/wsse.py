"""The stand-in's check of a WS-Security X.509 signature (Body and Timestamp signed)."""

from __future__ import annotations

from pathlib import Path

from registry.errors import RegistryError
from registry.signing import verify_envelope


class SignatureInvalid(Exception):
    """The request carries no valid signature by the expected certificate."""


class Verifier:
    def __init__(self, cert_file: str | Path) -> None:
        self.cert_pem = Path(cert_file).read_text(encoding="ascii")

    def verify(self, body: bytes) -> None:
        try:
            verify_envelope(body, self.cert_pem)
        except RegistryError as exc:
            raise SignatureInvalid(str(exc)) from None
