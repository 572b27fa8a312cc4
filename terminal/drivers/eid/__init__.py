"""The Belgian eID card: identity file parsing, the card protocol, PC/SC and fake readers.

Back-ends: ``PcscCardReader`` (pyscard, a real reader) and ``FakeCardReader`` (in-process,
for tests). Both put ``terminal.drivers.events`` card events on the flow's queue.
"""

from terminal.drivers.eid.checkin import card_event
from terminal.drivers.eid.errors import (
    BadCardData,
    CardGone,
    CardReadError,
    EidError,
    NotAnEid,
    ReaderGone,
)
from terminal.drivers.eid.fake import FakeCardReader
from terminal.drivers.eid.identity import BirthDate, Identity
from terminal.drivers.eid.parse import parse_identity
from terminal.drivers.eid.pcsc import PcscCardReader
from terminal.drivers.eid.protocol import ReadStats, read_file, read_identity

__all__ = [
    "BadCardData",
    "BirthDate",
    "CardGone",
    "CardReadError",
    "EidError",
    "FakeCardReader",
    "Identity",
    "NotAnEid",
    "PcscCardReader",
    "ReadStats",
    "ReaderGone",
    "card_event",
    "parse_identity",
    "read_file",
    "read_identity",
]
