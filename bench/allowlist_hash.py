"""Benchmark: the cost of the site config's slow hash (scrypt, ``presence.messages.SCRYPT``).

Measured in one run:

- ``checkin_hash``: one ``person_hash`` of a person not seen before (what a check-in costs on
  the terminal; a person seen again is remembered), median and p99 over HASHES people;
- ``build``: ``controller.siteconfig.build`` on SQLite for a roster of 2,000 and of 10,000
  people imported from CSV: ``cold_s`` with no hash kept yet (first build after the roster
  import, or after the upgrade), ``warm_s`` with every hash kept (every later build);
- ``attack``: what reversing the lists by brute force costs at this hash rate: national
  numbers of people born over ENUMERATED_YEARS (every birth date, 998 serials each; the
  check digits follow) against one site's salt, in core-hours of this machine, and a
  targeted guess (one birth date known) in seconds. SHA-256 (site config v1) for comparison.

A Raspberry Pi 4 is taken as PI_FACTOR times slower per core than this machine (an
assumption, stated with the figures: measure on a Pi with this same script).

Prints one JSON line.  Usage: ``python bench/allowlist_hash.py [--hashes N]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller import config as config_module
from controller import siteconfig
from controller.roster import import_file
from controller.store import open_store
from presence.ids import Inss, parse_inss
from presence.messages import SCRYPT, person_hash
from sim.identifiers import with_inss_check

HASHES = 300
PI_FACTOR = 4.0
ROSTERS = (2000, 10000)
ENUMERATED_YEARS = 70
SERIALS = 998
COMPANY = "0403170701"
CONTROLLER_TOML = """config_version = 1
[site]
workplace_id = "1Y102M7NZF7PZ"
company_id = "0403170701"
name = "Bench site"
terminals_file = "terminals.toml"
[broker]
host = "127.0.0.1"
tls = false
[database]
url = "{url}"
"""


def people(count: int, start: int = 0) -> list[Inss]:
    found: list[Inss] = []
    born, serial = date(1960, 1, 1), start
    while len(found) < count:
        day = born + timedelta(days=serial // SERIALS)
        found.append(parse_inss(with_inss_check(f"{day:%y%m%d}{serial % SERIALS + 1:03d}")))
        serial += 1
    return found


def checkin_hash(count: int = HASHES) -> dict[str, float]:
    salt = os.urandom(16).hex()
    samples = []
    for person in people(count, start=500_000):
        start = time.perf_counter()
        person_hash(salt, person)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    median = statistics.median(samples)
    return {
        "median_ms": round(median, 2),
        "p99_ms": round(samples[int(0.99 * (len(samples) - 1))], 2),
        "pi4_assumed_ms": round(median * PI_FACTOR, 1),
    }


def build(workdir: Path, size: int) -> dict[str, float]:
    url = f"sqlite:///{workdir / f'c{size}.db'}"
    site = workdir / f"site{size}"
    site.mkdir()
    (site / "terminals.toml").write_text("")
    (site / "controller.toml").write_text(CONTROLLER_TOML.format(url=url))
    config = config_module.load(site / "controller.toml")
    roster = workdir / f"roster{size}.csv"
    roster.write_text(
        "person,employer\n" + "".join(f"{p.digits},{COMPANY}\n" for p in people(size))
    )
    store = open_store(url)
    try:
        import_file(store, roster)
        today = date(2026, 3, 2)
        start = time.perf_counter()
        cold, _ = siteconfig.build(store, config, today)
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        warm, _ = siteconfig.build(store, config, today)
        warm_s = time.perf_counter() - start
    finally:
        store.close()
    if len(cold.allowlist) != size or warm.allowlist != cold.allowlist:
        raise RuntimeError("the allowlist does not hold the roster")
    return {"people": size, "cold_s": round(cold_s, 2), "warm_s": round(warm_s, 3)}


def attack(scrypt_ms: float) -> dict[str, float]:
    candidates = ENUMERATED_YEARS * 365.25 * SERIALS
    salt = os.urandom(16)
    start = time.perf_counter()
    for n in range(200_000):
        hashlib.sha256(salt + b"%011d" % n).digest()
    sha_per_s = 200_000 / (time.perf_counter() - start)
    return {
        "candidates": round(candidates),
        "scrypt_core_hours": round(candidates * scrypt_ms / 1000 / 3600, 1),
        "sha256_core_seconds": round(candidates / sha_per_s, 1),
        "one_birth_date_scrypt_s": round(SERIALS * scrypt_ms / 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hashes", type=int, default=HASHES, help="people hashed for checkin_hash")
    args = parser.parse_args(argv)
    hashing = checkin_hash(args.hashes)
    with tempfile.TemporaryDirectory(prefix="sitegate-bench-") as tmp:
        builds = [build(Path(tmp), size) for size in ROSTERS]
    print(
        json.dumps(
            {
                "bench": "allowlist_hash",
                "scheme": {"kdf": SCRYPT.kdf, "n": SCRYPT.n, "r": SCRYPT.r, "p": SCRYPT.p},
                "cpus": os.cpu_count(),
                "pi4_factor_assumed": PI_FACTOR,
                "checkin_hash": hashing,
                "build": builds,
                "attack": attack(hashing["median_ms"]),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
