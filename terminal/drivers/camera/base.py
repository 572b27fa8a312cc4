"""What every frame source shares: the frame, the source interface, errors and pacing."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from presence.clock import Clock

GreyImage = npt.NDArray[np.uint8]


class CameraError(Exception):
    """Root of camera errors. Codes: ``unavailable`` (library or device missing),
    ``open_failed``, ``read_failed``, ``bad_folder``, ``bad_options``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Frame:
    """One greyscale frame: ``pixels`` is a (height, width) uint8 array; ``timestamp`` is the
    monotonic time it was captured, on the source's clock."""

    timestamp: float
    pixels: GreyImage


class FrameSource(Protocol):
    width: int
    height: int

    def read(self, timeout_s: float) -> Frame | None:
        """The next frame, waiting at most ``timeout_s``; None when no frame came."""
        ...

    def close(self) -> None: ...


class Paced:
    """Shared pacing for sources that produce frames themselves: one frame per 1/fps."""

    def __init__(self, fps: float, clock: Clock) -> None:
        if fps <= 0:
            raise CameraError("bad_options", f"fps must be positive, got {fps}")
        self.clock = clock
        self.period = 1.0 / fps
        self._next_due: float | None = None
        self._closed = threading.Event()

    def _wait_for_slot(self, timeout_s: float) -> bool:
        """Wait for the next frame slot; False when it is further than ``timeout_s`` or closed."""
        now = self.clock.monotonic()
        due = now if self._next_due is None else self._next_due
        delay = max(0.0, due - now)
        if delay > timeout_s:
            self._closed.wait(timeout_s)
            return False
        if delay and self._closed.wait(delay):
            return False
        self._next_due = max(due + self.period, self.clock.monotonic())
        return not self._closed.is_set()

    def close(self) -> None:
        self._closed.set()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
