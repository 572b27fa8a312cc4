"""The BELPIC emulator answers like the real applet (it is a test instrument: test it)."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import pytest

from sim.belpic import (
    BankCard,
    BelpicCard,
    VpcdCard,
    card_from_toml,
    main,
)
from sim.processes import free_port
from tests.terminal.drivers.eid import cards

AID = "A000000030290570 00AD13100101FF".replace(" ", "")


def sw(card: BelpicCard | BankCard, apdu_hex: str) -> str:
    data, sw1, sw2 = card.transmit(bytes.fromhex(apdu_hex))
    return data.hex().upper() + f"{sw1:02X}{sw2:02X}"


def test_strict_select() -> None:
    card = cards.card()
    assert sw(card, "00A4040C0F" + AID) == "9000"
    assert sw(card, "00A4040C0E" + AID) == "6700"  # Lc does not match the data
    assert sw(card, "00A40400 0F".replace(" ", "") + AID) == "6A86"  # P2 must be 0C
    assert sw(card, "00A4040C05A000000001") == "6A82"
    assert sw(card, "00A4080C063F00DF019999") == "6A82"


def test_read_binary_status_words() -> None:
    card = cards.card()
    assert sw(card, "00B00000F8") == "6986"  # no file selected
    assert sw(card, "00A4080C063F00DF014031") == "9000"
    size = len(card.files[next(p for p in card.files if p[-1] == b"\x40\x31")])
    assert sw(card, "00B00000F8") == f"6C{size:02X}"
    assert sw(card, f"00B0{size:04X}10") == "6B00"
    assert sw(card, "00B0000002") == f"01{len(cards.CITIZEN.card_number):02X}9000"


def test_get_card_data_gives_the_chip_number() -> None:
    card = cards.card()
    reply = sw(card, "80E400001C")
    assert reply.startswith(cards.CITIZEN.chip_number.hex().upper()) and reply.endswith("9000")
    assert sw(card, "80E4000010") == "6C1C"


def test_get_response_without_pending_data() -> None:
    assert sw(cards.card(), "00C0000010") == "6985"


def test_bank_card_refuses_the_belpic_applet() -> None:
    assert sw(BankCard(), "00A4040C0F" + AID) == "6A82"


def test_card_from_toml() -> None:
    card = card_from_toml(
        {
            "identity": {"surname": "Maes", "chip_number": "00" * 16},
            "quirks": {"get_response": True},
            "photo_size": 0,
        }
    )
    assert isinstance(card, BelpicCard) and card.quirks.get_response
    assert isinstance(card_from_toml({"kind": "bank"}), BankCard)
    with pytest.raises(ValueError):
        card_from_toml({"identity": {"shoe_size": 44}})


def test_command_line_refuses_a_bad_card_file(tmp_path: Path) -> None:
    bad = tmp_path / "card.toml"
    bad.write_text("[quirks]\nwings = true\n")
    assert main(["--card", str(bad)]) == 2


def test_vpcd_protocol_on_loopback() -> None:
    """A stand-in for vpcd's side: ATR request, power on, one APDU."""
    port = free_port()
    server = socket.create_server(("127.0.0.1", port))
    replies: list[bytes] = []

    def play_vpcd() -> None:
        conn, _ = server.accept()
        with conn:
            for message in (b"\x04", b"\x01", bytes.fromhex("00A4040C0F" + AID)):
                conn.sendall(struct.pack(">H", len(message)) + message)
                if message != b"\x01":
                    (size,) = struct.unpack(">H", conn.recv(2))
                    replies.append(conn.recv(size))

    vpcd = threading.Thread(target=play_vpcd)
    vpcd.start()
    card = cards.card()
    with VpcdCard(card, port=port, stay=False) as link:
        vpcd.join(5)
        assert link.sessions == 1
    server.close()
    assert replies == [card.atr, b"\x90\x00"]
