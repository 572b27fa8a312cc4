"""``controller.heap``: once started, what start-up made is out of the collector's way."""

from __future__ import annotations

import gc
import time

from controller.heap import settle_after_start


def test_settling_freezes_what_survived_and_shortens_a_full_collection() -> None:
    keep = [[n] for n in range(300_000)]  # start-up objects that live on
    try:
        before = _full_collection_ms()
        assert settle_after_start() >= len(keep)
        after = _full_collection_ms()
        assert after < before / 2, (before, after)
    finally:
        gc.unfreeze()
        del keep


def _full_collection_ms() -> float:
    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1000
