"""The unit files in systemd/: `systemd-analyze verify` accepts them, and they agree with
what provisioning writes (state directories, config paths, the mosquitto drop-in)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from provisioning import bundle, controller_config
from provisioning.broker import INSTALLED_DIR, BrokerFiles, mosquitto_conf
from tests.support.ci import skip_or_fail

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNITS = ("sitegate-terminal.service", "sitegate-controller.service")
SYSTEM_UNITS = (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))


def settings(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (SYSTEMD / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def verify(
    root: Path, unit_files: dict[str, str], drop_ins: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` in a root of our own: the system's units, our units, and
    a stand-in for each ExecStart program (not installed on this machine)."""
    analyze = shutil.which("systemd-analyze")
    system = next((d for d in SYSTEM_UNITS if (d / "sysinit.target").exists()), None)
    if analyze is None or system is None:
        skip_or_fail("systemd-analyze or systemd's own units are not installed")
        raise AssertionError("unreachable")
    shutil.copytree(system, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for path, text in (drop_ins or {}).items():
        (root / "etc/systemd/system" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "etc/systemd/system" / path).write_text(text)
    for name, text in unit_files.items():
        (root / "etc/systemd/system" / name).write_text(text)
        for line in text.splitlines():
            if line.startswith("ExecStart="):
                program = root / shlex.split(line.split("=", 1)[1])[0].lstrip("/")
                program.parent.mkdir(parents=True, exist_ok=True)
                program.write_text("#!/bin/sh\n")
                program.chmod(0o755)
    return subprocess.run(
        [analyze, "verify", f"--root={root}", *unit_files],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    done = verify(tmp_path, {name: (SYSTEMD / name).read_text() for name in UNITS})

    assert (done.returncode, done.stderr, done.stdout) == (0, "", "")


def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    broken = (SYSTEMD / UNITS[0]).read_text().replace("Restart=on-failure", "Restart=sometimes")

    done = verify(tmp_path, {UNITS[0]: broken})

    assert "sometimes" in done.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_units_are_watched_restarted_and_limited(unit: str) -> None:
    found = settings(unit)

    assert found["Type"] == ["notify"]
    assert found["Restart"] == ["on-failure"]
    assert int(found["WatchdogSec"][0]) > 0
    assert int(found["StartLimitBurst"][0]) > 0 and int(found["StartLimitIntervalSec"][0]) > 0
    assert found["User"] == ["sitegate"]
    assert found["NoNewPrivileges"] == ["yes"]
    assert found["ProtectSystem"] == ["strict"]
    assert found["CapabilityBoundingSet"] == [""]


def test_terminal_unit_reaches_gpio_camera_keypad_and_pcscd() -> None:
    found = settings("sitegate-terminal.service")

    assert found["SupplementaryGroups"] == ["gpio video input"]
    assert "PrivateDevices" not in found and "DevicePolicy" not in found
    assert "AF_UNIX" in found["RestrictAddressFamilies"][0].split()
    assert "pcscd.socket" in found["After"][0].split()
    assert "/run" not in " ".join(found.get("InaccessiblePaths", []))


def test_state_directories_match_what_the_configs_point_at() -> None:
    terminal = settings("sitegate-terminal.service")
    controller = settings("sitegate-controller.service")

    assert f"/var/lib/{terminal['StateDirectory'][0]}" == bundle.STATE_DIR
    database = controller_config.DATABASE_URL.removeprefix("sqlite:///")
    assert Path(database).parent == Path("/var/lib") / controller["StateDirectory"][0]


def test_units_run_the_installed_configs() -> None:
    terminal = settings("sitegate-terminal.service")["ExecStart"][0]
    controller = settings("sitegate-controller.service")["ExecStart"][0]

    assert "--config /etc/sitegate-terminal/terminal.toml" in terminal
    assert "--config /etc/sitegate/controller/controller.toml" in controller


def test_mosquitto_drop_in_is_the_generated_config_for_the_installed_layout() -> None:
    expected = mosquitto_conf(BrokerFiles.in_dir(INSTALLED_DIR))

    assert (SYSTEMD / "mosquitto" / "sitegate.conf").read_text() == expected


VENV = "/opt/sitegate/venv"
REPO = SYSTEMD.parent
DROP_IN = "sitegate-controller-enrolment.conf"


def test_the_enrolment_drop_in_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = "sitegate-controller.service"
    drop_in = {f"{unit}.d/enrolment.conf": (SYSTEMD / DROP_IN).read_text()}

    done = verify(tmp_path, {unit: (SYSTEMD / unit).read_text()}, drop_in)

    assert (done.returncode, done.stderr, done.stdout) == (0, "", "")


def _data_files() -> dict[str, list[str]]:
    with (REPO / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["tool"]["setuptools"]["data-files"]


@pytest.mark.parametrize("unit", UNITS)
def test_every_documentation_link_names_a_file_the_install_puts_there(unit: str) -> None:
    shipped = {
        f"{VENV}/{target}/{path.name}"
        for target, patterns in _data_files().items()
        for pattern in patterns
        for path in REPO.glob(pattern)
    }
    links = settings(unit)["Documentation"]

    assert links
    for link in links:
        assert link.removeprefix("file://") in shipped, link


@pytest.mark.parametrize("unit", UNITS)
def test_units_run_the_programs_of_the_venv_readme_makes(unit: str) -> None:
    program = shlex.split(settings(unit)["ExecStart"][0])[0]
    readme = (REPO / "README.md").read_text()

    assert program.startswith(f"{VENV}/bin/sitegate-")
    assert f"python3 -m venv {VENV}" in readme
    assert f"{VENV}/share/sitegate/systemd/{unit}" in readme


def test_an_unenrolled_terminal_may_write_its_credentials_beside_terminal_toml() -> None:
    found = settings("sitegate-terminal.service")

    assert "-/etc/sitegate-terminal" in found["ReadWritePaths"]
