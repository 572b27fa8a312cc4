"""read_identity against scripted APDUs in hex (the wire, exchange by exchange)."""

from __future__ import annotations

import pytest

from sim.belpic import build_identity_file
from terminal.drivers.eid import (
    BadCardData,
    CardReadError,
    Identity,
    NotAnEid,
    ReadStats,
    protocol,
    read_identity,
)
from tests.terminal.drivers.eid import cards

SELECT_APPLET = "00A4040C0FA000000030290570 00AD13100101FF".replace(" ", "")
SELECT_4031 = "00A4080C063F00DF014031"
IDENTITY = build_identity_file(cards.CITIZEN)  # 199 bytes
SIZE = f"{len(IDENTITY):02X}"


class Script:
    """A card that expects exactly these APDUs and gives these replies (data + SW, hex)."""

    def __init__(self, *exchanges: tuple[str, str]) -> None:
        self.exchanges = [(bytes.fromhex(a), bytes.fromhex(r)) for a, r in exchanges]
        self.sleeps: list[float] = []

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        assert self.exchanges, f"unexpected APDU {apdu.hex().upper()}"
        expected, reply = self.exchanges.pop(0)
        assert apdu.hex().upper() == expected.hex().upper()
        return reply[:-2], reply[-2], reply[-1]

    def read(self, check_chip: bool = False) -> tuple[Identity, ReadStats]:
        stats = ReadStats()
        identity = read_identity(
            self.transmit, stats=stats, sleep=self.sleeps.append, check_chip=check_chip
        )
        assert not self.exchanges, "APDUs left unsent"
        return identity, stats


def test_plain_read_takes_five_apdus_and_reads_only_4031() -> None:
    script = Script(
        (SELECT_APPLET, "9000"),
        (SELECT_4031, "9000"),
        ("00B00000F8", f"6C{SIZE}"),
        (f"00B00000{SIZE}", IDENTITY.hex() + "9000"),
        (f"00B000{SIZE}{SIZE}", "6B00"),
    )
    identity, stats = script.read()
    assert identity.surname == "Van den Broeck-D'Hondt"
    assert stats.apdus == 5
    assert script.sleeps == [protocol.WRONG_LE_DELAY_S]


def test_61xx_is_followed_by_get_response() -> None:
    script = Script(
        (SELECT_APPLET, "9000"),
        (SELECT_4031, "9000"),
        ("00B00000F8", f"61{SIZE}"),
        (f"00C00000{SIZE}", IDENTITY.hex() + "9000"),
    )
    identity, stats = script.read()  # fewer bytes than the Le asked: the file ended
    assert identity.national_number.digits == "85073003328"
    assert stats.apdus == 4


def test_chained_61xx_answers_are_collected() -> None:
    half = len(IDENTITY) // 2
    script = Script(
        (SELECT_APPLET, "9000"),
        (SELECT_4031, "9000"),
        ("00B00000F8", "61F8"),
        ("00C00000F8", IDENTITY[:half].hex() + f"61{len(IDENTITY) - half:02X}"),
        (f"00C00000{len(IDENTITY) - half:02X}", IDENTITY[half:].hex() + "9000"),
    )
    identity, _ = script.read()  # fewer bytes than asked: the file ended
    assert identity.card_number == cards.CITIZEN.card_number


def test_a_short_9000_reply_ends_the_file() -> None:
    script = Script(
        (SELECT_APPLET, "9000"),
        (SELECT_4031, "9000"),
        ("00B00000F8", IDENTITY.hex() + "9000"),
    )
    _, stats = script.read()
    assert stats.apdus == 3


def test_6282_with_data_ends_the_file() -> None:
    script = Script(
        (SELECT_APPLET, "9000"),
        (SELECT_4031, "9000"),
        ("00B00000F8", IDENTITY.hex() + "6282"),
    )
    assert script.read()[1].apdus == 3


