"""Frame sources: synthetic QR scenes, image folders, and the hardware back-ends' lazy imports."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from presence.clock import ManualClock, SystemClock
from terminal.drivers.camera import (
    BACKGROUND_GREY,
    CameraError,
    Frame,
    ImageFolderSource,
    Picamera2Source,
    SyntheticSource,
    V4l2Source,
    open_source,
)
from terminal.drivers.qr import ZxingDecoder

URL = "http://limosa.be/q.html?id=24912345678901234"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


# --- SyntheticSource ----------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(640, 480), (1280, 720)])
def test_synthetic_frames_are_grey_uint8_of_the_configured_size(
    clock: ManualClock, width: int, height: int
) -> None:
    source = SyntheticSource(width, height, 15, clock)
    source.show(URL)

    frame = source.frame()

    assert frame.pixels.shape == (height, width)
    assert frame.pixels.dtype == np.uint8
    assert frame.timestamp == clock.monotonic()


def test_empty_scene_is_plain_background(clock: ManualClock) -> None:
    source = SyntheticSource(320, 240, 15, clock)
    source.show(URL)
    source.show(None)

    pixels = source.frame().pixels

    assert np.all(pixels == BACKGROUND_GREY)


def test_shown_code_decodes_to_its_text(clock: ManualClock) -> None:
    source = SyntheticSource(640, 480, 15, clock)
    source.show(URL, size=200, rotation=10)

    assert ZxingDecoder().decode(source.frame().pixels) == [URL]


def test_code_size_is_respected(clock: ManualClock) -> None:
    source = SyntheticSource(640, 480, 15, clock)
    source.show(URL, size=200)

    dark = np.argwhere(source.frame().pixels == 0)
    extent = dark.max(axis=0) - dark.min(axis=0) + 1

    # dark modules span the symbol without its 4-module quiet zone on each side
    assert 140 <= extent[0] <= 200 and extent[0] == extent[1]


def test_inverted_code_has_light_modules_on_dark(clock: ManualClock) -> None:
    source = SyntheticSource(640, 480, 15, clock)
    source.show(URL, size=200)
    normal = source.frame().pixels
    source.show(URL, size=200, invert=True)
    inverted = source.frame().pixels

    code = normal != BACKGROUND_GREY
    assert np.array_equal(inverted[code], 255 - normal[code])


def test_sensor_noise_varies_from_frame_to_frame_but_stays_small(clock: ManualClock) -> None:
    source = SyntheticSource(640, 480, 15, clock, sensor_noise=3.0)

    first, second = source.frame().pixels, source.frame().pixels

    difference = np.abs(first.astype(int) - second.astype(int))
    assert difference.any()
    assert difference.mean() < 6


def test_first_frame_of_a_scene_is_timestamped(clock: ManualClock) -> None:
    source = SyntheticSource(320, 240, 15, clock)
    source.frame()
    clock.advance(1.0)
    source.show(URL)
    assert source.scene_first_frame_at is None

    clock.advance(0.25)
    first = source.frame()
    clock.advance(0.25)
    source.frame()

    assert source.scene_first_frame_at == first.timestamp


def test_unknown_scene_option_is_refused(clock: ManualClock) -> None:
    source = SyntheticSource(320, 240, 15, clock)

    with pytest.raises(CameraError) as caught:
        source.show(URL, zoom=2)

    assert caught.value.code == "bad_options"


def test_non_positive_fps_is_refused() -> None:
    with pytest.raises(CameraError) as caught:
        SyntheticSource(320, 240, 0)

    assert caught.value.code == "bad_options"


def test_read_paces_frames_at_the_frame_rate() -> None:
    source = SyntheticSource(160, 120, 50, SystemClock())
    started = time.monotonic()

    frames = [source.read(timeout_s=1.0) for _ in range(6)]

    assert all(isinstance(f, Frame) for f in frames)
    assert time.monotonic() - started >= 5 / 50 * 0.9
    stamps = [f.timestamp for f in frames if f is not None]
    # Slots are fixed (a late frame does not push the next ones back), so under load one gap
    # may be short; on average the frames keep the rate.
    assert stamps[-1] - stamps[0] >= 5 / 50 * 0.9
    assert all(b > a for a, b in itertools.pairwise(stamps))


def test_stalled_source_returns_no_frame_after_the_timeout() -> None:
    source = SyntheticSource(160, 120, 50, SystemClock())
    source.stall()
    started = time.monotonic()

    assert source.read(timeout_s=0.05) is None
    assert 0.04 <= time.monotonic() - started < 1.0

    source.stall(False)
    assert source.read(timeout_s=0.5) is not None


def test_close_wakes_a_waiting_read() -> None:
    source = SyntheticSource(160, 120, 0.2, SystemClock())
    source.read(timeout_s=1.0)  # the next slot is 5 s away
    result: list[Frame | None] = []
    reader = threading.Thread(target=lambda: result.append(source.read(timeout_s=30)))
    reader.start()
    time.sleep(0.05)

    source.close()
    reader.join(timeout=2)

    assert not reader.is_alive() and result == [None]
    source.close()  # idempotent


# --- ImageFolderSource --------------------------------------------------------------------


def write_images(folder: Path, clock: ManualClock) -> list[np.ndarray]:
    source = SyntheticSource(320, 240, 15, clock)
    frames = []
    for index, text in enumerate(["one", None, "three"]):
        source.show(text, size=150)
        pixels = source.frame().pixels
        frames.append(pixels)
        rgb = Image.fromarray(pixels).convert("RGB")  # colour files are converted to grey
        rgb.save(folder / f"{index:02d}.png")
    (folder / "notes.txt").write_text("not an image")
    return frames


def test_folder_images_come_in_name_order_as_grey(tmp_path: Path, clock: ManualClock) -> None:
    expected = write_images(tmp_path, clock)
    source = ImageFolderSource(tmp_path, fps=15, clock=clock, loop=False)

    frames = []
    for _ in range(3):
        frames.append(source.read(timeout_s=0.0))
        clock.advance(1 / 15)

    assert (source.width, source.height) == (320, 240)
    for frame, pixels in zip(frames, expected, strict=True):
        assert frame is not None and frame.pixels.dtype == np.uint8
        assert np.array_equal(frame.pixels, pixels)
    assert ZxingDecoder().decode(frames[2].pixels) == ["three"]  # type: ignore[union-attr]


def test_folder_without_loop_runs_dry(tmp_path: Path, clock: ManualClock) -> None:
    write_images(tmp_path, clock)
    source = ImageFolderSource(tmp_path, fps=15, clock=clock, loop=False)
    for _ in range(3):
        clock.advance(0.1)
        assert source.read(timeout_s=0.0) is not None

    assert source.read(timeout_s=0.0) is None


def test_folder_with_loop_starts_again(tmp_path: Path, clock: ManualClock) -> None:
    expected = write_images(tmp_path, clock)
    source = ImageFolderSource(tmp_path, fps=15, clock=clock)
    for _ in range(3):
        clock.advance(0.1)
        source.read(timeout_s=0.0)

    clock.advance(0.1)
    again = source.read(timeout_s=0.0)

    assert again is not None and np.array_equal(again.pixels, expected[0])


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_unusable_folder_is_refused(tmp_path: Path, make: str) -> None:
    folder = tmp_path / "images"
    if make == "empty":
        folder.mkdir()

    with pytest.raises(CameraError) as caught:
        ImageFolderSource(folder)

    assert caught.value.code == "bad_folder"


def test_corrupt_image_is_a_read_error(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")

    with pytest.raises(CameraError) as caught:
        ImageFolderSource(tmp_path)

    assert caught.value.code == "read_failed"


# --- hardware back-ends -------------------------------------------------------------------


def test_importing_the_camera_module_pulls_in_no_camera_stack() -> None:
    probe = (
        "import sys, terminal.drivers.camera, terminal.drivers.qr;"
        "bad = {'picamera2', 'cv2', 'segno', 'PIL', 'libcamera'} & set(sys.modules);"
        "print(sorted(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr


def test_pi_camera_without_picamera2_says_how_to_install_it() -> None:
    if _importable("picamera2"):
        pytest.skip("picamera2 is installed: this is a Raspberry Pi")
    source = Picamera2Source(640, 480, 15)

    with pytest.raises(CameraError) as caught:
        source.read(timeout_s=0.1)

    assert caught.value.code == "unavailable"
    assert "python3-picamera2" in str(caught.value)
    source.close()
    source.close()


def test_webcam_without_opencv_or_device_is_a_camera_error() -> None:
    source = V4l2Source("/dev/video-none", 640, 480, 15)

    with pytest.raises(CameraError) as caught:
        source.read(timeout_s=0.1)

    assert caught.value.code in ("unavailable", "open_failed")
    source.close()


@pytest.mark.parametrize(
    ("backend", "kind"),
    [("picamera2", Picamera2Source), ("v4l2", V4l2Source), ("synthetic", SyntheticSource)],
)
def test_open_source_builds_the_configured_backend(backend: str, kind: type) -> None:
    source = open_source(backend, 640, 480, 15)

    assert isinstance(source, kind)
    assert (source.width, source.height) == (640, 480)
    source.close()


def test_open_source_refuses_an_unknown_backend() -> None:
    with pytest.raises(CameraError) as caught:
        open_source("webcam9000", 640, 480, 15)

    assert caught.value.code == "bad_options"


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_open_source_builds_a_folder_source(tmp_path: Path, clock: ManualClock) -> None:
    write_images(tmp_path, clock)

    source = open_source("folder", 640, 480, 15, str(tmp_path))

    assert isinstance(source, ImageFolderSource)
    assert (source.width, source.height) == (320, 240)


def test_folder_backend_without_a_folder_is_refused() -> None:
    with pytest.raises(CameraError) as caught:
        open_source("folder", 640, 480, 15, "")

    assert caught.value.code == "bad_options"


def test_payload_too_large_for_a_qr_code_is_refused(clock: ManualClock) -> None:
    source = SyntheticSource(320, 240, 15, clock)

    with pytest.raises(CameraError) as caught:
        source.show("x" * 10_000)

    assert caught.value.code == "bad_options"
