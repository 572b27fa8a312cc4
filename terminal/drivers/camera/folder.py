"""Still images from a folder, as frames: for trying a camera position's real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from presence.clock import Clock, SystemClock
from terminal.drivers.camera.base import CameraError, Frame, GreyImage, Paced

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".pgm", ".bmp", ".gif", ".tif", ".tiff"})


class ImageFolderSource(Paced):
    """The images of a folder in name order, converted to grey, at ``fps``; ``loop`` restarts
    at the first image, otherwise the source runs dry (no more frames) after the last."""

    def __init__(
        self,
        folder: str | Path,
        fps: float = 15.0,
        clock: Clock | None = None,
        *,
        loop: bool = True,
    ) -> None:
        super().__init__(fps, clock or SystemClock())
        self.folder = Path(folder)
        self.loop = loop
        self.paths = self._list(self.folder)
        first = self._load(self.paths[0])
        self.height, self.width = first.shape
        self._position = 0

    @staticmethod
    def _list(folder: Path) -> list[Path]:
        if not folder.is_dir():
            raise CameraError("bad_folder", f"{folder}: not a folder")
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise CameraError("bad_folder", f"{folder}: no images")
        return paths

    @staticmethod
    def _load(path: Path) -> GreyImage:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                return np.asarray(image.convert("L"), dtype=np.uint8)
        except (OSError, UnidentifiedImageError) as exc:
            raise CameraError("read_failed", f"{path.name}: {exc}") from None

    def read(self, timeout_s: float) -> Frame | None:
        if self._position >= len(self.paths):
            if not self.loop:
                self._closed.wait(timeout_s)
                return None
            self._position = 0
        if not self._wait_for_slot(timeout_s):
            return None
        path = self.paths[self._position]
        self._position += 1
        return Frame(self.clock.monotonic(), self._load(path))
