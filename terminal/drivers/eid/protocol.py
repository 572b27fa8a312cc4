"""The BELPIC card protocol over any ``transmit(apdu) -> (data, sw1, sw2)`` (DOMAIN.md 5).

``read_identity`` selects the applet by AID, the identity file by path (one SELECT per FID
when the card refuses paths), and reads it with READ BINARY, handling 61xx, 6Cxx, 6B00 and
short replies itself (pyscard handles none of them). Only status words are logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from terminal.drivers.eid.errors import BadCardData, CardReadError, NotAnEid
from terminal.drivers.eid.identity import Identity
from terminal.drivers.eid.parse import parse_identity

log = logging.getLogger(__name__)

Transmit = Callable[[bytes], tuple[bytes, int, int]]
Sleep = Callable[[float], None]

BELPIC_AID = bytes.fromhex("A0 00 00 00 30 29 05 70 00 AD 13 10 01 01 FF")
MF = bytes.fromhex("3F00")
DF_ID = bytes.fromhex("DF01")
IDENTITY_PATH = (MF, DF_ID, bytes.fromhex("4031"))
IDENTITY_SIGNATURE_PATH = (MF, DF_ID, bytes.fromhex("4032"))
ADDRESS_PATH = (MF, DF_ID, bytes.fromhex("4033"))
ADDRESS_SIGNATURE_PATH = (MF, DF_ID, bytes.fromhex("4034"))
PHOTO_PATH = (MF, DF_ID, bytes.fromhex("4035"))

SELECT_AID = bytes.fromhex("00A4040C")
SELECT_PATH = bytes.fromhex("00A4080C")
SELECT_FID = bytes.fromhex("00A4020C")
READ_BINARY = bytes.fromhex("00B0")
GET_RESPONSE = bytes.fromhex("00C00000")
GET_CARD_DATA = bytes.fromhex("80E400001C")

SW_OK = 0x9000
SW_END_OF_FILE_WARNING = 0x6282  # fewer bytes than asked: the file ended
SW_WRONG_OFFSET = 0x6B00
SW_NOT_FOUND = 0x6A82
SW_FUNCTION_NOT_SUPPORTED = 0x6A81
SW_WRONG_P1P2 = 0x6A86
SW1_MORE_DATA = 0x61
SW1_WRONG_LE = 0x6C

# Named, patchable limits (DOMAIN.md 5: chunks of at most 0xF8..0xFC bytes; a short delay
# of 10-50 ms before re-sending with the Le a 6Cxx asked for).
CHUNK = 0xF8
WRONG_LE_DELAY_S = 0.02
MAX_IDENTITY_BYTES = 1024
MAX_FILE_BYTES = 16384
MAX_GET_RESPONSES = 64


@dataclass(slots=True)
class ReadStats:
    """What a read cost on the wire: APDUs sent and bytes each way (status words included)."""

    apdus: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0

    def add(self, other: ReadStats) -> None:
        self.apdus += other.apdus
        self.bytes_sent += other.bytes_sent
        self.bytes_received += other.bytes_received


class Wire:
    """One card's ``transmit``, counted and logged (APDU header and status word only)."""

    def __init__(
        self, transmit: Transmit, stats: ReadStats | None = None, sleep: Sleep = time.sleep
    ) -> None:
        self._transmit = transmit
        self.stats = stats if stats is not None else ReadStats()
        self.sleep = sleep

    def send(self, apdu: bytes) -> tuple[bytes, int]:
        data, sw1, sw2 = self._transmit(apdu)
        data = bytes(data)
        self.stats.apdus += 1
        self.stats.bytes_sent += len(apdu)
        self.stats.bytes_received += len(data) + 2
        sw = (sw1 << 8) | sw2
        log.debug("APDU %s -> %d bytes, SW %04X", apdu[:4].hex().upper(), len(data), sw)
        return data, sw


def _fail(what: str, sw: int) -> CardReadError:
    return CardReadError("unexpected_status", f"{what}: SW {sw:04X}")


def select_applet(wire: Wire) -> None:
    """Select BELPIC by AID; any refusal means the card is not an eID."""
    _, sw = wire.send(SELECT_AID + bytes([len(BELPIC_AID)]) + BELPIC_AID)
    if sw != SW_OK:
        raise NotAnEid(f"applet select: SW {sw:04X}")


def select_file(wire: Wire, path: tuple[bytes, ...]) -> None:
    """SELECT by path; on 6A82/6A86 fall back to one SELECT per FID."""
    joined = b"".join(path)
    _, sw = wire.send(SELECT_PATH + bytes([len(joined)]) + joined)
    if sw == SW_OK:
        return
    if sw not in (SW_NOT_FOUND, SW_WRONG_P1P2, SW_FUNCTION_NOT_SUPPORTED):
        raise _fail("select by path", sw)
    for fid in path:
        _, sw = wire.send(SELECT_FID + bytes([len(fid)]) + fid)
        if sw == SW_NOT_FOUND:
            raise NotAnEid(f"select {fid.hex().upper()}: SW {sw:04X}")
        if sw != SW_OK:
            raise _fail(f"select {fid.hex().upper()}", sw)


