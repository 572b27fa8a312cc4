"""Run one of the site's programs with the site's clock moved, as if it were another time:

    python -m sim.chaos.shifted OFFSET_S MODULE [ARGS...]

runs ``python -m MODULE ARGS...`` with ``presence.clock.SystemClock`` (the wall clock every
part of sitegate reads, CONVENTIONS habit 11) ``OFFSET_S`` seconds ahead (or behind), so that
the whole site, controller and NSSO stand-in included, can live through a midnight
(``sitegate-demo chaos --before-midnight``). The monotonic clock and the machine's clock are
left alone. (libfaketime would move the C library's clocks instead, but with the monotonic
clock left real it makes Python's ``time.sleep`` fail with EINVAL.)
"""

from __future__ import annotations

import runpy
import sys
from datetime import datetime, timedelta

from presence.clock import SystemClock


def shift(offset_s: float) -> None:
    """Move ``SystemClock.now`` by ``offset_s`` seconds in this process."""
    real = SystemClock.now
    delta = timedelta(seconds=offset_s)

    def now(self: SystemClock) -> datetime:
        return real(self) + delta

    SystemClock.now = now  # type: ignore[method-assign]


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit("usage: python -m sim.chaos.shifted OFFSET_S MODULE [ARGS...]")
    offset, module = float(sys.argv[1]), sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    shift(offset)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
