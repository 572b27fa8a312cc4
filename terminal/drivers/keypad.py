"""Manual entry on a numeric keypad: key presses in, ``Entered(text)`` out.

The keypad only collects digits; the flow decides whether the text is an INSS or a Limosa id.
Back-ends: ``EvdevKeypad`` (a USB keypad through Linux evdev; the ``evdev`` package is imported
only when it opens a device) and ``FakeKeypad`` (a test instrument).

Key mapping (Linux key codes, by position, so the same on QWERTY and AZERTY keypads):

============================================  ===========
keys                                          meaning
============================================  ===========
KEY_KP0..KEY_KP9, KEY_0..KEY_9                the digit
KEY_KPENTER, KEY_ENTER                        Enter: emit the entry
KEY_ESC, KEY_KPMINUS                          Cancel: clear the entry
KEY_BACKSPACE, KEY_KPDOT, KEY_DELETE          Backspace: drop the last digit
anything else (NumLock, + * /, letters)       ignored
============================================  ===========

Only presses count (evdev value 1): releases and auto-repeat are ignored. An entry left
unfinished for ``timeout_s`` is cleared. Entries never reach the log.
"""

from __future__ import annotations

import logging
import os
import queue
import select
import threading
from typing import Any, Final

from presence.clock import Clock, SystemClock
from terminal.drivers.events import DriverEvent, Entered

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
MAX_ENTRY_LENGTH = 20  # the longest identifier typed: a Limosa id (presence.ids)
POLL_S = 0.25  # how often the reading thread wakes to expire a stale entry
REOPEN_S = 2.0  # retry interval after the keypad was unplugged

ENTER: Final = "enter"
CANCEL: Final = "cancel"
BACKSPACE: Final = "backspace"
DIGITS = frozenset("0123456789")

# Linux input event codes (linux/input-event-codes.h: kernel ABI, stable).
EV_KEY = 1
KEY_PRESS = 1
KEY_CODES: dict[int, str] = {
    # top row: KEY_1..KEY_9 are 2..10, KEY_0 is 11
    **{code: str(digit % 10) for digit, code in zip(range(1, 11), range(2, 12), strict=True)},
    # keypad: KP7 KP8 KP9 = 71-73, KP4 KP5 KP6 = 75-77, KP1 KP2 KP3 = 79-81, KP0 = 82
    71: "7", 72: "8", 73: "9", 75: "4", 76: "5", 77: "6", 79: "1", 80: "2", 81: "3", 82: "0",
    96: ENTER,  # KEY_KPENTER
    28: ENTER,  # KEY_ENTER
    1: CANCEL,  # KEY_ESC
    74: CANCEL,  # KEY_KPMINUS
    14: BACKSPACE,  # KEY_BACKSPACE
    83: BACKSPACE,  # KEY_KPDOT (Del when NumLock is off)
    111: BACKSPACE,  # KEY_DELETE
}  # fmt: skip
KEYPAD_DIGIT_CODES = frozenset({71, 72, 73, 75, 76, 77, 79, 80, 81, 82})


