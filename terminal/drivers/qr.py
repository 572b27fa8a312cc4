"""The turnstile's QR scanner: frames from the camera in, one event per presentation out.

The decoders and the debounce are ``presence.qr``'s, shared with the controller's handheld
door (one reader of L1 codes in the project); they are re-exported here for the terminal.

``QrScanner`` reads a ``FrameSource`` in its own thread and puts ``QrSeen(text)`` once per
presentation of a code and ``CameraFault`` when frames stop (``no_frames``) or come back
(``ok``). Its decisions live in ``process(frame)`` and ``check_frames()``, which a test calls
directly with a manual clock, without the thread.

The text of a code holds names: it is never logged, only its length.
"""

from __future__ import annotations

import logging
import queue
import threading

import numpy as np

from presence.clock import Clock, SystemClock
from presence.qr import (
    DECODERS,
    DEFAULT_DECODER,
    REPEAT_WINDOW_S,
    Debounce,
    Decoder,
    QrError,
    ZbarDecoder,
    ZxingDecoder,
    make_decoder,
)
from terminal.drivers.camera import CameraError, Frame, FrameSource, GreyImage
from terminal.drivers.events import CameraFault, DriverEvent, QrSeen

log = logging.getLogger(__name__)

__all__ = [
    "DECODERS",
    "DEFAULT_DECODER",
    "REPEAT_WINDOW_S",
    "Decoder",
    "QrError",
    "QrScanner",
    "ZbarDecoder",
    "ZxingDecoder",
    "make_decoder",
]

FAULT_AFTER_S = 5.0
READ_TIMEOUT_S = 0.5  # how long one read waits: bounds how late a fault is noticed
ERROR_BACKOFF_S = 0.2
CAMERA_RETRY_S = 1.0  # wait after a failed read (camera missing or not opening) before retrying

# The difference check compares a sparse grid of pixels with the last decoded frame.
DIFF_STEP = 8  # every 8th pixel of every 8th row: 4,800 samples at 640x480
DIFF_PIXEL_DELTA = 24  # grey levels: well above sensor noise, well below a code's contrast
DIFF_CHANGED_SHARE = 0.002  # share of samples that must change for "the frame changed"
SETTLE_S = 1.0  # keep decoding every frame this long after a change (focus, motion blur)
REFRESH_S = 0.5  # decode at least this often anyway, so nothing is missed for long


def _thumbnail(pixels: GreyImage) -> np.ndarray:
    return pixels[::DIFF_STEP, ::DIFF_STEP].astype(np.int16)


def _differs(thumbnail: np.ndarray, reference: np.ndarray | None) -> bool:
    """Whether enough sampled pixels moved by more than sensor noise could explain."""
    if reference is None or reference.shape != thumbnail.shape:
        return True
    moved = int(np.count_nonzero(np.abs(thumbnail - reference) > DIFF_PIXEL_DELTA))
    return moved > DIFF_CHANGED_SHARE * thumbnail.size


class QrScanner:
    """Frames in, ``QrSeen`` and ``CameraFault`` events out; owns (and closes) its source.

    Debounce (``presence.qr.Debounce``): a code's text is *sighted* in every frame it is
    decoded from, and in every frame skipped as unchanged since a frame it was decoded from.
    ``QrSeen(text)`` is emitted when a sighting starts a new presentation: holding a code in
    view is one event; a code shown again after being out of view for ``repeat_window_s`` is
    a new event.

    Difference check (``diff_check``): a frame is decoded only when it differs from the last
    decoded one (``DIFF_*``), during ``SETTLE_S`` after such a change, or when ``REFRESH_S``
    passed since the last decode.
    """

    def __init__(
        self,
        source: FrameSource,
        decoder: Decoder,
        events: queue.Queue[DriverEvent],
        clock: Clock | None = None,
        repeat_window_s: float = REPEAT_WINDOW_S,
        fault_after_s: float = FAULT_AFTER_S,
        *,
        diff_check: bool = True,
    ) -> None:
        self.source = source
        self.decoder = decoder
        self.events = events
        self.clock = clock or SystemClock()
        self.repeat_window_s = repeat_window_s
        self.fault_after_s = fault_after_s
        self.diff_check = diff_check
        self.frames = 0
        self.decodes = 0
        self.errors = 0
        self.faulted = False
        self._debounce = Debounce(repeat_window_s)
        self._reference: np.ndarray | None = None
        self._reference_texts: list[str] = []
        self._last_decode_at = float("-inf")
        self._last_change_at = float("-inf")
        self._last_frame_at = self.clock.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._read_error: str | None = None

    # --- decisions (no threads) -------------------------------------------------------------

    def process(self, frame: Frame) -> list[DriverEvent]:
        """Handle one frame: decode it unless unchanged, debounce, emit; returns what it put."""
        emitted: list[DriverEvent] = []
        self.frames += 1
        self._last_frame_at = self.clock.monotonic()
        if self.faulted:
            self.faulted = False
            log.info("camera frames are back")
            emitted.append(self._emit(CameraFault("ok", at=self._last_frame_at)))
        if self._should_decode(frame):
            texts = self.decoder.decode(frame.pixels)
            self.decodes += 1
            self._last_decode_at = frame.timestamp
            self._reference_texts = texts
        else:
            texts = self._reference_texts
        for text in dict.fromkeys(texts):
            if self._debounce.sight(text, frame.timestamp):
                log.info("QR code seen (%d characters)", len(text))
                emitted.append(self._emit(QrSeen(text, at=self.clock.monotonic())))
        return emitted

    def check_frames(self) -> list[DriverEvent]:
        """Called when no frame came: reports ``no_frames`` once ``fault_after_s`` has passed."""
        silent_for = self.clock.monotonic() - self._last_frame_at
        if self.faulted or silent_for < self.fault_after_s:
            return []
        self.faulted = True
        log.warning("no camera frame for %.1f s", silent_for)
        return [self._emit(CameraFault("no_frames", at=self.clock.monotonic()))]

    def _should_decode(self, frame: Frame) -> bool:
        if not self.diff_check:
            return True
        thumbnail = _thumbnail(frame.pixels)
        changed = _differs(thumbnail, self._reference)
        now = frame.timestamp
        if changed:
            self._last_change_at = now
        decode = (
            changed
            or now - self._last_change_at < SETTLE_S
            or now - self._last_decode_at >= REFRESH_S
        )
        if decode:
            self._reference = thumbnail
        return decode

    def _emit(self, event: DriverEvent) -> DriverEvent:
        self.events.put(event)
        return event

    # --- thread -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None or self._closed:
            return
        self._last_frame_at = self.clock.monotonic()
        self._thread = threading.Thread(target=self._run, name="qr-scanner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # the scanner must outlive any bad frame or decoder hiccup
                self.errors += 1
                log.exception("QR scanner step failed (%d so far)", self.errors)
                self._stop.wait(ERROR_BACKOFF_S)

    def _step(self) -> None:
        try:
            frame = self.source.read(READ_TIMEOUT_S)
        except CameraError as exc:
            if exc.code != self._read_error:  # once per kind of failure, not per retry
                log.warning("camera read failed: %s (%s)", exc.code, exc)
            self._read_error = exc.code
            frame = None
            self._stop.wait(CAMERA_RETRY_S)
        if self._stop.is_set():
            return
        if frame is None:
            self.check_frames()
        else:
            self._read_error = None
            self.process(frame)

    def close(self) -> None:
        """Stop the thread and close the source; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self.source.close()
        if self._thread is not None:
            self._thread.join(timeout=2 * READ_TIMEOUT_S + 1.0)
            self._thread = None

    def __enter__(self) -> QrScanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
