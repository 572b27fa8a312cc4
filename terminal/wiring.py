"""Drivers chosen by config: the real back-ends, or the fake and synthetic ones.

Each driver module is imported only when its back-end is chosen, so a terminal without a
camera never imports the camera stack (and picamera2 is imported only by its own back-end).
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from presence.clock import Clock
from terminal.config import TerminalConfig
from terminal.drivers.events import DriverEvent
from terminal.errors import TerminalError

log = logging.getLogger(__name__)

Events = queue.Queue[DriverEvent]


class Driver(Protocol):
    def close(self) -> None: ...


class DriverError(TerminalError):
    """A driver could not be set up or started; ``code`` is the driver's own error code."""


@contextmanager
def translated(name: str) -> Iterator[None]:
    """Driver packages have their own exception roots (each with a ``code``): restate them
    as ``DriverError`` at this boundary."""
    try:
        yield
    except TerminalError:
        raise
    except Exception as exc:
        code = getattr(exc, "code", None)
        if type(exc).__module__.startswith("terminal.drivers.") and isinstance(code, str):
            raise DriverError(code, f"{name}: {exc}") from exc
        raise


def build_gate(config: TerminalConfig, events: Events, pin_factory: Any, clock: Clock) -> Any:
    with translated("gate"):
        from terminal.drivers.gate import Gate

        return Gate(config.gate, events, pin_factory=pin_factory, clock=clock)


def start(name: str, driver: Any) -> None:
    """Start a driver that has a ``start()`` (its own thread, or opening its device)."""
    starter = getattr(driver, "start", None)
    if starter is not None:
        with translated(name):
            starter()


def build_inputs(config: TerminalConfig, events: Events, clock: Clock) -> dict[str, Any]:
    """The credential inputs the config asks for, by name: ``reader``, ``qr`` (the scanner,
    which owns its camera source) and ``keypad``. Not started yet (``start()`` where a driver
    has one)."""
    built: dict[str, Any] = {}
    try:
        if config.reader.backend != "none":
            with translated("reader"):
                built["reader"] = _reader(config, events, clock)
        if config.camera.backend != "none":
            with translated("camera"):
                built["qr"] = _scanner(config, _camera(config, clock), events, clock)
        if config.keypad.backend != "none":
            with translated("keypad"):
                built["keypad"] = _keypad(config, events, clock)
    except BaseException:
        close_all(built.values())
        raise
    return built


def credential_inputs(drivers: dict[str, Any]) -> list[str]:
    """The names the flow watches for faults (``inputs_down`` when all of them are down)."""
    names = {"reader": "reader", "qr": "camera", "keypad": "keypad"}
    return [health for driver, health in names.items() if driver in drivers]


def close_all(drivers: Iterable[Driver]) -> None:
    for driver in reversed(list(drivers)):
        try:
            driver.close()
        except Exception:
            log.exception("closing %s failed", type(driver).__name__)


def _reader(config: TerminalConfig, events: Events, clock: Clock) -> Any:
    from terminal.drivers import eid

    if config.reader.backend == "fake":
        return eid.FakeCardReader(events, clock)
    return eid.PcscCardReader(events, reader_name=config.reader.name, clock=clock)


def _camera(config: TerminalConfig, clock: Clock) -> Any:
    from terminal.drivers import camera

    cam = config.camera
    device = cam.device
    if cam.backend == "folder" and device:
        device = str(config.path.parent / device)  # relative to the config file
    return camera.open_source(cam.backend, cam.width, cam.height, cam.fps, device, clock)


def _scanner(config: TerminalConfig, source: Any, events: Events, clock: Clock) -> Any:
    from terminal.drivers import qr

    return qr.QrScanner(
        source,
        qr.make_decoder(config.qr.decoder),
        events,
        clock=clock,
        repeat_window_s=config.qr.repeat_window_s,
    )


def _keypad(config: TerminalConfig, events: Events, clock: Clock) -> Any:
    from terminal.drivers import keypad

    pad = config.keypad
    if pad.backend == "fake":
        return keypad.FakeKeypad(events, pad.timeout_s, clock)
    return keypad.EvdevKeypad(events, pad.device, pad.timeout_s, clock)
