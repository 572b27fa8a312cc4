"""The exception root of the controller package; every error carries a stable ``code``."""

from __future__ import annotations


class ControllerError(Exception):
    """Base of every error raised by ``controller``."""

    code: str = "controller_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ConfigError(ControllerError):
    """``controller.toml`` or ``terminals.toml`` is unreadable or invalid; the message names
    the file, section and key."""


class StoreError(ControllerError):
    """The database refused an operation (codes: ``unavailable``, ``schema``, ``not_found``)."""


class RosterError(ControllerError):
    """A roster file cannot be imported at all (codes: ``unreadable``, ``header``)."""
