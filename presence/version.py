"""sitegate's version: one place, the package metadata (``version`` in pyproject.toml).

Every program reports it the same way: ``--version``, the terminal's status, the console.
"""

from __future__ import annotations

from importlib import metadata

UNKNOWN = "0+unknown"  # running from a source tree that was never installed


def installed_version() -> str:
    """The installed sitegate distribution's version."""
    try:
        return metadata.version("sitegate")
    except metadata.PackageNotFoundError:
        return UNKNOWN


def version_line(program: str) -> str:
    """What ``PROGRAM --version`` prints."""
    return f"{program} (sitegate) {installed_version()}"
