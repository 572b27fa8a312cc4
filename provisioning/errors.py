"""The exception root of the provisioning package."""

from __future__ import annotations


class ProvisioningError(Exception):
    """Anything a site manager did that cannot be carried out. ``code`` is stable; the message
    is one line for people and names the offending input."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
