"""A BELPIC (Belgian eID) card emulator, and its link to the vpcd virtual reader.

``BelpicCard`` holds a card's files (the identity file built from friendly fields, with
optional address and photo) and answers APDUs like the real applet (DOMAIN.md section 5):
strict SELECT, 6Cxx on a wrong Le, 6B00 past the end of a file. ``Quirks`` make it odd on
purpose (61xx answers, a small maximum Le, no path SELECT, short replies, a slow card, a card
pulled out after N APDUs). ``BankCard`` plays a card whose applet SELECT fails.

``VpcdCard`` plugs any such card into pcscd's vpcd driver over its TCP protocol (DOMAIN.md
section 6), so the real pyscard -> pcscd -> vpcd path is exercised::

    python -m sim.belpic --vpcd 127.0.0.1:35963 --card card.toml

A card object is anything with ``atr`` and ``transmit(apdu) -> (data, sw1, sw2)``;
``reset()`` is called on power-up and reset. Removal during a read is signalled by raising
``terminal.drivers.eid.errors.CardGone``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import signal
import socket
import struct
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from sim.identifiers import with_card_check
from terminal.drivers.eid.errors import CardGone
from terminal.drivers.eid.tlv import encode_tlv

log = logging.getLogger(__name__)

BELPIC_AID = bytes.fromhex("A0 00 00 00 30 29 05 70 00 AD 13 10 01 01 FF")
BELPIC_ATR = bytes.fromhex("3B 98 13 40 0A A5 03 01 01 01 AD 13 11")
BANK_ATR = bytes.fromhex("3B 6E 00 00 80 31 80 66 B0 84 12 01 6E 01 83 00 90 00")
VPCD_PORT = 35963
MF = b"\x3f\x00"
ID_DF = b"\xdf\x01"
CERT_DF = b"\xdf\x00"

SW_OK = (0x90, 0x00)
SW_WRONG_LENGTH = (0x67, 0x00)
SW_NO_EF = (0x69, 0x86)
SW_NOT_FOUND = (0x6A, 0x82)
SW_WRONG_P1P2 = (0x6A, 0x86)
SW_WRONG_OFFSET = (0x6B, 0x00)
SW_NO_INS = (0x6D, 0x00)
SW_NO_CLA = (0x6E, 0x00)
SW_NO_RESPONSE = (0x69, 0x85)

Reply = tuple[bytes, int, int]


class EmulatedCard(Protocol):
    atr: bytes

    def transmit(self, apdu: bytes) -> Reply: ...

    def reset(self) -> None: ...


# --- building the files from friendly fields ----------------------------------------------


def card_number(first_ten: str) -> str:
    """A 12-digit citizen card number: ``first_ten`` and its check digits."""
    return with_card_check(first_ten)


@dataclass(frozen=True)
class IdentityFields:
    """What is printed on the card, in the card's own text forms (dates ``DD.MM.YYYY``)."""

    card_number: str = card_number("5921234567")
    chip_number: bytes = bytes.fromhex("534C494E336600296CFF2723660B0826")
    valid_from: date = date(2022, 5, 10)
    valid_until: date = date(2032, 5, 10)
    municipality: str = "Antwerpen"
    national_number: str = "85073003328"
    surname: str = "Peeters"
    given_names: str = "Jan Frans"
    third_initial: str = "K"
    nationality: str = "Belg"
    birth_place: str = "Antwerpen"
    birth_date: str = "30 JUL 1985"
    sex: str = "M"
    document_type: str = "1"
    special_status: str = "0"
    member_of_family: bool = False
    labour_market: str | None = None
    employers: tuple[str, ...] = ()
    photo_hash: bytes | None = None
    extra: tuple[tuple[int, bytes], ...] = ()
    padding: int = 0


def _dotted(day: date) -> bytes:
    return day.strftime("%d.%m.%Y").encode()


