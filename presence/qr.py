"""Reading QR codes: the decoders and the per-presentation debounce, shared by every reader of
L1 codes in the project: a turnstile's scanner (``terminal.drivers.qr``) and the controller's
handheld door, which decodes the frames a team leader's phone sends (``controller.handheld``).

Nothing heavy is imported here: zxing-cpp, pyzbar and numpy are imported only when a decoder
is made or used, so ``presence`` stays light for whoever imports it.

The text of a code holds names: it is never logged.
"""

from __future__ import annotations

from typing import Any, Protocol

DEFAULT_DECODER = "zxing"  # bench/qr_scan.py: 5-10x faster than zbar, and reads more codes
REPEAT_WINDOW_S = 3.0  # a code out of view this long and shown again is a new presentation


class QrError(Exception):
    """Root of QR errors. Codes: ``unknown_decoder``, ``decoder_unavailable``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Decoder(Protocol):
    name: str

    def decode(self, pixels: Any) -> list[str]:
        """The texts of the QR codes in a (height, width) uint8 grey image (a numpy array);
        [] when none."""
        ...


class ZxingDecoder:
    """zxing-cpp, QR codes only; tries rotations and inverted (light on dark) codes."""

    name = "zxing"

    def __init__(self) -> None:
        try:
            import zxingcpp
        except ImportError as exc:
            raise QrError("decoder_unavailable", f"zxing-cpp is not installed: {exc}") from None
        self._zxing: Any = zxingcpp
        self._formats = zxingcpp.BarcodeFormat.QRCode

    def decode(self, pixels: Any) -> list[str]:
        results = self._zxing.read_barcodes(pixels, formats=self._formats)
        return [r.text for r in results if r.valid]


class ZbarDecoder:
    """ZBar through pyzbar, restricted to QR symbols (three times faster than all symbologies)."""

    name = "zbar"

    def __init__(self) -> None:
        try:
            import numpy
            from pyzbar import pyzbar
        except (ImportError, OSError) as exc:  # OSError: libzbar0 missing
            raise QrError("decoder_unavailable", f"pyzbar/libzbar0 unavailable: {exc}") from None
        self._numpy: Any = numpy
        self._decode: Any = pyzbar.decode
        self._symbols = [pyzbar.ZBarSymbol.QRCODE]

    def decode(self, pixels: Any) -> list[str]:
        image = self._numpy.ascontiguousarray(pixels, dtype=self._numpy.uint8)
        height, width = image.shape
        results = self._decode((image.tobytes(), width, height), symbols=self._symbols)
        return [_text(r.data) for r in results]


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


DECODERS: dict[str, type[ZxingDecoder] | type[ZbarDecoder]] = {
    "zxing": ZxingDecoder,
    "zbar": ZbarDecoder,
}


def make_decoder(name: str = DEFAULT_DECODER) -> Decoder:
    """The decoder the ``[qr] decoder`` setting names: ``zxing`` or ``zbar``."""
    try:
        factory = DECODERS[name]
    except KeyError:
        raise QrError(
            "unknown_decoder", f"unknown QR decoder {name!r}; expected one of {sorted(DECODERS)}"
        ) from None
    return factory()


class Debounce:
    """One report per presentation of a code.

    A code's text is *sighted* in every frame it is read from (a scanner also counts frames it
    skipped as unchanged since such a frame). A sighting starts a new presentation when the
    text was not sighted in the ``window_s`` before: holding a code in view is one
    presentation, and so is one where the decoder misses a few frames; a code shown again
    after being out of view for ``window_s`` is a new one.

    Times are seconds on any clock that does not go back for one reader (a terminal's
    monotonic clock; the capture times of one phone's frames). A sighting older than the
    latest one of its text (a frame delivered late) belongs to that presentation.
    """

    def __init__(self, window_s: float = REPEAT_WINDOW_S, max_texts: int = 1000) -> None:
        self.window_s = window_s
        self.max_texts = max_texts
        self._sighted: dict[str, float] = {}

    def is_new(self, text: str, at: float) -> bool:
        """Whether a sighting of ``text`` at ``at`` would start a new presentation."""
        previous = self._sighted.get(text)
        return previous is None or at - previous > self.window_s

    def record(self, text: str, at: float) -> None:
        """Record a sighting (without asking whether it is new)."""
        self._sighted[text] = max(at, self._sighted.get(text, at))
        expired = [t for t, seen in self._sighted.items() if at - seen > self.window_s]
        for old in expired:
            del self._sighted[old]
        if len(self._sighted) > self.max_texts:
            del self._sighted[min(self._sighted, key=self._sighted.__getitem__)]

    def sight(self, text: str, at: float) -> bool:
        """Record a sighting; True when it starts a new presentation."""
        new = self.is_new(text, at)
        self.record(text, at)
        return new
