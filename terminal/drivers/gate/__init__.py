"""Turnstile I/O with gpiozero: LEDs or an RGB LED, buzzer, gate relay, passage sensor,
tamper switch and exit button. Pins come from ``[gate]`` (BCM numbers); every device gets
the injected pin factory. Patterns are in ``PATTERNS`` (one table, shown in docs/gate.md).
"""

from terminal.drivers.gate.config import GateConfig
from terminal.drivers.gate.errors import GateConfigError, GateError
from terminal.drivers.gate.facade import Gate
from terminal.drivers.gate.patterns import PATTERNS, Pattern, Sound, Step
from terminal.drivers.gate.pins import make_pin_factory
from terminal.drivers.gate.safety import install_sigterm_hook
from terminal.drivers.gate.scheduler import ManualScheduler, Scheduler, ThreadScheduler

__all__ = [
    "PATTERNS",
    "Gate",
    "GateConfig",
    "GateConfigError",
    "GateError",
    "ManualScheduler",
    "Pattern",
    "Scheduler",
    "Sound",
    "Step",
    "ThreadScheduler",
    "install_sigterm_hook",
    "make_pin_factory",
]
