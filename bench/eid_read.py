"""eID read cost through the real stack: pyscard -> pcscd -> vpcd -> sim.belpic.

Reads the identity file (what a check-in reads) N times, then the same card the way full
middleware does (identity, address, photo and their signatures), each read in its own
PC/SC connection and transaction as ``PcscCardReader`` does. Prints one JSON line: median
and p99 ms per read, APDUs and bytes per read, and the byte ratio full / check-in.

    .venv/bin/python bench/eid_read.py [--reads 200]

Starts pcscd with the vpcd reader unless one already runs (and stops only what it started).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

from sim.belpic import BelpicCard
from sim.pcscd import VIRTUAL_READER, CardSlot, Pcscd, machine_lock
from terminal.drivers.eid import protocol
from terminal.drivers.eid.protocol import ReadStats, Transmit
from terminal.drivers.eid.session import card_session, pcsc_context

FULL_READ = (
    protocol.IDENTITY_PATH,
    protocol.IDENTITY_SIGNATURE_PATH,
    protocol.ADDRESS_PATH,
    protocol.ADDRESS_SIGNATURE_PATH,
    protocol.PHOTO_PATH,
)


def checkin_read(transmit: Transmit, stats: ReadStats) -> None:
    protocol.read_identity(transmit, stats=stats)


def full_read(transmit: Transmit, stats: ReadStats) -> None:
    for index, path in enumerate(FULL_READ):
        protocol.read_file(transmit, path, stats=stats, select=index == 0)


def measure(read: Callable[[Transmit, ReadStats], None], reads: int) -> dict[str, float]:
    times: list[float] = []
    stats = ReadStats()
    with pcsc_context() as context:
        for _ in range(reads):
            started = time.perf_counter()
            with card_session(context, VIRTUAL_READER) as transmit:
                read(transmit, stats)
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
        "apdus_per_read": stats.apdus / reads,
        "bytes_per_read": stats.bytes_received / reads,
        "bytes_sent_per_read": stats.bytes_sent / reads,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args(argv)
    with machine_lock(), Pcscd() as pcscd:
        slot = CardSlot()
        slot.insert(BelpicCard.from_fields(), wait=True)
        try:
            checkin = measure(checkin_read, args.reads)
            full = measure(full_read, args.reads)
        finally:
            slot.remove()
        result = {
            "bench": "eid_read",
            "path": "pyscard->pcscd->vpcd->sim.belpic",
            "pcscd": "reused" if not pcscd.owned else "started",
            "reads": args.reads,
            "wrong_le_delay_ms": protocol.WRONG_LE_DELAY_S * 1000,
            "checkin": checkin,
            "full": full,
            "bytes_ratio_full_over_checkin": round(
                full["bytes_per_read"] / checkin["bytes_per_read"], 1
            ),
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
