"""The lights and the buzzer: gpiozero devices that show one pattern step at a time.

``indicator = "leds"``: three LEDs. ``indicator = "rgb"``: one RGB LED on red_pin,
green_pin and (as blue) amber_pin; amber is mixed from red and half green, lights that are
on together mix by taking the brighter channel. ``buzzer_kind = "active"``: a buzzer that
sounds when powered (``Buzzer``), any tone is just "on"; ``"tonal"``: a passive piezo driven
by PWM (``TonalBuzzer``) with a high and a low tone.
"""

from __future__ import annotations

from typing import Any

from gpiozero import LED, RGBLED, Buzzer, TonalBuzzer
from gpiozero.tones import Tone

from terminal.drivers.gate.config import GateConfig
from terminal.drivers.gate.patterns import Sound, Step

RGB_GREEN = (0.0, 1.0, 0.0)
RGB_RED = (1.0, 0.0, 0.0)
RGB_AMBER = (1.0, 0.5, 0.0)
RGB_DARK = (0.0, 0.0, 0.0)
# A piezo is loudest between 1 and 4 kHz; the low tone is two octaves below the high one.
TONAL_MID = Tone("A5")
TONAL_OCTAVES = 2
TONES = {Sound.HIGH: Tone("A6"), Sound.LOW: Tone("A4")}


def rgb_color(step: Step) -> tuple[float, float, float]:
    """The RGB LED colour for a step: the channel-wise maximum of the lights that are on."""
    colors = [
        color
        for on, color in ((step.green, RGB_GREEN), (step.red, RGB_RED), (step.amber, RGB_AMBER))
        if on
    ]
    if not colors:
        return RGB_DARK
    r, g, b = (max(channel) for channel in zip(*colors, strict=True))
    return (r, g, b)


def _built(built: list[Any], device: Any) -> Any:
    """Record a device as soon as it exists, so a later failure can close it."""
    built.append(device)
    return device


class _Leds:
    def __init__(self, config: GateConfig, pin_factory: Any, built: list[Any]) -> None:
        self.green = _built(built, LED(config.green_pin, pin_factory=pin_factory))
        self.red = _built(built, LED(config.red_pin, pin_factory=pin_factory))
        self.amber = _built(built, LED(config.amber_pin, pin_factory=pin_factory))

    def show(self, step: Step) -> None:
        self.green.value = step.green
        self.red.value = step.red
        self.amber.value = step.amber


class _RgbLed:
    def __init__(self, config: GateConfig, pin_factory: Any, built: list[Any]) -> None:
        self.led = RGBLED(
            red=config.red_pin,
            green=config.green_pin,
            blue=config.amber_pin,
            pwm=True,
            pin_factory=pin_factory,
        )
        built.append(self.led)

    def show(self, step: Step) -> None:
        self.led.value = rgb_color(step)


class _ActiveBuzzer:
    def __init__(self, pin: int, pin_factory: Any, built: list[Any]) -> None:
        self.device = _built(built, Buzzer(pin, pin_factory=pin_factory))

    def sound(self, sound: Sound) -> None:
        self.device.value = sound is not Sound.OFF


class _TonalBuzzer:
    def __init__(self, pin: int, pin_factory: Any, built: list[Any]) -> None:
        self.device = _built(
            built,
            TonalBuzzer(pin, mid_tone=TONAL_MID, octaves=TONAL_OCTAVES, pin_factory=pin_factory),
        )

    def sound(self, sound: Sound) -> None:
        if sound is Sound.OFF:
            self.device.stop()
        else:
            self.device.play(TONES[sound])


class Indicators:
    """Builds the devices the config names; ``show(step)`` sets all of them at once."""

    def __init__(self, config: GateConfig, pin_factory: Any) -> None:
        self._devices: list[Any] = []
        self._lights: _Leds | _RgbLed
        self._buzzer: _ActiveBuzzer | _TonalBuzzer
        try:
            if config.indicator == "leds":
                self._lights = _Leds(config, pin_factory, self._devices)
            else:
                self._lights = _RgbLed(config, pin_factory, self._devices)
            if config.buzzer_kind == "active":
                self._buzzer = _ActiveBuzzer(config.buzzer_pin, pin_factory, self._devices)
            else:
                self._buzzer = _TonalBuzzer(config.buzzer_pin, pin_factory, self._devices)
        except BaseException:
            self.close()
            raise

    def show(self, step: Step) -> None:
        self._lights.show(step)
        self._buzzer.sound(step.buzzer)

    def dark(self) -> None:
        self.show(Step(1.0))

    def close(self) -> None:
        for device in reversed(self._devices):
            device.close()
        self._devices.clear()