def test_a_file_over_256_bytes_is_read_in_chunks() -> None:
    data = build_identity_file(cards.LONG_FILE)
    rest = len(data) - 0xF8
    script = Script(
        (SELECT_APPLET, "9000"),
        (SELECT_4031, "9000"),
        ("00B00000F8", data[:0xF8].hex() + "9000"),
        ("00B000F8F8", f"6C{rest:02X}"),
        (f"00B000F8{rest:02X}", data[0xF8:].hex() + "9000"),
        (f"00B0{len(data):04X}{rest:02X}", "6B00"),
    )
    identity, stats = script.read()
    assert identity.document_type == 34
    assert stats.apdus == 6


def test_path_select_refused_falls_back_to_one_select_per_fid() -> None:
    script = Script(
        (SELECT_APPLET, "9000"),
        (SELECT_4031, "6A86"),
        ("00A4020C023F00", "9000"),
        ("00A4020C02DF01", "9000"),
        ("00A4020C024031", "9000"),
        ("00B00000F8", IDENTITY.hex() + "9000"),
    )
    assert script.read()[0].document_type == 1


def test_applet_select_refused_means_not_an_eid() -> None:
    with pytest.raises(NotAnEid):
        Script((SELECT_APPLET, "6A82")).read()


def test_missing_identity_file_means_not_an_eid() -> None:
    script = Script(
        (SELECT_APPLET, "9000"),
        (SELECT_4031, "6A82"),
        ("00A4020C023F00", "9000"),
        ("00A4020C02DF01", "6A82"),
    )
    with pytest.raises(NotAnEid):
        script.read()


def test_unexpected_status_word_is_a_read_error() -> None:
    script = Script((SELECT_APPLET, "9000"), (SELECT_4031, "9000"), ("00B00000F8", "6982"))
    with pytest.raises(CardReadError) as caught:
        script.read()
    assert caught.value.code == "unexpected_status"


def test_6b00_at_offset_zero_is_a_read_error() -> None:
    script = Script((SELECT_APPLET, "9000"), (SELECT_4031, "9000"), ("00B00000F8", "6B00"))
    with pytest.raises(CardReadError):
        script.read()


def test_a_second_6cxx_in_a_row_is_a_read_error() -> None:
    script = Script(
        (SELECT_APPLET, "9000"),
        (SELECT_4031, "9000"),
        ("00B00000F8", "6C10"),
        ("00B0000010", "6C08"),
    )
    with pytest.raises(CardReadError) as caught:
        script.read()
    assert caught.value.code == "wrong_length_loop"


def test_a_card_that_never_ends_its_file_hits_the_size_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(protocol, "MAX_IDENTITY_BYTES", 0xF8 * 2)
    full = "AA" * 0xF8 + "9000"
    script = Script(
        (SELECT_APPLET, "9000"),
        (SELECT_4031, "9000"),
        ("00B00000F8", full),
        ("00B000F8F8", full),
        ("00B001F0F8", full),
    )
    with pytest.raises(CardReadError) as caught:
        script.read()
    assert caught.value.code == "file_too_large"


def test_garbage_file_is_bad_card_data() -> None:
    script = Script((SELECT_APPLET, "9000"), (SELECT_4031, "9000"), ("00B00000F8", "0150AABB9000"))
    with pytest.raises(BadCardData):
        script.read()


def test_chip_cross_check_adds_get_card_data() -> None:
    chip = cards.CITIZEN.chip_number.hex().upper()
    script = Script(
        (SELECT_APPLET, "9000"),
        (SELECT_4031, "9000"),
        ("00B00000F8", IDENTITY.hex() + "9000"),
        ("80E400001C", chip + "00" * 12 + "9000"),
    )
    assert script.read(check_chip=True)[1].apdus == 4


def test_chip_mismatch_is_bad_card_data() -> None:
    script = Script(
        (SELECT_APPLET, "9000"),
        (SELECT_4031, "9000"),
        ("00B00000F8", IDENTITY.hex() + "9000"),
        ("80E400001C", "11" * 28 + "9000"),
    )
    with pytest.raises(BadCardData) as caught:
        script.read(check_chip=True)
    assert caught.value.code == "chip_mismatch"
