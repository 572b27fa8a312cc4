"""The simplified TLV of BELPIC files."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terminal.drivers.eid import BadCardData
from terminal.drivers.eid.tlv import encode_tlv, iter_tlv


def test_fields_come_in_file_order() -> None:
    assert list(iter_tlv(bytes.fromhex("0102AABB 0300 0501CC"))) == [
        (0x01, b"\xaa\xbb"),
        (0x03, b""),
        (0x05, b"\xcc"),
    ]


def test_zero_tag_starts_the_padding() -> None:
    assert list(iter_tlv(bytes.fromhex("0101AA 0000 0201BB"))) == [(0x01, b"\xaa")]


def test_ff_length_means_255_plus_the_next_byte() -> None:
    value = bytes(range(256)) + b"\x01\x02"
    data = bytes([0x07, 0xFF, 0x03]) + value
    assert list(iter_tlv(data)) == [(0x07, value)]


def test_a_length_past_the_end_is_truncated() -> None:
    with pytest.raises(BadCardData) as caught:
        list(iter_tlv(bytes.fromhex("0105AABB")))
    assert caught.value.code == "truncated"


def test_a_tag_without_its_length_is_truncated() -> None:
    with pytest.raises(BadCardData) as caught:
        list(iter_tlv(bytes.fromhex("0101AA02")))
    assert caught.value.code == "truncated"


@given(st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=600)), max_size=8))
def test_encode_then_iterate_gives_the_fields_back(fields: list[tuple[int, bytes]]) -> None:
    assert list(iter_tlv(encode_tlv(fields))) == fields