class KeypadError(Exception):
    """Root of keypad errors. Codes: ``unavailable`` (evdev missing), ``no_device``,
    ``open_failed``, ``bad_key``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def key_for(code: int, value: int) -> str | None:
    """The logical key of an evdev EV_KEY event, or None for releases, repeats and other keys."""
    if value != KEY_PRESS:
        return None
    return KEY_CODES.get(code)


class _Keypad:
    """The entry buffer both back-ends share: digits, Enter, Cancel, Backspace, timeout."""

    def __init__(self, events: queue.Queue[DriverEvent], timeout_s: float, clock: Clock) -> None:
        self.events = events
        self.timeout_s = timeout_s
        self.clock = clock
        self._digits: list[str] = []
        self._last_key_at = 0.0
        self._lock = threading.Lock()

    @property
    def pending(self) -> str:
        """The entry typed so far."""
        return "".join(self._digits)

    def expire(self) -> bool:
        """Clear an unfinished entry older than ``timeout_s``; True when one was cleared."""
        with self._lock:
            return self._expire_locked()

    def _expire_locked(self) -> bool:
        if self._digits and self.clock.monotonic() - self._last_key_at >= self.timeout_s:
            log.info("keypad entry timed out (%d digits dropped)", len(self._digits))
            self._digits.clear()
            return True
        return False

    def _key(self, key: str) -> Entered | None:
        with self._lock:
            self._expire_locked()
            self._last_key_at = self.clock.monotonic()
            if key in DIGITS:
                if len(self._digits) < MAX_ENTRY_LENGTH:
                    self._digits.append(key)
            elif key == BACKSPACE:
                if self._digits:
                    self._digits.pop()
            elif key == CANCEL:
                self._digits.clear()
            elif key == ENTER:
                return self._enter()
            else:
                raise KeypadError("bad_key", f"unknown key {key!r}")
        return None

    def _enter(self) -> Entered | None:
        if not self._digits:
            return None
        event = Entered(self.pending, at=self.clock.monotonic())
        self._digits.clear()
        log.info("keypad entry of %d digits", len(event.text))
        self.events.put(event)
        return event


class FakeKeypad(_Keypad):
    """A keypad a test types on: ``press("7")``, ``press("enter")``, ``type("123\\n")``.

    Keys: a digit, ``enter``, ``cancel``, ``backspace``; in ``type``, ``\\n`` is Enter,
    ``\\b`` Backspace and ``\\x1b`` (Esc) Cancel. ``pressed`` records every key.
    """

    _CHARS = {"\n": ENTER, "\r": ENTER, "\b": BACKSPACE, "\x1b": CANCEL}

    def __init__(
        self,
        events: queue.Queue[DriverEvent],
        timeout_s: float = TIMEOUT_S,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(events, timeout_s, clock or SystemClock())
        self.pressed: list[str] = []

    def press(self, key: str) -> Entered | None:
        self.pressed.append(key)
        return self._key(key)

    def type(self, text: str) -> list[Entered]:
        entered = [self.press(self._CHARS.get(char, char)) for char in text]
        return [e for e in entered if e is not None]

    def close(self) -> None:
        """Nothing to release; here for the back-end interface."""

    def __enter__(self) -> FakeKeypad:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EvdevKeypad(_Keypad):
    """A USB keypad through Linux evdev (extra ``pi``); the device is grabbed so its keys reach
    no console. ``device``: an event device path (``/dev/input/by-id/...-event-kbd`` is
    stable); "" = the first device with keypad digit keys. ``start()`` opens it and reads in
    a thread; an unplugged keypad is reopened every ``REOPEN_S``."""

    def __init__(
        self,
        events: queue.Queue[DriverEvent],
        device: str = "",
        timeout_s: float = TIMEOUT_S,
        clock: Clock | None = None,
        *,
        grab: bool = True,
    ) -> None:
        super().__init__(events, timeout_s, clock or SystemClock())
        self.device = device
        self.grab = grab
        self._input: Any = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._closed = False

    def feed(self, ev_type: int, code: int, value: int) -> Entered | None:
        """Handle one evdev event (type, code, value): what the reading thread calls."""
        if ev_type != EV_KEY:
            return None
        key = key_for(code, value)
        return self._key(key) if key is not None else None

    def open(self) -> None:
        """Open (and grab) the device; raises ``KeypadError``."""
        try:
            import evdev
        except ImportError as exc:
            raise KeypadError("unavailable", f"evdev is not installed: {exc}") from None
        path = self.device or _find_keypad(evdev)
        try:
            device = evdev.InputDevice(path)
            if self.grab:
                device.grab()
        except OSError as exc:
            raise KeypadError("open_failed", f"{path}: {exc.strerror or exc}") from None
        self._input = device
        log.info("keypad opened: %s", path)

    def start(self) -> None:
        if self._thread is not None or self._closed:
            return
        self.open()
        self._thread = threading.Thread(target=self._run, name="keypad", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._input is None and not self._reopen():
                continue
            try:
                self._read_ready()
            except OSError as exc:
                log.warning("keypad lost: %s", exc.strerror or exc)
                self._release()
            self.expire()

    def _read_ready(self) -> None:
        ready, _, _ = select.select([self._input.fd, self._wake_r], [], [], POLL_S)
        if self._input.fd in ready:
            for event in self._input.read():
                self.feed(event.type, event.code, event.value)

    def _reopen(self) -> bool:
        if self._stop.wait(REOPEN_S):
            return False
        try:
            self.open()
        except KeypadError as exc:
            log.debug("keypad not back yet: %s", exc)
            return False
        return True

    def _release(self) -> None:
        device, self._input = self._input, None
        if device is None:
            return
        try:
            device.close()
        except OSError as exc:
            log.debug("keypad close: %s", exc)

    def close(self) -> None:
        """Stop reading and release the device; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=REOPEN_S + 1.0)
            self._thread = None
        self._release()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> EvdevKeypad:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _find_keypad(evdev: Any) -> str:
    """The first input device that has keypad digit keys."""
    for path in evdev.list_devices():
        try:
            device = evdev.InputDevice(path)
        except OSError:
            continue
        try:
            keys = set(device.capabilities().get(EV_KEY, []))
        finally:
            device.close()
        if keys >= KEYPAD_DIGIT_CODES:
            return str(path)
    raise KeypadError("no_device", "no input device with keypad digit keys")
