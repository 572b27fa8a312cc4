"""The scan page's camera video: a valid Y4M of the scenes asked for, readable where meant."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from controller.handheld import read_frame
from presence.qr import make_decoder
from sim import scan_video as video


def _frames(path: Path) -> tuple[str, list[np.ndarray]]:
    data = path.read_bytes()
    header, _, rest = data.partition(b"\n")
    width, height = video.WIDTH, video.HEIGHT
    size = width * height * 3 // 2
    frames = []
    for chunk in rest.split(b"FRAME\n")[1:]:
        assert len(chunk) == size
        frames.append(np.frombuffer(chunk[: width * height], np.uint8).reshape(height, width))
    return header.decode(), frames


def test_the_video_holds_each_scene_for_its_time_in_4_2_0(tmp_path: Path) -> None:
    shots = [video.blank(1.0), video.l1("24900000000000001", 2.0)]
    header, frames = _frames(video.write_y4m(tmp_path / "v.y4m", shots))
    assert header == f"YUV4MPEG2 W{video.WIDTH} H{video.HEIGHT} F{video.FPS}:1 Ip A1:1 C420jpeg"
    assert len(frames) == 3 * video.FPS == round(video.duration(shots) * video.FPS)
    decoder = make_decoder()
    assert decoder.decode(frames[0]) == []
    assert decoder.decode(frames[-1]) == [video.l1_url("24900000000000001")]


def test_a_blurred_code_is_past_reading_even_as_a_sharp_jpeg(tmp_path: Path) -> None:
    pixels = video.frame(video.blurred("24900000000000001").scene)
    assert make_decoder().decode(read_frame(video.jpeg(pixels))) == []


def test_a_code_survives_the_pages_jpeg(tmp_path: Path) -> None:
    pixels = video.frame(video.code("https://www.example.com/").scene)
    assert make_decoder().decode(read_frame(video.jpeg(pixels))) == ["https://www.example.com/"]


def test_the_command_line_renders_scenes_in_the_order_given(tmp_path: Path, capsys) -> None:
    out = tmp_path / "c.y4m"
    argv = ["--out", str(out), "--seconds", "1", "--l1", "24900000000000001", "--blank", "1",
            "--text", "hello"]  # fmt: skip
    assert video.main(argv) == 0
    _header, frames = _frames(out)
    decoder = make_decoder()
    assert decoder.decode(frames[0]) == [video.l1_url("24900000000000001")]
    assert decoder.decode(frames[-1]) == ["hello"]
    assert "3 scenes" in capsys.readouterr().out
