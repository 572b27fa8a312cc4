"""QR decoders and the scanner: what each decoder reads, debounce, difference check, faults."""

from __future__ import annotations

import logging
import queue
import time
from typing import Any

import numpy as np
import pytest

from presence.clock import ManualClock, SystemClock
from terminal.drivers import qr
from terminal.drivers.camera import SyntheticSource, V4l2Source
from terminal.drivers.events import CameraFault, DriverEvent, QrSeen
from terminal.drivers.qr import (
    DEFAULT_DECODER,
    REFRESH_S,
    Decoder,
    QrError,
    QrScanner,
    ZbarDecoder,
    ZxingDecoder,
    make_decoder,
)

URL = (
    "https://LIMOSA.be/q.html?id=24912345678901234&2=85073003328&3=Kowalski&4=Jan"
    "&7=Budimex+Sp.+z+o.o."
)
OTHER = "http://limosa.be/q.html?id=24900000000000042&3=Nowak"
FPS = 15
FRAME_S = 1 / FPS


@pytest.fixture(scope="module")
def decoders() -> dict[str, Decoder]:
    return {"zxing": ZxingDecoder(), "zbar": ZbarDecoder()}


# --- what each decoder reads --------------------------------------------------------------

CONDITIONS: dict[str, dict[str, Any]] = {
    "plain": {},
    "small": {"size": 110},
    "rotated_30": {"rotation": 30},
    "rotated_90": {"rotation": 90},
    "blurred": {"blur": 2.0},
    "very_blurred": {"blur": 3.0},
    "noisy": {"noise": 20},
    "very_noisy": {"noise": 40},
    "inverted": {"invert": True},
    "off_centre": {"centre": (0.2, 0.25), "size": 180},
}
# The record of who reads what (zxing-cpp 3.1, pyzbar 0.1.9 / libzbar0 0.23). Default code
# size is half the frame height: about 4.5 px per module at 480 lines, 6.8 at 720.
MISSES = {
    ("zxing", 480): {"very_blurred"},
    ("zbar", 480): {"very_blurred", "inverted"},
    ("zxing", 720): set(),
    ("zbar", 720): {"very_noisy", "inverted"},
}


@pytest.mark.parametrize(("width", "height"), [(640, 480), (1280, 720)], ids=["480p", "720p"])
@pytest.mark.parametrize("decoder_name", ["zxing", "zbar"])
@pytest.mark.parametrize("condition", CONDITIONS)
def test_decoder_reads_exactly_the_recorded_conditions(
    decoders: dict[str, Decoder], decoder_name: str, condition: str, width: int, height: int
) -> None:
    source = SyntheticSource(width, height, FPS, ManualClock())
    source.show(URL, **CONDITIONS[condition])

    texts = decoders[decoder_name].decode(source.frame().pixels)

    expected = [] if condition in MISSES[(decoder_name, height)] else [URL]
    assert texts == expected


@pytest.mark.parametrize("decoder_name", ["zxing", "zbar"])
def test_frame_without_code_decodes_to_nothing(decoders: dict[str, Decoder], decoder_name: str):
    source = SyntheticSource(640, 480, FPS, ManualClock(), sensor_noise=3)

    assert decoders[decoder_name].decode(source.frame().pixels) == []


@pytest.mark.parametrize("decoder_name", ["zxing", "zbar"])
def test_two_codes_in_one_frame_are_both_read(decoders: dict[str, Decoder], decoder_name: str):
    source = SyntheticSource(640, 480, FPS, ManualClock())
    source.show(URL, size=220, centre=(0.25, 0.5))
    left = source.frame().pixels
    source.show(OTHER, size=220, centre=(0.75, 0.5))
    both = np.where(np.arange(640) < 320, left, source.frame().pixels).astype(np.uint8)

    assert sorted(decoders[decoder_name].decode(both)) == sorted([URL, OTHER])


def test_make_decoder_builds_each_named_decoder() -> None:
    assert isinstance(make_decoder("zxing"), ZxingDecoder)
    assert isinstance(make_decoder("zbar"), ZbarDecoder)
    assert make_decoder().name == DEFAULT_DECODER == "zxing"