def _get_response(wire: Wire, available: int, limit: int) -> tuple[bytes, int]:
    """Collect what a 61xx announced (possibly chained); returns the data and final SW."""
    out = bytearray()
    for _ in range(MAX_GET_RESPONSES):
        data, sw = wire.send(GET_RESPONSE + bytes([available]))
        out += data
        if len(out) > limit:
            raise CardReadError("file_too_large", "GET RESPONSE beyond the size cap")
        if sw >> 8 != SW1_MORE_DATA:
            return bytes(out), sw
        available = sw & 0xFF
    raise CardReadError("response_loop", "too many chained 61xx")


def _read_chunk(wire: Wire, offset: int, le: int, limit: int) -> tuple[bytes, int, int]:
    """One READ BINARY at ``offset``: returns (data, SW, the Le finally asked for)."""
    header = READ_BINARY + offset.to_bytes(2, "big")
    data, sw = wire.send(header + bytes([le & 0xFF]))
    if sw >> 8 == SW1_WRONG_LE:
        le = (sw & 0xFF) or 0x100
        wire.sleep(WRONG_LE_DELAY_S)
        data, sw = wire.send(header + bytes([le & 0xFF]))
        if sw >> 8 == SW1_WRONG_LE:
            raise CardReadError("wrong_length_loop", f"READ BINARY: SW {sw:04X} twice")
    if sw >> 8 == SW1_MORE_DATA:
        more, sw = _get_response(wire, sw & 0xFF, limit)
        data += more
    return data, sw, le


def read_binary(wire: Wire, max_bytes: int) -> bytes:
    """READ BINARY the selected file to its end, in chunks of at most ``CHUNK`` bytes.

    The end is a 6B00 at a non-zero offset, a reply shorter than asked, or 6282.
    """
    out = bytearray()
    le = CHUNK
    while True:
        if len(out) > max_bytes:
            raise CardReadError("file_too_large", f"file over {max_bytes} bytes")
        data, sw, asked = _read_chunk(wire, len(out), le, max_bytes)
        if sw == SW_WRONG_OFFSET and out:
            return bytes(out)
        if sw == SW_END_OF_FILE_WARNING:
            return bytes(out + data)
        if sw != SW_OK:
            raise _fail(f"READ BINARY at {len(out)}", sw)
        if not data:
            return bytes(out)
        out += data
        if len(data) < asked:
            return bytes(out)
        le = min(asked, CHUNK)


def read_file(
    transmit: Transmit,
    path: tuple[bytes, ...],
    *,
    stats: ReadStats | None = None,
    sleep: Sleep = time.sleep,
    max_bytes: int = MAX_FILE_BYTES,
    select: bool = True,
) -> bytes:
    """Select the applet (unless ``select`` is False: already done) and read one file."""
    wire = Wire(transmit, stats, sleep)
    if select:
        select_applet(wire)
    select_file(wire, path)
    return read_binary(wire, max_bytes)


def read_chip_number(transmit: Transmit, *, stats: ReadStats | None = None) -> str:
    """GET CARD DATA: the chip serial (bytes 0-15), in upper-case hex."""
    wire = Wire(transmit, stats)
    data, sw = wire.send(GET_CARD_DATA)
    if sw != SW_OK or len(data) < 16:
        raise _fail("GET CARD DATA", sw)
    return data[:16].hex().upper()


def read_identity(
    transmit: Transmit,
    *,
    stats: ReadStats | None = None,
    sleep: Sleep = time.sleep,
    check_chip: bool = False,
) -> Identity:
    """Read and parse the identity file only (4031): nothing else is read for a check-in.

    ``stats`` (when given) receives the APDU and byte counts. ``check_chip`` adds a GET CARD
    DATA and refuses a file whose chip number is not this chip's (``BadCardData``).
    Raises ``NotAnEid``, ``CardReadError``, ``CardGone`` (from ``transmit``) or
    ``BadCardData``.
    """
    stats = stats if stats is not None else ReadStats()
    data = read_file(
        transmit, IDENTITY_PATH, stats=stats, sleep=sleep, max_bytes=MAX_IDENTITY_BYTES
    )
    identity = parse_identity(data)
    if check_chip and read_chip_number(transmit, stats=stats) != identity.chip_number:
        raise BadCardData("chip_mismatch", "identity file belongs to another chip")
    log.debug("identity read: %d APDUs, %d bytes in", stats.apdus, stats.bytes_received)
    return identity
