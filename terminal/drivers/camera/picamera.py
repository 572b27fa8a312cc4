"""The Raspberry Pi camera through picamera2, imported only when the camera is opened."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from presence.clock import Clock, SystemClock
from terminal.drivers.camera.base import CameraError, Frame

log = logging.getLogger(__name__)


class Picamera2Source:
    """The Raspberry Pi camera through picamera2 (apt ``python3-picamera2``).

    The scanner reads the low-resolution ("lores") stream, YUV420 at ``width`` x ``height``,
    whose Y plane is the grey image; the main stream is kept at twice that size, the smallest
    the ISP needs, and never copied.
    """

    def __init__(
        self, width: int = 640, height: int = 480, fps: float = 15.0, clock: Clock | None = None
    ) -> None:
        self.width = width
        self.height = height
        self.fps = fps
        self.clock = clock or SystemClock()
        self._camera: Any = None

    def start(self) -> None:
        if self._camera is not None:
            return
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraError(
                "unavailable", f"picamera2 is not installed (apt python3-picamera2): {exc}"
            ) from None
        try:
            camera = Picamera2()
            config = camera.create_video_configuration(
                main={"size": (self.width * 2, self.height * 2)},
                lores={"size": (self.width, self.height), "format": "YUV420"},
                controls={"FrameRate": self.fps},
                buffer_count=3,
            )
            camera.configure(config)
            camera.start()
        except Exception as exc:  # picamera2 raises many types; all mean "no camera"
            raise CameraError("open_failed", f"Pi camera: {exc}") from None
        self._camera = camera

    def read(self, timeout_s: float) -> Frame | None:
        self.start()
        try:
            job = self._camera.capture_array("lores", wait=False)
            yuv = self._camera.wait(job, timeout=timeout_s)
        except TimeoutError:
            return None
        except Exception as exc:  # translated at the boundary: the scanner counts it
            raise CameraError("read_failed", f"Pi camera: {exc}") from None
        if yuv is None:
            return None
        grey = np.ascontiguousarray(yuv[: self.height, : self.width], dtype=np.uint8)
        return Frame(self.clock.monotonic(), grey)

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            try:
                camera.stop()
                camera.close()
            except Exception as exc:  # closing must not raise; log and move on
                log.warning("Pi camera close failed: %s", exc)

    def __enter__(self) -> Picamera2Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
