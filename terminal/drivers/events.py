"""What the drivers tell the flow. Every driver puts these on one queue; none decides.

The flow matches on the type; each event carries the monotonic time it happened at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from terminal.drivers.eid.identity import Identity


@dataclass(frozen=True, slots=True)
class DriverEvent:
    at: float = field(default=0.0, kw_only=True)


# --- eID reader ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CardInserted(DriverEvent):
    identity: Identity
    apdu_count: int = 0


@dataclass(frozen=True, slots=True)
class CardRemoved(DriverEvent):
    pass


@dataclass(frozen=True, slots=True)
class CardError(DriverEvent):
    """A card that cannot check anyone in. ``code``: ``card_expired``, ``not_an_eid``,
    ``read_error``, ``invalid_national_number``, ``bad_card_data``."""

    code: str


@dataclass(frozen=True, slots=True)
class ReaderFault(DriverEvent):
    """The reader or PC/SC service is gone (``reader_gone``, ``no_service``...); ``ok`` on
    recovery."""

    code: str


# --- camera and QR ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QrSeen(DriverEvent):
    text: str


@dataclass(frozen=True, slots=True)
class CameraFault(DriverEvent):
    """No frame for too long (``no_frames``), or ``ok`` on recovery."""

    code: str


# --- keypad -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Entered(DriverEvent):
    text: str


# --- turnstile ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Passed(DriverEvent):
    """The passage sensor triggered within the admission window."""


@dataclass(frozen=True, slots=True)
class NotPassed(DriverEvent):
    """The admission window expired without a passage: the check-in is unused."""


@dataclass(frozen=True, slots=True)
class Forced(DriverEvent):
    """The passage sensor triggered with no admission open (tailgating, forced entry)."""


@dataclass(frozen=True, slots=True)
class Tampered(DriverEvent):
    active: bool = True


@dataclass(frozen=True, slots=True)
class ExitRequested(DriverEvent):
    """The free-exit button was pressed."""
