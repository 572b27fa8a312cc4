"""What a team leader's phone camera sees, for the scan page's tests, benchmark and trials:
scenes of L1 QR codes (and of other codes, blurred ones, an empty wall) rendered with the
terminal's synthetic frame source, as a Y4M video for Chromium's fake camera
(``--use-file-for-fake-video-capture=FILE.y4m``, which loops it) or as JPEG frames such as
the page sends.

Y4M (YUV4MPEG2): a text header, then per frame ``FRAME\\n`` and the planes of a 4:2:0
picture: luma (our grey frame) and two chroma planes at half size, grey (128).

    .venv/bin/python -m sim.scan_video --out crew.y4m --l1 24900000000000001 --blank 1 \\
        --l1 24900000000000002 --text https://example.com --blur 24900000000000003
"""

from __future__ import annotations

import argparse
import io
import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from terminal.drivers.camera.synthetic import Scene, add_noise, compose

WIDTH, HEIGHT = 480, 360
FPS = 5
CODE_SIZE = 200  # pixels, quiet zone included: about 5 px per module, as a phone at 30 cm
BLUR_UNREADABLE = 7.0  # a shaken phone: no decoder reads it (tests/sim check it)
SENSOR_NOISE = 3.0


@dataclass(frozen=True, slots=True)
class Shot:
    """One scene held for ``seconds``."""

    scene: Scene
    seconds: float


def l1_url(limosa_id: str, surname: str = "Kowalski", first_name: str = "Piotr") -> str:
    """An L1 URL as the certificates print them (DOMAIN.md section 3)."""
    query = {"id": limosa_id, "1": "1", "3": surname, "4": first_name,
             "6": "PL5260001246", "7": "Budimex Posting", "9": "403170701"}  # fmt: skip
    return "https://www.limosa.be/q.html?" + urlencode(query)


def code(text: str, seconds: float = 2.0, **options: object) -> Shot:
    return Shot(Scene(text, size=CODE_SIZE, **options), seconds)  # type: ignore[arg-type]


def l1(limosa_id: str, seconds: float = 2.0, **options: object) -> Shot:
    return code(l1_url(limosa_id), seconds, **options)


def blurred(limosa_id: str, seconds: float = 2.0) -> Shot:
    return l1(limosa_id, seconds, blur=BLUR_UNREADABLE)


def blank(seconds: float = 1.0) -> Shot:
    return Shot(Scene(None), seconds)


def frame(scene: Scene, width: int = WIDTH, height: int = HEIGHT, seed: int = 0) -> np.ndarray:
    """One grey frame of ``scene``, with a little sensor noise (a camera is never still)."""
    rng = np.random.default_rng(seed)
    return add_noise(compose(width, height, scene), SENSOR_NOISE, rng)


def jpeg(pixels: np.ndarray, quality: int = 70) -> bytes:
    """A frame as the page sends it (a canvas' JPEG)."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def write_y4m(
    path: Path, shots: Sequence[Shot], *, width: int = WIDTH, height: int = HEIGHT, fps: int = FPS
) -> Path:
    """The shots one after the other as a Y4M video (4:2:0, grey chroma)."""
    if width % 2 or height % 2:
        raise ValueError("Y4M 4:2:0 needs an even width and height")
    chroma = np.full((height // 2) * (width // 2) * 2, 128, dtype=np.uint8).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for number, shot in enumerate(shots):
            count = max(1, round(shot.seconds * fps))
            variants = [frame(shot.scene, width, height, seed=number * 7 + k) for k in range(2)]
            for k in range(count):
                out.write(b"FRAME\n")
                out.write(np.ascontiguousarray(variants[k % 2]).tobytes())
                out.write(chroma)
    return path


def duration(shots: Sequence[Shot]) -> float:
    return sum(max(1, round(s.seconds * FPS)) for s in shots) / FPS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sim.scan_video",
        description="Render a Y4M video of QR codes for Chromium's fake camera "
        "(--use-file-for-fake-video-capture). Scenes play in the order given.",
    )
    parser.add_argument("--out", type=Path, required=True, help="the .y4m file to write")
    parser.add_argument("--seconds", type=float, default=2.0, help="how long each code shows")
    parser.add_argument("--l1", action="append", default=[], metavar="LIMOSA_ID",
                        help="an L1 code of this Limosa id")  # fmt: skip
    parser.add_argument("--text", action="append", default=[], help="a QR code of any text")
    parser.add_argument("--blur", action="append", default=[], metavar="LIMOSA_ID",
                        help="an L1 code blurred past reading")  # fmt: skip
    parser.add_argument("--blank", action="append", type=float, default=[], metavar="SECONDS",
                        help="an empty scene")  # fmt: skip
    args = parser.parse_args(argv)
    shots = _shots_in_order(sys.argv[1:] if argv is None else list(argv), args.seconds)
    if not shots:
        parser.error("give at least one scene (--l1, --text, --blur or --blank)")
    write_y4m(args.out, shots)
    print(f"{args.out}: {len(shots)} scenes, {duration(shots):.1f} s at {FPS} frames/s")
    return 0


def _shots_in_order(argv: list[str], seconds: float) -> list[Shot]:
    makers = {
        "--l1": lambda v: l1(v, seconds),
        "--text": lambda v: code(v, seconds),
        "--blur": lambda v: blurred(v, seconds),
        "--blank": lambda v: blank(float(v)),
    }
    shots = []
    for flag, value in itertools.pairwise(argv):
        if flag in makers:
            shots.append(makers[flag](value))
    return shots


if __name__ == "__main__":
    raise SystemExit(main())