def build_identity_file(f: IdentityFields, photo: bytes | None = None) -> bytes:
    """The identity file (4031) as a card stores it: simplified TLV, then zero padding.

    ``extra`` tags are appended after the known ones (unknown tags a parser must skip).
    """
    photo_hash = f.photo_hash
    if photo_hash is None:
        photo_hash = hashlib.sha256(photo or b"").digest()
    items: list[tuple[int, bytes]] = [
        (0x01, f.card_number.encode()),
        (0x02, f.chip_number),
        (0x03, _dotted(f.valid_from)),
        (0x04, _dotted(f.valid_until)),
        (0x05, f.municipality.encode()),
        (0x06, f.national_number.encode()),
        (0x07, f.surname.encode()),
        (0x08, f.given_names.encode()),
        (0x09, f.third_initial.encode()),
        (0x0A, f.nationality.encode()),
        (0x0B, f.birth_place.encode()),
        (0x0C, f.birth_date.encode()),
        (0x0D, f.sex.encode()),
        (0x0F, f.document_type.encode()),
        (0x10, f.special_status.encode()),
        (0x11, photo_hash),
    ]
    if f.member_of_family:
        items.append((0x14, b""))
    if f.labour_market is not None:
        items.append((0x16, f.labour_market.encode()))
    for tag, number in zip((0x17, 0x18), f.employers, strict=False):
        items.append((tag, number.encode()))
    items.extend(f.extra)
    return encode_tlv(items) + bytes(f.padding)


@dataclass(frozen=True)
class Address:
    street: str = "Meir 1"
    zip_code: str = "2000"
    municipality: str = "Antwerpen"


ADDRESS_FILE_SIZE = 117  # the address file is zero-padded to a fixed size


def build_address_file(address: Address) -> bytes:
    tlv = encode_tlv(
        [
            (0x01, address.street.encode()),
            (0x02, address.zip_code.encode()),
            (0x03, address.municipality.encode()),
        ]
    )
    return tlv + bytes(max(0, ADDRESS_FILE_SIZE - len(tlv)))


def fake_photo(size: int = 3000) -> bytes:
    """Bytes shaped like a JPEG (SOI ... EOI) of ``size`` bytes; deterministic."""
    body = hashlib.shake_256(b"sitegate-photo").digest(max(0, size - 4))
    return b"\xff\xd8" + body + b"\xff\xd9"


def _signature(content: bytes) -> bytes:
    return hashlib.shake_256(b"sig" + content).digest(256)  # RSA-2048 sized


# --- the card -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quirks:
    """Odd behaviours real cards and readers show, to be switched on one by one.

    ``get_response``: READ BINARY answers 61xx and GET RESPONSE hands the data out.
    ``max_le``: the card answers 6Cxx to any Le above this (a 6Cxx before the last chunk).
    ``short_reply``: past-the-end Le answered with the bytes left + 9000 instead of 6Cxx.
    ``no_path_select``: SELECT by path answers 6A86 (the reader must select per FID).
    ``delay_s``: each APDU takes this long (a slow card).
    ``remove_after``: the card leaves the reader when APDU number N+1 arrives.
    """

    get_response: bool = False
    max_le: int = 256
    short_reply: bool = False
    no_path_select: bool = False
    delay_s: float = 0.0
    remove_after: int | None = None


