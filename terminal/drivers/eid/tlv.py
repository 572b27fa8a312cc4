"""The simplified TLV of BELPIC files (DOMAIN.md section 5).

One tag byte, a length byte (``FF x`` means 255 + x, and so on while the bytes are FF), the
value. A zero tag starts the padding: the file ends there.
"""

from __future__ import annotations

from collections.abc import Iterator

from terminal.drivers.eid.errors import BadCardData

PADDING_TAG = 0x00
LONG_LENGTH = 0xFF


def iter_tlv(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield ``(tag, value)`` in file order; raise ``BadCardData("truncated")`` when a length
    runs past the end of the data."""
    pos = 0
    end = len(data)
    while pos < end:
        tag = data[pos]
        if tag == PADDING_TAG:
            return
        pos += 1
        length = 0
        while True:
            if pos >= end:
                raise BadCardData("truncated", f"tag 0x{tag:02X} has no length")
            byte = data[pos]
            pos += 1
            length += byte
            if byte != LONG_LENGTH:
                break
        if pos + length > end:
            raise BadCardData(
                "truncated", f"tag 0x{tag:02X} wants {length} bytes, {end - pos} left"
            )
        yield tag, data[pos : pos + length]
        pos += length


def encode_tlv(fields: list[tuple[int, bytes]]) -> bytes:
    """The inverse of ``iter_tlv`` (used by the card emulator and the tests)."""
    out = bytearray()
    for tag, value in fields:
        out.append(tag)
        length = len(value)
        while length >= LONG_LENGTH:
            out.append(LONG_LENGTH)
            length -= LONG_LENGTH
        out.append(length)
        out += value
    return bytes(out)
