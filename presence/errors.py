"""The exception root of the presence package."""


class PresenceError(Exception):
    """Base of every error raised by ``presence``; ``code`` is stable, the message is for people."""

    code: str = "presence_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
