"""A USB webcam through OpenCV, imported only when the webcam is opened."""

from __future__ import annotations

from typing import Any

import numpy as np

from presence.clock import Clock, SystemClock
from terminal.drivers.camera.base import CameraError, Frame


class V4l2Source:
    """A USB webcam through OpenCV's V4L2 back-end (``pip install opencv-python-headless``).

    ``device`` is a path (``/dev/video0``) or an index (``"0"``).
    """

    def __init__(
        self,
        device: str = "/dev/video0",
        width: int = 640,
        height: int = 480,
        fps: float = 15.0,
        clock: Clock | None = None,
    ) -> None:
        self.device = device
        self.width = width
        self.height = height
        self.fps = fps
        self.clock = clock or SystemClock()
        self._capture: Any = None
        self._cv2: Any = None

    def start(self) -> None:
        if self._capture is not None:
            return
        try:
            import cv2
        except ImportError as exc:
            raise CameraError("unavailable", f"OpenCV is not installed: {exc}") from None
        device: str | int = int(self.device) if self.device.isdigit() else self.device
        capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
        if not capture.isOpened():
            raise CameraError("open_failed", f"cannot open {self.device}")
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        capture.set(cv2.CAP_PROP_FPS, self.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cv2, self._capture = cv2, capture

    def read(self, timeout_s: float) -> Frame | None:
        """One frame; OpenCV's own read timeout (about 10 s) bounds the wait, not timeout_s."""
        self.start()
        ok, image = self._capture.read()
        if not ok or image is None:
            return None
        grey = self._cv2.cvtColor(image, self._cv2.COLOR_BGR2GRAY)
        return Frame(self.clock.monotonic(), np.ascontiguousarray(grey, dtype=np.uint8))

    def close(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()

    def __enter__(self) -> V4l2Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
