"""QR scanning figures: decode cost per decoder and resolution, idle CPU, and latency.

Prints one JSON line:
- ``decode``: frames/s, median and p99 ms per frame for zxing and zbar, at 640x480 and
  1280x720, with an L1 code in view (varied size and rotation) and without one;
- ``idle_cpu``: CPU seconds per minute of a scanner watching an empty scene at 15 frames/s,
  with the difference check on and off (``time.process_time`` over a short run, scaled), and
  of the synthetic source alone;
- ``latency_ms``: from the first frame showing a code to its ``QrSeen`` event, scanner thread
  running at 15 frames/s; ``show_to_event`` also counts the wait for that first frame.

    .venv/bin/python bench/qr_scan.py [--frames 200] [--idle-seconds 10] [--presentations 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import threading
import time
from typing import Any

import numpy as np

from presence.clock import Clock, ManualClock, SystemClock
from terminal.drivers.camera import GreyImage, SyntheticSource, textured_background
from terminal.drivers.events import DriverEvent, QrSeen
from terminal.drivers.qr import DEFAULT_DECODER, Decoder, QrScanner, make_decoder

RESOLUTIONS = ((640, 480), (1280, 720))
DECODERS = ("zxing", "zbar")
SENSOR_NOISE = 3.0
IDLE_FPS = 15
WARMUP_S = 1.5  # past the scanner's settle time after its first frame
L1 = "https://limosa.be/q.html?id=2491234567{:07d}&2=85073003328&3=Kowalski&4=Jan&7=Budimex+SA"


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(np.array(values), share * 100))


def scene_source(width: int, height: int, clock: Clock) -> SyntheticSource:
    """A camera looking at a busy, still entrance, with sensor noise."""
    background = textured_background(width, height)
    return SyntheticSource(
        width, height, IDLE_FPS, clock, sensor_noise=SENSOR_NOISE, background=background
    )


def sample_frames(width: int, height: int, count: int, with_code: bool) -> list[GreyImage]:
    """``count`` distinct frames: codes of varied size and angle, or empty noisy scenes."""
    source = scene_source(width, height, ManualClock())
    frames = []
    for index in range(count):
        if with_code and index % 4 == 0:
            side = min(width, height)
            source.show(
                L1.format(index), size=int(side * (0.35 + 0.05 * (index % 5))),
                rotation=(index * 7) % 40 - 20,
            )  # fmt: skip
        frames.append(source.frame().pixels)
    return frames


def time_decodes(decoder: Decoder, frames: list[GreyImage], with_code: bool) -> dict[str, Any]:
    durations = []
    read = 0
    for pixels in frames:
        started = time.perf_counter()
        texts = decoder.decode(pixels)
        durations.append((time.perf_counter() - started) * 1000)
        read += bool(texts)
    figures = {
        "fps": round(1000 / statistics.fmean(durations), 1),
        "median_ms": round(statistics.median(durations), 2),
        "p99_ms": round(percentile(durations, 0.99), 2),
        "n": len(frames),
    }
    if with_code:
        figures["read_share"] = round(read / len(frames), 3)
    return figures


def decode_figures(count: int) -> dict[str, Any]:
    figures: dict[str, Any] = {name: {} for name in DECODERS}
    for width, height in RESOLUTIONS:
        frames = {flag: sample_frames(width, height, count, flag) for flag in (True, False)}
        for name in DECODERS:
            decoder = make_decoder(name)
            figures[name][f"{width}x{height}"] = {
                "code": time_decodes(decoder, frames[True], True),
                "empty": time_decodes(decoder, frames[False], False),
            }
    return figures


def cpu_per_minute(counters: Any, seconds: float) -> dict[str, float]:
    """CPU of the whole process over ``seconds`` after a warm-up, scaled to one minute;
    ``counters()`` returns (frames, decodes) so far."""
    time.sleep(WARMUP_S)
    frames_start, decodes_start = counters()
    cpu_start, wall_start = time.process_time(), time.monotonic()
    time.sleep(seconds)
    cpu = time.process_time() - cpu_start
    wall = time.monotonic() - wall_start
    frames, decodes = counters()
    return {
        "cpu_s_per_min": round(cpu / wall * 60, 2),
        "core_percent": round(cpu / wall * 100, 2),
        "frames_per_s": round((frames - frames_start) / wall, 1),
        "decodes_per_s": round((decodes - decodes_start) / wall, 1),
    }


def idle_scanner(decoder_name: str, diff_check: bool, seconds: float) -> dict[str, float]:
    source = scene_source(640, 480, SystemClock())
    events: queue.Queue[DriverEvent] = queue.Queue()
    decoder = make_decoder(decoder_name)
    with QrScanner(source, decoder, events, diff_check=diff_check) as scanner:
        scanner.start()
        return cpu_per_minute(lambda: (scanner.frames, scanner.decodes), seconds)


def source_alone(seconds: float) -> dict[str, float]:
    """The synthetic camera without a scanner: what the figures above include for it."""
    source = scene_source(640, 480, SystemClock())
    stop = threading.Event()
    frames = [0]

    def read() -> None:
        while not stop.is_set():
            frames[0] += source.read(0.5) is not None

    reader = threading.Thread(target=read)
    reader.start()
    try:
        return cpu_per_minute(lambda: (frames[0], 0), seconds)
    finally:
        stop.set()
        source.close()
        reader.join()


def idle_figures(seconds: float) -> dict[str, Any]:
    figures: dict[str, Any] = {"fps": IDLE_FPS, "resolution": "640x480"}
    for name in DECODERS:
        figures[name] = {
            "diff_on": idle_scanner(name, True, seconds),
            "diff_off": idle_scanner(name, False, seconds),
        }
    figures["source_only"] = source_alone(seconds)
    return figures


def latency_figures(decoder_name: str, presentations: int) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    source = scene_source(640, 480, SystemClock())
    events: queue.Queue[DriverEvent] = queue.Queue()
    first_frame, from_show = [], []
    with QrScanner(source, make_decoder(decoder_name), events) as scanner:
        scanner.start()
        for index in range(presentations):
            source.show(None)
            time.sleep(float(rng.uniform(0.3, 0.6)))
            source.show(L1.format(index), size=int(rng.integers(160, 300)))
            shown_at = time.monotonic()
            event = _next_seen(events)
            if event is None or source.scene_first_frame_at is None:
                continue
            first_frame.append((event.at - source.scene_first_frame_at) * 1000)
            from_show.append((event.at - shown_at) * 1000)
    return {
        "first_frame_to_event": _summary(first_frame),
        "show_to_event": _summary(from_show),
        "missed": presentations - len(first_frame),
    }


def _next_seen(events: queue.Queue[DriverEvent], timeout: float = 2.0) -> QrSeen | None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = events.get(timeout=left)
        except queue.Empty:
            return None
        if isinstance(event, QrSeen):
            return event
    return None


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "median": round(statistics.median(values), 1),
        "p90": round(percentile(values, 0.9), 1),
        "max": round(max(values), 1),
        "n": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="frames per decode figure")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="per idle CPU run")
    parser.add_argument("--presentations", type=int, default=20, help="per latency figure")
    args = parser.parse_args()
    result = {
        "bench": "qr_scan",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "decode": decode_figures(args.frames),
        "idle_cpu": idle_figures(args.idle_seconds),
        "latency_ms": {name: latency_figures(name, args.presentations) for name in DECODERS},
        "default_decoder": DEFAULT_DECODER,
    }
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
