"""Synthetic frames: QR codes rendered into a scene, for tests, benchmarks and the demo.

segno and Pillow are imported only when a code is rendered.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from presence.clock import Clock, SystemClock
from terminal.drivers.camera.base import CameraError, Frame, GreyImage, Paced

BACKGROUND_GREY = 118  # a mid-grey scene; a printed code is paper white with black modules
QUIET_ZONE_MODULES = 4
NOISE_VARIANTS = 4  # pre-rendered noisy copies of a scene, cycled frame after frame


@dataclass(frozen=True, slots=True)
class Scene:
    """What a ``SyntheticSource`` shows: a QR code payload and how it looks, or nothing."""

    text: str | None
    size: int = 0  # side of the code in pixels, quiet zone included; 0 = half the frame
    rotation: float = 0.0  # degrees, counter-clockwise
    blur: float = 0.0  # Gaussian blur radius in pixels
    noise: float = 0.0  # Gaussian noise standard deviation in grey levels
    invert: bool = False  # light modules on a dark ground
    centre: tuple[float, float] = (0.5, 0.5)  # position of the code, as shares of the frame
    error: str = "m"  # QR error correction level


def render_qr(
    text: str, size: int, *, rotation: float = 0.0, blur: float = 0.0, invert: bool = False,
    error: str = "m",
) -> GreyImage:  # fmt: skip
    """A QR code of ``text`` as a grey image about ``size`` pixels wide (more when rotated)."""
    import segno
    from PIL import Image, ImageFilter

    try:
        qr = segno.make(text, error=error, micro=False)
    except ValueError as exc:  # segno: payload too large, unknown error level
        raise CameraError("bad_options", f"cannot render this QR code: {exc}") from None
    modules = np.array(qr.matrix, dtype=bool)
    modules = np.pad(modules, QUIET_ZONE_MODULES, constant_values=False)
    dark, light = (255, 0) if invert else (0, 255)
    symbol = np.where(modules, dark, light).astype(np.uint8)
    side = max(size, modules.shape[0])
    image = Image.fromarray(symbol).resize((side, side), Image.Resampling.NEAREST)
    if rotation:
        image = image.rotate(
            rotation, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=BACKGROUND_GREY
        )
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(image, dtype=np.uint8)


def textured_background(width: int, height: int, seed: int = 0) -> GreyImage:
    """A busy, still scene (a gradient, boxes, bars and print-like specks) for benchmarks: a
    decoder looks harder at edges than at a flat wall."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(80, 160, height, dtype=np.float32)[:, None]
    image = np.repeat(rows, width, axis=1)
    for _ in range(12):
        top, left = rng.integers(0, height), rng.integers(0, width)
        box_h, box_w = (
            rng.integers(height // 20, height // 3),
            rng.integers(width // 20, width // 3),
        )
        image[top : top + box_h, left : left + box_w] = rng.integers(20, 235)
    for column in rng.integers(0, width, 6):
        image[:, column : column + rng.integers(2, 8)] = rng.integers(10, 60)
    specks = rng.random((height, width)) < 0.01
    image[specks] = rng.integers(0, 60)
    return image.astype(np.uint8)


def compose(
    width: int, height: int, scene: Scene, background: GreyImage | None = None
) -> GreyImage:
    """The frame of a scene without noise: the background with the code pasted on it."""
    if background is None:
        frame = np.full((height, width), BACKGROUND_GREY, dtype=np.uint8)
    else:
        frame = background.copy()
    if scene.text is None:
        return frame
    size = scene.size or min(width, height) // 2
    code = render_qr(
        scene.text, size, rotation=scene.rotation, blur=scene.blur, invert=scene.invert,
        error=scene.error,
    )  # fmt: skip
    code_h, code_w = code.shape
    top = round(scene.centre[1] * height - code_h / 2)
    left = round(scene.centre[0] * width - code_w / 2)
    src_top, src_left = max(0, -top), max(0, -left)
    dst_top, dst_left = max(0, top), max(0, left)
    rows = min(code_h - src_top, height - dst_top)
    cols = min(code_w - src_left, width - dst_left)
    if rows > 0 and cols > 0:
        frame[dst_top : dst_top + rows, dst_left : dst_left + cols] = code[
            src_top : src_top + rows, src_left : src_left + cols
        ]
    return frame


def add_noise(image: GreyImage, sigma: float, rng: np.random.Generator) -> GreyImage:
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


class SyntheticSource(Paced):
    """Frames of a scene the test chooses: ``show(text, size=, rotation=, blur=, noise=,
    invert=)`` puts a QR code in view, ``show(None)`` clears it.

    ``sensor_noise`` adds per-frame noise to every scene (a real sensor is never still);
    ``background`` (height x width) replaces the flat grey wall, e.g. ``textured_background``;
    ``stall(True)`` stops frames coming (a camera fault) until ``stall(False)``.
    ``scene_first_frame_at`` is the timestamp of the first frame that showed the current scene.
    """

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        fps: float = 15.0,
        clock: Clock | None = None,
        *,
        sensor_noise: float = 0.0,
        seed: int = 0,
        background: GreyImage | None = None,
    ) -> None:
        super().__init__(fps, clock or SystemClock())
        self.width = width
        self.height = height
        if background is not None and background.shape != (height, width):
            raise CameraError("bad_options", f"background is not {width}x{height}")
        self.background = background
        self.sensor_noise = sensor_noise
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._stalled = False
        self._index = 0
        self.frames_delivered = 0
        self.scene = Scene(None)
        self.scene_first_frame_at: float | None = None
        self._variants: list[GreyImage] = []
        self._set_scene(self.scene)

    def show(self, text: str | None, **options: Any) -> None:
        """Put a QR code of ``text`` in view (options: the fields of ``Scene``), or clear it."""
        try:
            scene = Scene(text, **options)
        except TypeError as exc:
            raise CameraError("bad_options", f"unknown scene option: {exc}") from None
        self._set_scene(scene)

    def stall(self, stalled: bool = True) -> None:
        """Stop (or resume) delivering frames, as a camera that hung would."""
        self._stalled = stalled

    def frame(self) -> Frame:
        """The current scene's next frame now, without pacing (for tests with a manual clock)."""
        with self._lock:
            pixels = self._variants[self._index % len(self._variants)]
            self._index += 1
            now = self.clock.monotonic()
            if self.scene_first_frame_at is None:
                self.scene_first_frame_at = now
            self.frames_delivered += 1
        return Frame(now, pixels)

    def read(self, timeout_s: float) -> Frame | None:
        if self._stalled:
            self._closed.wait(timeout_s)
            return None
        if not self._wait_for_slot(timeout_s):
            return None
        return self.frame()

    def _set_scene(self, scene: Scene) -> None:
        base = compose(self.width, self.height, scene, self.background)
        sigma = max(scene.noise, self.sensor_noise)
        variants = [base]
        if sigma > 0:
            variants = [add_noise(base, sigma, self._rng) for _ in range(NOISE_VARIANTS)]
        for image in variants:
            image.setflags(write=False)
        with self._lock:
            self.scene = scene
            self._variants = variants
            self._index = 0
            self.scene_first_frame_at = None
