"""Enrolment time: from the enrolment QR code shown to the terminal's camera to the terminal
connected to the broker with the certificate it got.

A site made by init-site in a temporary directory (controller at 127.0.0.1), its broker run
from the site's drop-in, the enrolment service in-process on loopback, and for each of
``--count`` terminals: ``terminal.enrol.Enroller`` with a synthetic camera (the code is shown
at t0), then the terminal program (``terminal.app.App``) from the files it wrote, until its
MQTT link is up. Prints one JSON line: p50/p90/max of ``shown_to_connected`` and of its
parts (``shown_to_read``: camera and decoder; ``read_to_enrolled``: key, CSR, pinned CA,
certificate, files; ``enrolled_to_connected``: the program's start and its TLS connection).

    .venv/bin/python bench/enrolment.py [--count 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

from controller import config as controller_config
from controller import enrolment as tokens
from controller.store import open_store
from presence.clock import SystemClock
from provisioning import site_setup, tomlgen
from provisioning.enrol_service import EnrolmentServer
from provisioning.layout import SiteLayout
from provisioning.record import load_record
from sim.mosquitto import MosquittoBroker, hand_site_files_to_mosquitto
from sim.processes import free_port
from terminal.app import App
from terminal.drivers.camera import SyntheticSource
from terminal.drivers.gate import GateConfig
from terminal.enrol import Enroller, Hardware

TARGET_S = 3.0
WAIT_S = 30.0
SETTINGS = ("reader.backend=none", "camera.backend=none", "gate.pin_factory=mock",
            "gate.tamper_pin=0")  # fmt: skip


def make_site(root: Path) -> SiteLayout:
    layout = SiteLayout.at(root / "site")
    request = site_setup.SiteRequest(
        directory=str(layout.root), workplace="1Y102M7NZF7PZ", company="0403170701",
        sector="construction", works_start="2017-05-02", contract_amount="650000",
        broker_hosts=("127.0.0.1",), broker_port=free_port(),
    )  # fmt: skip
    site_setup.init_site(request, SystemClock())
    hand_site_files_to_mosquitto(layout)
    return layout


def controller_toml(layout: SiteLayout, root: Path, pid_file: Path) -> Path:
    path = layout.controller_dir / "controller.toml"
    document = tomllib.loads(path.read_text())
    port = free_port()
    document["database"]["url"] = f"sqlite:///{root / 'controller.db'}"
    document.pop("web")
    document["enrolment"].update(
        host="127.0.0.1", port=port, url=f"https://127.0.0.1:{port}/v1/enrol",
        broker_pid_file=str(pid_file), tries_per_minute=1000,
    )  # fmt: skip
    path.write_text(tomlgen.dumps(document))
    return path


def wait(condition: Any, timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.002)
    return False


def one_enrolment(code: str, directory: Path) -> dict[str, float]:
    camera = SyntheticSource(640, 480, 15.0)
    read_at: list[float] = []
    enroller = Enroller(
        directory / "terminal.toml", Hardware(gate=GateConfig(pin_factory="mock", tamper_pin=0)),
        source=camera, on_code=lambda _code: read_at.append(time.monotonic()),
    )  # fmt: skip
    try:
        result: list[Any] = []
        thread = threading.Thread(target=lambda: result.append(enroller.run(WAIT_S)))
        thread.start()
        shown = time.monotonic()
        camera.show(code)
        thread.join(WAIT_S)
        enrolled = time.monotonic()
    finally:
        enroller.stop()
        enroller.close()
    if not result:
        raise RuntimeError(f"not enrolled: {enroller.last_failure}")
    app = App(result[0], clock_probe=lambda: True)
    app.gate.show("enrolled")
    runner = threading.Thread(target=app.run, daemon=True)
    runner.start()
    try:
        if not wait(lambda: app.link.connected):
            raise RuntimeError("the enrolled terminal did not connect")
        connected = time.monotonic()
    finally:
        app.stop()
        runner.join(10)
    return {
        "shown_to_read": read_at[0] - shown,
        "read_to_enrolled": enrolled - read_at[0],
        "enrolled_to_connected": connected - enrolled,
        "shown_to_connected": connected - shown,
    }


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p90": round(ordered[max(0, int(len(ordered) * 0.9) - 1)], 3),
        "max": round(ordered[-1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20, help="enrolments (default 20)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sitegate-bench-enrol-"))
    root.chmod(0o755)  # mosquitto (its own user when started as root) reads the site
    layout = make_site(root)
    port = load_record(layout.site_file).broker_port
    broker = MosquittoBroker.provisioned((layout.broker_dir / "mosquitto.conf").read_text(), port)
    try:
        broker.start()
        config = controller_config.load(controller_toml(layout, root, broker.pid_file))
        store = open_store(config.database.url)
        server = EnrolmentServer(config, store).start()
        runs: list[dict[str, float]] = []
        try:
            for n in range(args.count):
                name = f"gate-{n + 1}"
                settings = (*SETTINGS, f"terminal.state_dir={root / name / 'state'}")
                _token, code = tokens.new_code(store, config, name, "in", settings)
                runs.append(one_enrolment(code, root / name))
        finally:
            server.stop()
            store.close()
    finally:
        broker.close()
        shutil.rmtree(root, ignore_errors=True)
    parts = ("shown_to_connected", "shown_to_read", "read_to_enrolled", "enrolled_to_connected")
    figures = {part: summary([run[part] for run in runs]) for part in parts}
    print(json.dumps({
        "bench": "enrolment",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "n": len(runs),
        "seconds": figures,
        "target_p50_s": TARGET_S,
        "met": figures["shown_to_connected"]["p50"] <= TARGET_S,
    }, separators=(",", ":")))  # fmt: skip


if __name__ == "__main__":
    main()