class BelpicCard:
    """A BELPIC applet with its files; ``transmit`` answers like the real card."""

    def __init__(
        self,
        files: dict[tuple[bytes, ...], bytes],
        *,
        atr: bytes = BELPIC_ATR,
        chip_number: bytes = bytes(16),
        quirks: Quirks | None = None,
    ) -> None:
        self.files = dict(files)
        self.dirs = {path[:i] for path in files for i in range(1, len(path))}
        self.atr = atr
        self.chip_number = chip_number
        self.quirks = quirks or Quirks()
        self.apdu_count = 0
        self.removed = False
        self.log: list[tuple[bytes, int, int]] = []  # (APDU, SW1, SW2), for assertions
        self.reset()

    @classmethod
    def from_fields(
        cls,
        identity: IdentityFields | None = None,
        *,
        address: Address | None = Address(),
        photo: bytes | None = None,
        quirks: Quirks | None = None,
        atr: bytes = BELPIC_ATR,
        **overrides: Any,
    ) -> BelpicCard:
        """A card from friendly fields; keyword overrides change single identity fields,
        e.g. ``BelpicCard.from_fields(surname="D'Hondt", birth_date="1962")``."""
        f = replace(identity or IdentityFields(), **overrides)
        photo = fake_photo() if photo is None else photo
        identity_file = build_identity_file(f, photo)
        files: dict[tuple[bytes, ...], bytes] = {
            (MF, ID_DF, b"\x40\x31"): identity_file,
            (MF, ID_DF, b"\x40\x32"): _signature(identity_file),
            (MF, ID_DF, b"\x40\x35"): photo,
            (MF, CERT_DF, b"\x50\x3c"): _signature(b"rrn-cert") * 4,
        }
        if address is not None:
            address_file = build_address_file(address)
            files[(MF, ID_DF, b"\x40\x33")] = address_file
            files[(MF, ID_DF, b"\x40\x34")] = _signature(address_file + identity_file)
        return cls(files, atr=atr, chip_number=f.chip_number, quirks=quirks)

    def reset(self) -> None:
        """Power-up or reset: the applet is selected, nothing else is."""
        self.current_df: tuple[bytes, ...] = (MF,)
        self.current_ef: tuple[bytes, ...] | None = None
        self.pending = b""
        self.reads = 0

    def transmit(self, apdu: bytes) -> Reply:
        """Answer one APDU; raises ``CardGone`` once the card has left (``remove_after``)."""
        if self.removed:
            raise CardGone("card emulator: removed")
        limit = self.quirks.remove_after
        if limit is not None and self.apdu_count >= limit:
            self.removed = True
            raise CardGone("card emulator: removed mid-read")
        self.apdu_count += 1
        if self.quirks.delay_s:
            time.sleep(self.quirks.delay_s)
        data, sw1, sw2 = self._answer(bytes(apdu))
        self.log.append((bytes(apdu), sw1, sw2))
        return data, sw1, sw2

    def _answer(self, apdu: bytes) -> Reply:
        if len(apdu) < 4:
            return b"", *SW_WRONG_LENGTH
        cla, ins = apdu[0], apdu[1]
        if cla == 0x80 and ins == 0xE4:
            return self._get_card_data(apdu)
        if cla != 0x00:
            return b"", *SW_NO_CLA
        if ins == 0xA4:
            return self._select(apdu)
        if ins == 0xB0:
            return self._read_binary(apdu)
        if ins == 0xC0:
            return self._get_response(apdu)
        return b"", *SW_NO_INS

    def _select(self, apdu: bytes) -> Reply:
        p1, p2 = apdu[2], apdu[3]
        if len(apdu) < 5 or len(apdu) != 5 + apdu[4]:
            return b"", *SW_WRONG_LENGTH
        body = apdu[5:]
        if p2 != 0x0C:
            return b"", *SW_WRONG_P1P2
        if p1 == 0x04:
            return (b"", *SW_OK) if body == BELPIC_AID else (b"", *SW_NOT_FOUND)
        if p1 == 0x08:
            if self.quirks.no_path_select:
                return b"", *SW_WRONG_P1P2
            if len(body) % 2:
                return b"", *SW_WRONG_LENGTH
            return self._select_path(tuple(body[i : i + 2] for i in range(0, len(body), 2)))
        if p1 in (0x00, 0x02):
            if len(body) != 2:
                return b"", *SW_WRONG_LENGTH
            if body == MF:
                return self._select_path((MF,))
            return self._select_path((*self.current_df, body))
        return b"", *SW_WRONG_P1P2

    def _select_path(self, path: tuple[bytes, ...]) -> Reply:
        if path in self.files:
            self.current_df, self.current_ef = path[:-1], path
            return b"", *SW_OK
        if path in self.dirs:
            self.current_df, self.current_ef = path, None
            return b"", *SW_OK
        return b"", *SW_NOT_FOUND

    def _read_binary(self, apdu: bytes) -> Reply:
        if len(apdu) != 5:
            return b"", *SW_WRONG_LENGTH
        if self.current_ef is None:
            return b"", *SW_NO_EF
        content = self.files[self.current_ef]
        offset = (apdu[2] << 8) | apdu[3]
        le = apdu[4] or 256
        if offset >= len(content):
            return b"", *SW_WRONG_OFFSET
        left = len(content) - offset
        if le > self.quirks.max_le:
            return b"", 0x6C, min(left, self.quirks.max_le) & 0xFF
        if le > left:
            if not self.quirks.short_reply:
                return b"", 0x6C, left & 0xFF
            le = left
        chunk = content[offset : offset + le]
        if self.quirks.get_response:
            self.pending = chunk
            return b"", 0x61, len(chunk) & 0xFF
        return chunk, *SW_OK

    def _get_response(self, apdu: bytes) -> Reply:
        if len(apdu) != 5:
            return b"", *SW_WRONG_LENGTH
        if not self.pending:
            return b"", *SW_NO_RESPONSE
        le = apdu[4] or 256
        chunk, self.pending = self.pending[:le], self.pending[le:]
        if self.pending:
            return chunk, 0x61, len(self.pending) & 0xFF
        return chunk, *SW_OK

    def _get_card_data(self, apdu: bytes) -> Reply:
        if len(apdu) != 5:
            return b"", *SW_WRONG_LENGTH
        data = self.chip_number + bytes.fromhex("0000000000") + b"\x17" + bytes(6)
        if apdu[4] != len(data):
            return b"", 0x6C, len(data)
        return data, *SW_OK


