"""Terminal decision latency and memory.

Latency: the real terminal program (``terminal.app.App``) runs its loop in a thread, on
simulated hardware (fake card reader, gpiozero MockFactory gate), with its outbox on disk
(WAL, synchronous=FULL) and its MQTT link connected to a private mosquitto. For each of
DECISIONS people, one ``CardInserted`` event is put on the drivers' queue; the time is taken
when the flow reports the decision, i.e. after the outbox commit and the relay pulse. People
come one at a time, as at a turnstile, each followed by a passage.

Memory: RSS of a separate ``sitegate-terminal run`` process on simulated hardware (fake
reader, fake keypad, synthetic 640x480 camera scanned with zxing-cpp, mock gate), read from
/proc every RSS_EVERY_S through its whole run of RSS_SECONDS: the peak, the first and last
samples (after start-up) and the growth between them.

Prints one JSON line.  ``--help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

from presence.ids import Inss, parse_inss
from presence.messages import SiteConfig, SitePolicy, hash_digits
from sim.identifiers import with_inss_check
from sim.mosquitto import MosquittoBroker
from terminal import config as terminal_config
from terminal.app import App
from terminal.drivers.eid.identity import BirthDate, Identity
from terminal.drivers.events import CardInserted, Passed
from terminal.flows.checkin import Decided, SiteConfigReceived
from terminal.notify import SystemdNotifier

DECISIONS = 2000
RSS_SECONDS = 20.0  # how long the terminal process runs while its RSS is sampled
RSS_EVERY_S = 0.25
RSS_SETTLED_S = 5.0  # start-up (imports, camera, broker) is over by then
SALT = "5a17"

CONFIG = """\
config_version = 1
[terminal]
id = "bench-1"
workplace_id = "1Y102M7NZF7PZ"
direction = "in"
state_dir = "{state}"
[broker]
host = "127.0.0.1"
port = {port}
tls = false
[reader]
backend = "fake"
[camera]
backend = "{camera}"
width = 640
height = 480
fps = 15
[keypad]
backend = "fake"
[gate]
pin_factory = "mock"
tamper_pin = 0
[policy]
unknown_person = "refuse"
"""


def people(count: int) -> list[Inss]:
    """Distinct valid national numbers (checksum per DOMAIN.md section 2)."""
    found: list[Inss] = []
    serial = 1
    while len(found) < count:
        born = date(1960 + serial % 40, 1 + serial % 12, 1 + serial % 28)
        body = f"{born:%y%m%d}{(serial // 40) % 999 + 1:03d}"
        found.append(parse_inss(with_inss_check(body)))
        serial += 1
    return found


def identity(inss: Inss) -> Identity:
    return Identity(
        card_number="591234567890", chip_number="00" * 16, valid_from=date(2020, 1, 1),
        valid_until=date(2035, 1, 1), national_number=inss, surname="X", given_names="Y",
        third_initial="", nationality="Belg", birth_place="Z",
        birth_date=BirthDate("1985", date(1985, 1, 1), "year"), sex="M", document_type=1,
    )  # fmt: skip


def measure_latency(workdir: Path, port: int, decisions: int = DECISIONS) -> list[float]:
    path = workdir / "latency.toml"
    path.write_text(CONFIG.format(state=workdir / "state", port=port, camera="none"))
    config = terminal_config.load(path)
    crowd = people(decisions)
    # Hashed as the controller does, so the terminal's own cache is cold: each decision
    # pays its person's scrypt hash, as a first passage does.
    site = SiteConfig(1, datetime.now(UTC), SALT, SitePolicy("refuse", 60),
                      frozenset(hash_digits(SALT, p.digits) for p in crowd))  # fmt: skip
    decided = threading.Semaphore(0)
    done_at: list[float] = []

    def on_decision(_: Decided) -> None:
        done_at.append(time.perf_counter())
        decided.release()

    samples: list[float] = []
    with App(config, clock_probe=lambda: True, notifier=SystemdNotifier({})) as app:
        app.flow.observers.append(on_decision)
        app.events.put(SiteConfigReceived(config=site))
        loop = threading.Thread(target=app.run, daemon=True)
        loop.start()
        for inss in crowd:
            start = time.perf_counter()
            app.events.put(CardInserted(identity(inss)))
            if not decided.acquire(timeout=5):
                raise RuntimeError("no decision within 5 s")
            samples.append(done_at[-1] - start)
            app.events.put(Passed())
        if app.outbox.depth < 1:
            raise RuntimeError("nothing was stored")
        app.stop()
        loop.join(timeout=10)
    return samples


def measure_rss(workdir: Path, port: int, seconds: float = RSS_SECONDS) -> dict[str, float]:
    """RSS samples (MB) of a running terminal, every RSS_EVERY_S from its start for
    ``seconds``: peak over the whole run, first and last after RSS_SETTLED_S, and growth."""
    path = workdir / "rss.toml"
    path.write_text(CONFIG.format(state=workdir / "rss-state", port=port, camera="synthetic"))
    process = subprocess.Popen(
        [sys.executable, "-m", "terminal.cli", "run", "--config", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    samples: list[tuple[float, float]] = []  # (seconds since start, MB)
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            if process.poll() is not None:
                raise RuntimeError(f"the terminal exited with {process.returncode}")
            samples.append((elapsed, _rss_mb(process.pid)))
            time.sleep(RSS_EVERY_S)
    finally:
        process.terminate()
        process.wait(timeout=15)
    settled = [mb for at, mb in samples if at >= RSS_SETTLED_S] or [samples[-1][1]]
    return {
        "rss_mb": round(max(mb for _at, mb in samples), 1),
        "rss_first_mb": round(settled[0], 1),
        "rss_last_mb": round(settled[-1], 1),
        "rss_growth_mb": round(settled[-1] - settled[0], 1),
        "rss_samples": len(samples),
        "rss_seconds": seconds,
    }


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return kib / 1024


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decisions", type=int, default=DECISIONS, help="people decided")
    parser.add_argument(
        "--rss-seconds", type=float, default=RSS_SECONDS, help="how long RSS is sampled"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sitegate-bench-") as tmp, MosquittoBroker() as broker:
        workdir = Path(tmp)
        samples = [s * 1000 for s in measure_latency(workdir, broker.port, args.decisions)]
        rss = measure_rss(workdir, broker.port, args.rss_seconds)
    print(
        json.dumps(
            {
                "bench": "terminal_decision",
                "decisions": len(samples),
                "p50_ms": round(statistics.median(samples), 3),
                "p99_ms": round(percentile(samples, 0.99), 3),
                "max_ms": round(max(samples), 3),
                "target_p99_ms": 15,
                **rss,
                "target_rss_mb": 80,
                "rss_setup": "fake reader, fake keypad, synthetic 640x480@15 camera + zxing, "
                "mock gate, broker connected",
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
