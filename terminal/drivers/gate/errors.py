"""The exception root of the gate drivers; gpiozero errors are translated into it."""

from __future__ import annotations


class GateError(Exception):
    """Base of every error raised by ``terminal.drivers.gate``; ``code`` is stable.

    Codes: ``gpio_unavailable`` (pin factory or pin cannot be used), ``pin_in_use``,
    ``unknown_pattern``, ``relay_failed``, ``scheduler_closed``, ``closed``, and the
    configuration codes of :class:`GateConfigError`.
    """

    code: str = "gate_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class GateConfigError(GateError):
    """A ``[gate]`` setting is wrong. ``code``: ``unknown_key``, ``bad_type``, ``bad_value``,
    ``bad_pin`` or ``pin_conflict``; ``key`` names the setting, ``where`` the file and section.
    """

    def __init__(self, code: str, key: str, detail: str, where: str = "[gate]") -> None:
        super().__init__(code, f"{where} {key}: {detail}")
        self.key = key
        self.detail = detail
        self.where = where

    def located(self, where: str) -> GateConfigError:
        """The same error, naming ``where`` (e.g. ``/etc/sitegate/terminal.toml [gate]``)."""
        return GateConfigError(self.code, self.key, self.detail, where)
