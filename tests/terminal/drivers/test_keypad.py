"""Keypad entry: digits, Enter, Cancel, Backspace, timeout; evdev key events translated."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import pytest

from presence.clock import ManualClock
from terminal.drivers.events import DriverEvent, Entered
from terminal.drivers.keypad import (
    EV_KEY,
    KEY_CODES,
    MAX_ENTRY_LENGTH,
    EvdevKeypad,
    FakeKeypad,
    KeypadError,
    key_for,
)
from tests.support.ci import skip_or_fail

TIMEOUT_S = 10.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def events() -> queue.Queue[DriverEvent]:
    return queue.Queue()


@pytest.fixture
def pad(events: queue.Queue[DriverEvent], clock: ManualClock) -> FakeKeypad:
    return FakeKeypad(events, TIMEOUT_S, clock)


def drain(events: queue.Queue[DriverEvent]) -> list[str]:
    texts = []
    while not events.empty():
        event = events.get_nowait()
        assert isinstance(event, Entered)
        texts.append(event.text)
    return texts


# --- the entry buffer ---------------------------------------------------------------------


def test_digits_then_enter_emit_the_entry(pad: FakeKeypad, events, clock: ManualClock) -> None:
    pad.type("85073003328")
    assert events.empty()

    entered = pad.press("enter")

    assert entered is not None and entered.text == "85073003328"
    assert entered.at == clock.monotonic()
    assert drain(events) == ["85073003328"]
    assert pad.pending == ""


def test_backspace_drops_the_last_digit(pad: FakeKeypad, events) -> None:
    pad.type("1234\b\b56\n")

    assert drain(events) == ["1256"]


def test_backspace_on_empty_entry_is_harmless(pad: FakeKeypad, events) -> None:
    pad.type("\b\b12\n")

    assert drain(events) == ["12"]


def test_cancel_clears_the_entry(pad: FakeKeypad, events) -> None:
    pad.type("999\x1b")
    assert pad.pending == ""

    pad.type("42\n")

    assert drain(events) == ["42"]


def test_enter_on_empty_entry_emits_nothing(pad: FakeKeypad, events) -> None:
    pad.type("\n\n12\x1b\n")

    assert events.empty()


def test_unfinished_entry_is_cleared_after_the_timeout(pad: FakeKeypad, events, clock) -> None:
    pad.type("8507")
    clock.advance(TIMEOUT_S)

    assert pad.expire() is True
    assert pad.pending == ""
    pad.type("12\n")
    assert drain(events) == ["12"]


def test_timeout_counts_from_the_last_key(pad: FakeKeypad, events, clock) -> None:
    for digit in "85073003328":
        clock.advance(TIMEOUT_S - 1)  # a slow typist, but never idle for the whole timeout
        pad.press(digit)

    assert pad.expire() is False
    pad.press("enter")
    assert drain(events) == ["85073003328"]


def test_stale_entry_is_dropped_before_the_next_key_even_without_expire(
    pad: FakeKeypad, events, clock
) -> None:
    pad.type("777")
    clock.advance(TIMEOUT_S + 5)

    pad.type("1\n")

    assert drain(events) == ["1"]


def test_entry_length_is_capped(pad: FakeKeypad, events) -> None:
    pad.type("1" * (MAX_ENTRY_LENGTH + 15) + "\n")

    assert drain(events) == ["1" * MAX_ENTRY_LENGTH]


def test_unknown_key_is_refused(pad: FakeKeypad) -> None:
    with pytest.raises(KeypadError) as caught:
        pad.press("x")

    assert caught.value.code == "bad_key"


def test_fake_records_every_key(pad: FakeKeypad) -> None:
    pad.type("1\b2\n")

    assert pad.pressed == ["1", "backspace", "2", "enter"]


def test_entries_never_reach_the_log(pad: FakeKeypad, caplog, clock) -> None:
    caplog.set_level("DEBUG", logger="terminal")
    pad.type("85073003328\n")
    pad.type("24912345678901234")
    clock.advance(TIMEOUT_S)
    pad.expire()

    assert "8507" not in caplog.text and "2491" not in caplog.text


# --- evdev translation --------------------------------------------------------------------

# Linux key codes (linux/input-event-codes.h)
KEY_ESC, KEY_1, KEY_0, KEY_BACKSPACE, KEY_ENTER = 1, 2, 11, 14, 28
KEY_KP7, KEY_KP8, KEY_KP9, KEY_KPMINUS, KEY_KP4, KEY_KP5, KEY_KP6 = 71, 72, 73, 74, 75, 76, 77
KEY_KPPLUS, KEY_KP1, KEY_KP2, KEY_KP3, KEY_KP0, KEY_KPDOT = 78, 79, 80, 81, 82, 83
KEY_KPENTER, KEY_NUMLOCK, KEY_A, EV_SYN, EV_MSC = 96, 69, 30, 0, 4
PRESS, RELEASE, REPEAT = 1, 0, 2


def keystrokes(*codes: int) -> list[tuple[int, int, int]]:
    """What a keypad sends per key: MSC scan, key down, SYN, key up, SYN."""
    out = []
    for code in codes:
        out += [(EV_MSC, 4, 0x70059), (EV_KEY, code, PRESS), (EV_SYN, 0, 0)]
        out += [(EV_KEY, code, RELEASE), (EV_SYN, 0, 0)]
    return out


@pytest.fixture
def evpad(events, clock) -> Iterator[EvdevKeypad]:
    keypad = EvdevKeypad(events, "/dev/input/none", TIMEOUT_S, clock)
    yield keypad
    keypad.close()


def feed(keypad: EvdevKeypad, stream: list[tuple[int, int, int]]) -> None:
    for ev_type, code, value in stream:
        keypad.feed(ev_type, code, value)


def test_keypad_digits_and_enter_become_an_entry(evpad: EvdevKeypad, events) -> None:
    feed(evpad, keystrokes(KEY_KP8, KEY_KP5, KEY_KP0, KEY_KP7, KEY_KP1, KEY_KP9, KEY_KPENTER))

    assert drain(events) == ["850719"]


def test_top_row_digits_and_main_enter_work_too(evpad: EvdevKeypad, events) -> None:
    feed(evpad, keystrokes(KEY_1, KEY_0, KEY_ENTER))

    assert drain(events) == ["10"]


def test_keypad_minus_and_esc_cancel(evpad: EvdevKeypad, events) -> None:
    feed(evpad, keystrokes(KEY_KP1, KEY_KPMINUS, KEY_KP2, KEY_ESC, KEY_KP3, KEY_KPENTER))

    assert drain(events) == ["3"]


def test_keypad_dot_and_backspace_delete(evpad: EvdevKeypad, events) -> None:
    feed(evpad, keystrokes(KEY_KP4, KEY_KP5, KEY_KPDOT, KEY_KP6, KEY_BACKSPACE, KEY_KPENTER))

    assert drain(events) == ["4"]


def test_releases_repeats_and_other_keys_are_ignored(evpad: EvdevKeypad, events) -> None:
    feed(evpad, [(EV_KEY, KEY_KP2, PRESS), (EV_KEY, KEY_KP2, REPEAT), (EV_KEY, KEY_KP2, REPEAT)])
    feed(evpad, keystrokes(KEY_NUMLOCK, KEY_KPPLUS, KEY_A, KEY_KPENTER))

    assert drain(events) == ["2"]


def test_evdev_entry_times_out_on_the_injected_clock(evpad: EvdevKeypad, events, clock) -> None:
    feed(evpad, keystrokes(KEY_KP9, KEY_KP9))
    clock.advance(TIMEOUT_S)
    evpad.expire()
    feed(evpad, keystrokes(KEY_KP1, KEY_KPENTER))

    assert drain(events) == ["1"]


def test_key_for_maps_every_keypad_digit() -> None:
    codes = (
        KEY_KP0,
        KEY_KP1,
        KEY_KP2,
        KEY_KP3,
        KEY_KP4,
        KEY_KP5,
        KEY_KP6,
        KEY_KP7,
        KEY_KP8,
        KEY_KP9,
    )

    digits = [key_for(code, PRESS) for code in codes]

    assert digits == list("0123456789")


def test_key_table_matches_the_evdev_library() -> None:
    try:
        from evdev import ecodes
    except ImportError:
        skip_or_fail("python-evdev is not installed (extra 'pi', or 'dev')")
    expected = {
        "enter": {"KEY_ENTER", "KEY_KPENTER"},
        "cancel": {"KEY_ESC", "KEY_KPMINUS"},
        "backspace": {"KEY_BACKSPACE", "KEY_KPDOT", "KEY_DELETE"},
        **{d: {f"KEY_{d}", f"KEY_KP{d}"} for d in "0123456789"},
    }
    actual: dict[str, set[str]] = {}
    for code, key in KEY_CODES.items():
        name = ecodes.KEY[code]
        actual.setdefault(key, set()).add(name if isinstance(name, str) else name[0])

    assert actual == expected
    assert ecodes.EV_KEY == EV_KEY


def test_opening_a_missing_device_is_a_keypad_error(evpad: EvdevKeypad) -> None:
    with pytest.raises(KeypadError) as caught:
        evpad.start()

    assert caught.value.code in ("open_failed", "unavailable")


def test_no_keypad_plugged_in_is_reported(events) -> None:
    try:
        import evdev
    except ImportError:
        skip_or_fail("python-evdev is not installed (extra 'pi', or 'dev')")
    if evdev.list_devices():
        pytest.skip("this machine has input devices: nothing to prove here")
    keypad = EvdevKeypad(events, "", TIMEOUT_S)

    with pytest.raises(KeypadError) as caught:
        keypad.start()

    assert caught.value.code == "no_device"
    keypad.close()