class BankCard:
    """A non-eID card (think bank card): same ATR family tricks, no BELPIC applet."""

    def __init__(self, atr: bytes = BANK_ATR) -> None:
        self.atr = atr
        self.apdu_count = 0

    def reset(self) -> None:
        """Nothing to forget."""

    def transmit(self, apdu: bytes) -> Reply:
        self.apdu_count += 1
        if len(apdu) >= 2 and apdu[1] == 0xA4:
            return b"", *SW_NOT_FOUND
        return b"", *SW_NO_INS


# --- the vpcd link ------------------------------------------------------------------------

VPCD_POWER_OFF = 0x00
VPCD_POWER_ON = 0x01
VPCD_RESET = 0x02
VPCD_GET_ATR = 0x04
RECONNECT_S = 0.05


class VpcdCard:
    """Puts an emulated card in vpcd's virtual reader: ``insert()`` connects to vpcd (in a
    thread, retrying while vpcd is not there), ``remove()`` closes the socket, which pcscd
    sees as a card removal within its ~400 ms polling period.

    With ``stay=True`` (the default) the card reconnects when vpcd goes away (pcscd
    restarted): it is still "in the reader". A card raising ``CardGone`` (the
    ``remove_after`` quirk) drops the link without answering and stays out.
    """

    def __init__(
        self, card: EmulatedCard, host: str = "127.0.0.1", port: int = VPCD_PORT, stay: bool = True
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.stay = stay
        self.connected = threading.Event()
        self.sessions = 0
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def inserted(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def insert(self) -> VpcdCard:
        if self.inserted:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vpcd-card", daemon=True)
        self._thread.start()
        return self

    def remove(self) -> None:
        """Take the card out (idempotent)."""
        self._stop.set()
        self._drop()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    close = remove

    def wait_connected(self, timeout: float = 5.0) -> bool:
        return self.connected.wait(timeout)

    def __enter__(self) -> VpcdCard:
        return self.insert()

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        self.connected.clear()
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed by the peer
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
            except OSError:
                self._stop.wait(RECONNECT_S)
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self.sessions += 1
            self.connected.set()
            try:
                gone = self._serve(sock)
            except OSError:
                gone = False
            self._drop()
            if gone or not self.stay:
                return

    def _recv(self, sock: socket.socket, size: int) -> bytes:
        out = b""
        while len(out) < size:
            # vpcd sends the length and the payload in two writes: acknowledge at once, or
            # Nagle and delayed ACKs add ~40 ms to every APDU.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            chunk = sock.recv(size - len(out))
            if not chunk:
                raise ConnectionError("vpcd closed the link")
            out += chunk
        return out

    def _serve(self, sock: socket.socket) -> bool:
        """Answer vpcd until it goes; True when the card itself left (``CardGone``)."""
        while not self._stop.is_set():
            try:
                (size,) = struct.unpack(">H", self._recv(sock, 2))
                message = self._recv(sock, size)
            except ConnectionError:
                return False
            if size == 1:
                reply = self._control(message[0])
            else:
                try:
                    data, sw1, sw2 = self.card.transmit(message)
                except CardGone:
                    return True
                reply = data + bytes([sw1, sw2])
            if reply is not None:
                sock.sendall(struct.pack(">H", len(reply)) + reply)
        return False

    def _control(self, code: int) -> bytes | None:
        if code in (VPCD_POWER_ON, VPCD_RESET):
            self.card.reset()
        if code == VPCD_GET_ATR:
            return self.card.atr
        return None


# --- card files and the command line --------------------------------------------------------

_QUIRK_KEYS = {f.name for f in fields(Quirks)}
_IDENTITY_KEYS = {f.name for f in fields(IdentityFields)}


def card_from_toml(data: dict[str, Any]) -> BelpicCard | BankCard:
    """A card from the contents of a ``card.toml`` (see ``sim/belpic.py --help``)."""
    kind = data.get("kind", "belpic")
    atr = bytes.fromhex(data["atr"]) if "atr" in data else None
    if kind == "bank":
        return BankCard(atr or BANK_ATR)
    if kind != "belpic":
        raise ValueError(f"card kind must be belpic or bank, not {kind!r}")
    identity = dict(data.get("identity", {}))
    unknown = set(identity) - _IDENTITY_KEYS
    if unknown:
        raise ValueError(f"unknown [identity] keys: {sorted(unknown)}")
    for key in ("chip_number", "photo_hash"):
        if key in identity:
            identity[key] = bytes.fromhex(identity[key])
    if "employers" in identity:
        identity["employers"] = tuple(identity["employers"])
    quirks = dict(data.get("quirks", {}))
    if set(quirks) - _QUIRK_KEYS:
        raise ValueError(f"unknown [quirks] keys: {sorted(set(quirks) - _QUIRK_KEYS)}")
    address = Address(**data["address"]) if "address" in data else Address()
    photo_size = int(data.get("photo_size", 3000))
    return BelpicCard.from_fields(
        IdentityFields(**identity),
        address=address,
        photo=fake_photo(photo_size) if photo_size else b"",
        quirks=Quirks(**quirks),
        atr=atr or BELPIC_ATR,
    )


CARD_TOML_HELP = """card.toml:
  kind = "belpic"            # or "bank" (a non-eID card)
  atr = "3B 98 13 40 ..."    # optional
  photo_size = 3000
  [identity]                 # any IdentityFields name; dates as TOML dates
  surname = "Peeters"
  national_number = "85073003328"
  valid_until = 2032-05-10
  [address]
  street = "Meir 1"
  [quirks]                   # get_response, max_le, short_reply, no_path_select,
  get_response = true        # delay_s, remove_after
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sim.belpic",
        description="Emulate a Belgian eID card in pcscd's vpcd virtual reader.",
        epilog=CARD_TOML_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--vpcd", default=f"127.0.0.1:{VPCD_PORT}", help="vpcd HOST:PORT")
    parser.add_argument("--card", type=Path, help="card.toml (default: a Belgian citizen)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    host, _, port = args.vpcd.rpartition(":")
    try:
        data = tomllib.loads(args.card.read_text()) if args.card else {}
        card = card_from_toml(data)
    except (OSError, ValueError, TypeError, tomllib.TOMLDecodeError) as exc:
        print(f"sim.belpic: bad card file: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with VpcdCard(card, host or "127.0.0.1", int(port)) as link:
        log.info("card inserted in vpcd %s:%s", host, port)
        while not stop.wait(0.2):
            if not link.inserted:
                log.info("the card left the reader")
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