def test_make_decoder_refuses_unknown_names() -> None:
    with pytest.raises(QrError) as caught:
        make_decoder("opencv")

    assert caught.value.code == "unknown_decoder"


# --- scanner decisions, with a manual clock -----------------------------------------------


class Rig:
    """A scanner fed by hand: ``run(seconds)`` delivers frames at 15 fps on a manual clock."""

    def __init__(self, *, diff_check: bool = True, sensor_noise: float = 3.0) -> None:
        self.clock = ManualClock()
        self.source = SyntheticSource(640, 480, FPS, self.clock, sensor_noise=sensor_noise)
        self.events: queue.Queue[DriverEvent] = queue.Queue()
        self.scanner = QrScanner(
            self.source, ZxingDecoder(), self.events, clock=self.clock, repeat_window_s=3.0,
            fault_after_s=5.0, diff_check=diff_check,
        )  # fmt: skip

    def run(self, seconds: float) -> list[DriverEvent]:
        emitted: list[DriverEvent] = []
        for _ in range(round(seconds * FPS)):
            emitted += self.scanner.process(self.source.frame())
            self.clock.advance(FRAME_S)
        return emitted

    def silence(self, seconds: float, step: float = 0.5) -> list[DriverEvent]:
        emitted: list[DriverEvent] = []
        for _ in range(round(seconds / step)):
            self.clock.advance(step)
            emitted += self.scanner.check_frames()
        return emitted

    def seen(self, emitted: list[DriverEvent]) -> list[str]:
        return [e.text for e in emitted if isinstance(e, QrSeen)]


@pytest.fixture
def rig() -> Rig:
    return Rig()


def test_code_held_in_view_is_one_event(rig: Rig) -> None:
    rig.run(1.0)
    rig.source.show(URL)

    emitted = rig.run(10.0)

    assert rig.seen(emitted) == [URL]
    assert rig.events.qsize() == 1


def test_code_is_reported_on_the_first_frame_that_shows_it(rig: Rig) -> None:
    rig.run(2.0)
    rig.source.show(URL)
    frame = rig.source.frame()

    emitted = rig.scanner.process(frame)

    assert [type(e) for e in emitted] == [QrSeen]
    assert emitted[0].at == frame.timestamp


def test_code_shown_again_after_leaving_the_view_is_a_new_event(rig: Rig) -> None:
    rig.source.show(URL)
    first = rig.run(2.0)
    rig.source.show(None)
    rig.run(3.5)  # out of view for longer than the repeat window
    rig.source.show(URL)

    second = rig.run(2.0)

    assert rig.seen(first) == [URL] and rig.seen(second) == [URL]


def test_code_back_within_the_window_is_the_same_presentation(rig: Rig) -> None:
    rig.source.show(URL)
    rig.run(1.0)
    rig.source.show(None)
    rig.run(1.0)  # the worker lowers the paper for a moment
    rig.source.show(URL)

    assert rig.seen(rig.run(2.0)) == []


def test_frames_the_decoder_misses_do_not_split_a_presentation(rig: Rig) -> None:
    rig.source.show(URL)
    rig.run(1.0)
    rig.source.show(URL, blur=6.0)  # motion blur: unreadable for a second
    assert rig.seen(rig.run(1.0)) == []
    rig.source.show(URL)

    assert rig.seen(rig.run(1.0)) == []


def test_different_codes_are_separate_events(rig: Rig) -> None:
    rig.source.show(URL)
    rig.run(1.0)
    rig.source.show(OTHER)  # a team leader shows a colleague's certificate next

    assert rig.seen(rig.run(1.0)) == [OTHER]


def test_still_code_is_seen_again_after_the_window_only_if_it_left(rig: Rig) -> None:
    rig.source.show(URL)
    assert rig.seen(rig.run(20.0)) == [URL]


def test_idle_scene_is_decoded_only_at_the_refresh_rate(rig: Rig) -> None:
    rig.run(1.0)  # the first frame and the settle time after it
    decodes_before = rig.scanner.decodes

    rig.run(10.0)

    decodes = rig.scanner.decodes - decodes_before
    assert decodes <= 10.0 / REFRESH_S + 1
    assert decodes < 10.0 * FPS / 5


