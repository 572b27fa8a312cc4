"""Camera frame sources: greyscale numpy frames with a timestamp, behind one interface.

Back-ends: ``Picamera2Source`` (Raspberry Pi camera; picamera2 is imported only inside it),
``V4l2Source`` (a USB webcam through OpenCV, optional), ``ImageFolderSource`` (still images
from a folder) and ``SyntheticSource`` (renders payloads as QR codes, for tests, benchmarks
and the demo; segno and Pillow are imported only when it renders).

``read(timeout_s)`` waits for the next frame and returns None when none came in time: the
scanner turns a run of Nones into a ``CameraFault``.
"""

from __future__ import annotations

from presence.clock import Clock
from terminal.drivers.camera.base import CameraError, Frame, FrameSource, GreyImage
from terminal.drivers.camera.folder import ImageFolderSource
from terminal.drivers.camera.picamera import Picamera2Source
from terminal.drivers.camera.synthetic import (
    BACKGROUND_GREY,
    Scene,
    SyntheticSource,
    render_qr,
    textured_background,
)
from terminal.drivers.camera.v4l2 import V4l2Source

__all__ = [
    "BACKGROUND_GREY",
    "CameraError",
    "Frame",
    "FrameSource",
    "GreyImage",
    "ImageFolderSource",
    "Picamera2Source",
    "Scene",
    "SyntheticSource",
    "V4l2Source",
    "open_source",
    "render_qr",
    "textured_background",
]


def open_source(
    backend: str, width: int, height: int, fps: float, device: str = "", clock: Clock | None = None
) -> FrameSource:
    """The frame source the ``[camera]`` config section names (``none`` is the caller's job)."""
    if backend == "picamera2":
        return Picamera2Source(width, height, fps, clock)
    if backend == "v4l2":
        return V4l2Source(device or "/dev/video0", width, height, fps, clock)
    if backend == "folder":
        if not device:
            raise CameraError("bad_options", "the folder backend needs [camera] device (a folder)")
        return ImageFolderSource(device, fps, clock)
    if backend == "synthetic":
        return SyntheticSource(width, height, fps, clock)
    raise CameraError("bad_options", f"unknown camera backend {backend!r}")
