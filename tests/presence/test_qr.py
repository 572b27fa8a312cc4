"""The shared QR reader: light to import, one report per presentation."""

from __future__ import annotations

import subprocess
import sys

from presence.qr import Debounce, make_decoder


def test_importing_the_reader_pulls_in_no_decoder_or_image_library() -> None:
    probe = (
        "import sys, presence.qr, presence.l1, presence.admission;"
        "bad = {'zxingcpp', 'pyzbar', 'numpy', 'PIL'} & set(sys.modules);"
        "print(sorted(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_code_held_in_view_is_one_presentation() -> None:
    debounce = Debounce(window_s=3.0)
    assert debounce.sight("A", 0.0)
    assert not any(debounce.sight("A", t / 10) for t in range(1, 60))


def test_a_code_shown_again_after_the_window_is_a_new_presentation() -> None:
    debounce = Debounce(window_s=3.0)
    debounce.sight("A", 0.0)
    assert debounce.sight("A", 3.5)


def test_asking_does_not_record() -> None:
    debounce = Debounce(window_s=3.0)
    assert debounce.is_new("A", 0.0) and debounce.is_new("A", 1.0)
    debounce.record("A", 1.0)
    assert not debounce.is_new("A", 2.0)


def test_a_late_sighting_belongs_to_the_presentation_it_came_from() -> None:
    debounce = Debounce(window_s=3.0)
    debounce.sight("A", 10.0)
    assert not debounce.sight("A", 9.0)
    assert not debounce.is_new("A", 12.5)  # the late one did not pull the window back


def test_the_table_stays_bounded() -> None:
    debounce = Debounce(window_s=100.0, max_texts=2)
    for n, text in enumerate("ABC"):
        debounce.sight(text, float(n))
    assert debounce.is_new("A", 3.0) and not debounce.is_new("C", 3.0)


def test_the_shared_decoder_reads_a_rendered_l1_code() -> None:
    from terminal.drivers.camera.synthetic import Scene, compose

    url = "https://www.limosa.be/q.html?id=24901234567890123"
    assert make_decoder().decode(compose(640, 480, Scene(url))) == [url]
