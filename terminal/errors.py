"""The exception root of the terminal program (flows, outbox, link, config, entry point)."""

from __future__ import annotations


class TerminalError(Exception):
    """Base of the terminal's own errors; ``code`` is stable, the message is for people."""

    code: str = "terminal_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
