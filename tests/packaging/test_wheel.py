"""The wheel, installed into a fresh virtual environment outside the source tree, works.

What a site installs with ``make dist`` and ``pip install 'sitegate-*.whl[controller]'``: the
console scripts start, the version is the project's, and the package data (NSSO schemas,
console templates and translations) is found where the code looks for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from presence.version import installed_version

pytestmark = pytest.mark.integration

SOURCE = Path(__file__).resolve().parents[2]
PIP_TIMEOUT_S = 900


def _run(args: list[str], cwd: Path, timeout: float = 120) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(SOURCE)], SOURCE,
         timeout=PIP_TIMEOUT_S)  # fmt: skip
    (found,) = out.glob("sitegate-*.whl")
    return found


def _venv_with(wheel: Path, extra: str, where: Path) -> Path:
    _run([sys.executable, "-m", "venv", str(where)], where.parent)
    _run([str(where / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[{extra}]"],
         where.parent, timeout=PIP_TIMEOUT_S)  # fmt: skip
    return where / "bin"


@pytest.fixture(scope="module")
def controller_bin(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield _venv_with(wheel, "controller,provisioning", tmp_path_factory.mktemp("c") / "venv")


@pytest.fixture(scope="module")
def terminal_bin(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield _venv_with(wheel, "terminal", tmp_path_factory.mktemp("t") / "venv")


def test_the_terminal_reports_the_project_version(terminal_bin: Path, tmp_path: Path) -> None:
    out = _run([str(terminal_bin / "sitegate-terminal"), "--version"], tmp_path)
    assert out.strip() == f"sitegate-terminal (sitegate) {installed_version()}"


def test_the_controller_commands_answer_help(controller_bin: Path, tmp_path: Path) -> None:
    assert "site controller" in _run([str(controller_bin / "sitegate-controller"), "--help"],
                                      tmp_path)  # fmt: skip
    assert "init-site" in _run([str(controller_bin / "sitegate-provision"), "--help"], tmp_path)


def test_the_nsso_schemas_come_with_the_wheel(controller_bin: Path, tmp_path: Path) -> None:
    script = (
        "import registry, registry.xsd as x; "
        "assert 'site-packages' in registry.__file__, registry.__file__; "
        "print(len(x.statuses()), x.xsd_dir())"
    )
    out = _run([str(controller_bin / "python"), "-c", script], tmp_path)
    count, where = out.split()
    assert int(count) >= 3
    assert "site-packages" in where and SOURCE.as_posix() not in where


def test_the_controller_finds_the_enrolment_service_in_the_wheel(
    controller_bin: Path, tmp_path: Path
) -> None:
    script = (
        "from importlib.metadata import entry_points; "
        "from controller.service import SERVICES_GROUP; "
        "[start] = [e.load() for e in entry_points(group=SERVICES_GROUP) "
        "if e.name == 'enrolment']; "
        "import controller.web, pathlib; "
        "t = pathlib.Path(controller.web.__file__).parent / 'templates' / 'terminal_enrol.html'; "
        "print(start.__module__, t.is_file())"
    )
    out = _run([str(controller_bin / "python"), "-c", script], tmp_path)
    assert out.split() == ["provisioning.enrol_service", "True"]


def test_the_terminal_of_the_wheel_can_enrol(terminal_bin: Path, tmp_path: Path) -> None:
    out = _run([str(terminal_bin / "sitegate-terminal"), "enrol", "--help"], tmp_path)
    assert "--camera" in out
    script = "import terminal.enrol; print(terminal.enrol.make_csr.__name__)"
    assert _run([str(terminal_bin / "python"), "-c", script], tmp_path).strip() == "make_csr"


@pytest.mark.parametrize(
    "installed",
    [
        "share/doc/sitegate/README.md",
        "share/doc/sitegate/docs/controller.md",
        "share/doc/sitegate/docs/gate.md",
        "share/sitegate/systemd/sitegate-controller.service",
        "share/sitegate/systemd/sitegate-terminal.service",
        "share/sitegate/systemd/sitegate-controller-enrolment.conf",
        "share/sitegate/systemd/sitegate.sysusers.conf",
        "share/sitegate/systemd/mosquitto/sitegate.conf",
    ],
)
def test_the_unit_files_and_their_documentation_come_with_the_wheel(
    controller_bin: Path, installed: str
) -> None:
    assert (controller_bin.parent / installed).is_file()