def test_without_the_difference_check_every_frame_is_decoded() -> None:
    rig = Rig(diff_check=False)

    rig.run(4.0)

    assert rig.scanner.decodes == rig.scanner.frames == 4 * FPS


def test_a_change_in_view_is_decoded_at_once(rig: Rig) -> None:
    rig.run(2.0)
    decodes = rig.scanner.decodes
    rig.source.show(None, centre=(0.5, 0.5))  # same scene: no change
    rig.source.show("x", size=60)  # a small new object

    rig.run(FRAME_S)

    assert rig.scanner.decodes == decodes + 1


def test_no_frames_for_too_long_is_a_fault_reported_once(rig: Rig) -> None:
    rig.run(1.0)

    assert rig.silence(4.5) == []
    emitted = rig.silence(10.0)

    assert [(type(e), e.code) for e in emitted] == [(CameraFault, "no_frames")]  # type: ignore[attr-defined]
    assert rig.scanner.faulted


def test_frames_coming_back_clear_the_fault(rig: Rig) -> None:
    rig.silence(6.0)
    rig.source.show(URL)

    emitted = rig.run(FRAME_S)

    assert [type(e) for e in emitted] == [CameraFault, QrSeen]
    assert emitted[0].code == "ok"  # type: ignore[attr-defined]
    assert not rig.scanner.faulted


def test_qr_text_never_reaches_the_log(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="terminal")
    rig.source.show(URL)

    rig.run(1.0)

    assert "Kowalski" not in caplog.text and "249" not in caplog.text


# --- scanner thread, real time ------------------------------------------------------------


def wait_for(events: queue.Queue[DriverEvent], kind: type, timeout: float = 3.0) -> DriverEvent:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = events.get(timeout=left)
        except queue.Empty:
            break
        if isinstance(event, kind):
            return event
    raise AssertionError(f"no {kind.__name__} within {timeout} s")


def test_scanner_thread_reports_codes_faults_and_recovery() -> None:
    events: queue.Queue[DriverEvent] = queue.Queue()
    source = SyntheticSource(640, 480, 30, SystemClock())
    with QrScanner(source, ZxingDecoder(), events, fault_after_s=0.3) as scanner:
        scanner.start()
        source.show(URL)
        seen = wait_for(events, QrSeen)
        assert seen.text == URL  # type: ignore[attr-defined]
        assert source.scene_first_frame_at is not None
        assert seen.at - source.scene_first_frame_at < 0.1

        source.stall()
        assert wait_for(events, CameraFault).code == "no_frames"  # type: ignore[attr-defined]
        source.stall(False)
        assert wait_for(events, CameraFault).code == "ok"  # type: ignore[attr-defined]
    assert scanner._thread is None
    scanner.close()  # idempotent


class FlakyDecoder:
    """A decoder that fails once, as a vendor library might on a corrupt frame."""

    name = "flaky"

    def __init__(self) -> None:
        self.inner = ZxingDecoder()
        self.failed = False

    def decode(self, pixels: np.ndarray) -> list[str]:
        if not self.failed:
            self.failed = True
            raise RuntimeError("corrupt frame")
        return self.inner.decode(pixels)


def test_scanner_survives_a_failing_decoder(logged_errors) -> None:
    logged_errors.expect("QR scanner step failed")
    events: queue.Queue[DriverEvent] = queue.Queue()
    source = SyntheticSource(320, 240, 30, SystemClock())
    source.show("hello", size=150)
    with QrScanner(source, FlakyDecoder(), events) as scanner:
        scanner.start()

        assert wait_for(events, QrSeen).text == "hello"  # type: ignore[attr-defined]
        assert scanner.errors == 1


def test_camera_that_cannot_open_is_a_fault_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(qr, "CAMERA_RETRY_S", 0.02)
    events: queue.Queue[DriverEvent] = queue.Queue()
    source = V4l2Source("/dev/video-none", 640, 480, 15)  # no OpenCV or no such device here
    with QrScanner(source, ZxingDecoder(), events, fault_after_s=0.2) as scanner:
        scanner.start()

        assert wait_for(events, CameraFault).code == "no_frames"  # type: ignore[attr-defined]
        time.sleep(0.1)  # more failed retries

    warnings = [r for r in caplog.records if r.getMessage().startswith("camera read failed")]
    assert len(warnings) == 1
