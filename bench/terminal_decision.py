"""Terminal decision latency and memory.

Latency: the real terminal program (``terminal.app.App``) runs its loop in a thread, on
simulated hardware (fake card reader, gpiozero MockFactory gate), with its outbox on disk
(WAL, synchronous=FULL) and its MQTT link connected to a private mosquitto. For each of
DECISIONS people, one ``CardInserted`` event is put on the drivers' queue; the time is taken
when the flow reports the decision, i.e. after the outbox commit and the relay pulse. People
come one at a time, as at a turnstile, each followed by a passage.

Memory: RSS of a separate ``sitegate-terminal run`` process on simulated hardware (fake
reader, fake keypad, synthetic 640x480 camera scanned with zxing-cpp, mock gate), read from
/proc after it has run for RSS_AFTER_S seconds.

Prints one JSON line.
"""

from __future__ import annotations

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
RSS_AFTER_S = 5.0
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


def measure_latency(workdir: Path, port: int) -> list[float]:
    path = workdir / "latency.toml"
    path.write_text(CONFIG.format(state=workdir / "state", port=port, camera="none"))
    config = terminal_config.load(path)
    crowd = people(DECISIONS)
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


def measure_rss(workdir: Path, port: int) -> float:
    path = workdir / "rss.toml"
    path.write_text(CONFIG.format(state=workdir / "rss-state", port=port, camera="synthetic"))
    process = subprocess.Popen(
        [sys.executable, "-m", "terminal.cli", "run", "--config", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(RSS_AFTER_S)
        if process.poll() is not None:
            raise RuntimeError(f"the terminal exited with {process.returncode}")
        status = Path(f"/proc/{process.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        return kib / 1024
    finally:
        process.terminate()
        process.wait(timeout=15)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sitegate-bench-") as tmp, MosquittoBroker() as broker:
        workdir = Path(tmp)
        samples = [s * 1000 for s in measure_latency(workdir, broker.port)]
        rss = measure_rss(workdir, broker.port)
    print(
        json.dumps(
            {
                "bench": "terminal_decision",
                "decisions": len(samples),
                "p50_ms": round(statistics.median(samples), 3),
                "p99_ms": round(percentile(samples, 0.99), 3),
                "max_ms": round(max(samples), 3),
                "target_p99_ms": 15,
                "rss_mb": round(rss, 1),
                "target_rss_mb": 80,
                "rss_setup": "fake reader, fake keypad, synthetic 640x480@15 camera + zxing, "
                "mock gate, broker connected",
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
