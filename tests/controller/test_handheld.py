"""The handheld door below HTTP: what a frame must be, the rate limit, the capture time, and
the cool-down kept in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from controller import handheld as module
from controller import roster
from controller.handheld import Handheld, HandheldError, RateLimit, read_frame
from controller.store import open_store
from presence.clock import ManualClock
from presence.events import new_event_id
from sim.scan_video import frame, jpeg, l1

POSTED = "24900000000000001"


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 200).save(out, "PNG")
    return out.getvalue()


def test_a_jpeg_frame_is_read_as_its_grey_plane() -> None:
    pixels = read_frame(jpeg(frame(l1(POSTED).scene)))
    assert pixels.ndim == 2 and pixels.shape == (360, 480) and str(pixels.dtype) == "uint8"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "not_an_image"),
        (b"GIF89a" + bytes(40), "not_an_image"),
        (b"\x89PNG\r\n\x1a\n broken", "not_an_image"),
        (_png(3000, 3000), "too_many_pixels"),
        (bytes(module.MAX_FRAME_BYTES + 1), "too_large"),
    ],
)
def test_what_is_no_frame_is_refused_with_its_code(data: bytes, code: str) -> None:
    with pytest.raises(HandheldError) as caught:
        read_frame(data)
    assert caught.value.code == code


def test_a_gif_is_no_frame_of_ours() -> None:
    out = io.BytesIO()
    Image.new("L", (64, 48)).save(out, "GIF")
    with pytest.raises(HandheldError) as caught:
        read_frame(out.getvalue())
    assert caught.value.code == "not_an_image"


def test_the_rate_limit_lets_a_burst_through_then_says_how_long_to_wait() -> None:
    clock = ManualClock()
    limit = RateLimit(clock, rate_per_s=2.0, burst=3)
    assert [limit.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take() == pytest.approx(0.5)
    clock.advance(0.5)
    assert limit.take() == 0.0


@pytest.fixture
def door(site_config):
    """A handheld door on a real store (SQLite and PostgreSQL) with a manual clock, and a
    roster of one posted worker."""
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    store = open_store(site_config.database.url, clock=clock)
    text = f"person;employer;name\n{POSTED}\n"
    roster.apply_import(store, roster.plan_import(store, roster.Upload("r.csv", text.encode())))
    try:
        yield Handheld(store, site_config)
    finally:
        store.close()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_a_capture_time_ahead_of_ours_is_taken_as_now_and_another_day_is_stale(door) -> None:
    now = door.clock.now()
    assert door.moment(None) == now
    assert door.moment(_ms(now + timedelta(minutes=5))) == now
    earlier = now - timedelta(minutes=30)
    assert door.moment(_ms(earlier)) == earlier
    with pytest.raises(HandheldError) as caught:
        door.moment(_ms(now - timedelta(hours=11)))  # 23:00 yesterday in Brussels
    assert caught.value.code == "stale" and " CET, another day" in str(caught.value)
    with pytest.raises(HandheldError) as caught:
        door.moment(10**15)
    assert caught.value.code == "bad_time"


def test_the_cool_down_is_kept_in_the_store_then_a_new_scan_joins_the_presence(door) -> None:
    data = jpeg(frame(l1(POSTED).scene))
    start = door.clock.now() - timedelta(minutes=5)
    answers = [
        door.frame("tom", data, new_event_id(), _ms(start + timedelta(seconds=s)))
        for s in (0, 20, 70)
    ]
    assert [a.outcome for a in answers] == ["admitted", "already_scanned", "already_registered"]
    assert [a.stored for a in answers] == [True, False, True]
    assert answers[0].presence_state == answers[2].presence_state == "pending"
