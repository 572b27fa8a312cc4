"""README.md's "Try it on a laptop", run as written: README cannot drift from the program.

The section's ``sh`` blocks are run, in order, as one bash script (``set -e``) from the
repository's root with ``HOME`` in a temporary directory; its ``text`` block is the session
at the simulated turnstile: the lines typed after the prompt are fed to the terminal's
stdin, and every other line of it must appear in the terminal's answer, in order. The only
change to the commands: the documented ports (broker 8883, NSSO stand-in 8081, console 8443)
become free loopback ports, so that the test runs beside anything else.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
SECTION = "Try it on a laptop"
PORTS = ("8883", "8081", "8443")
PROMPT = "gate-1> "
RUN_TIMEOUT_S = 180

# The trial is a normal user's. The tests run as root, where mosquitto would switch to the
# user "mosquitto", which cannot read the trial's broker key (0600, the user's own): as root,
# the broker stays root, as it stays the user on a laptop. Nothing else is changed.
MOSQUITTO_AS_ROOT = """#!/bin/bash
[ "$1" = -c ] || exec /usr/sbin/mosquitto "$@"
conf="$(dirname "$0")/mosquitto-as-root.conf"
{ echo "user root"; cat "$2"; } > "$conf"
exec /usr/sbin/mosquitto -c "$conf" "${@:3}"
"""


def section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.M | re.S)


def session(transcript: str) -> tuple[list[str], list[str]]:
    """The lines typed at the prompt, and the lines the terminal answers."""
    typed = [line[len(PROMPT) :] for line in transcript.splitlines() if line.startswith(PROMPT)]
    answers = [line for line in transcript.splitlines() if line and not line.startswith(PROMPT)]
    return typed, answers


def in_order(expected: list[str], output: str) -> list[str]:
    """The expected lines missing from ``output`` (each after the one before it)."""
    lines = [line.rstrip() for line in output.splitlines()]
    missing, at = [], 0
    for want in expected:
        for n in range(at, len(lines)):
            if lines[n].endswith(want.rstrip()):
                at = n + 1
                break
        else:
            missing.append(want)
    return missing


def stop_group(process: subprocess.Popen[str], grace_s: float = 15.0) -> None:
    """Stop what the script left running (README's last line stops it already) and wait
    until the process group is gone: SIGTERM, then SIGKILL after ``grace_s``."""
    if process.poll() is None:
        process.kill()
    process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    started = time.monotonic()
    while time.monotonic() - started < 2 * grace_s:
        late = time.monotonic() - started > grace_s
        try:
            os.killpg(process.pid, signal.SIGKILL if late else 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


@pytest.fixture
def home() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sitegate-readme-") as directory:
        path = Path(directory)
        path.chmod(0o755)
        yield path


def test_the_readme_section_has_commands_and_a_session() -> None:
    text = section((ROOT / "README.md").read_text(), SECTION)
    typed, answers = session("\n".join(blocks(text, "text")))
    assert len(blocks(text, "sh")) >= 3
    assert typed and answers
    assert any("sitegate-demo terminal gate-1" in block for block in blocks(text, "sh"))


def test_try_it_on_a_laptop_runs_as_written(home: Path) -> None:
    text = section((ROOT / "README.md").read_text(), SECTION)
    script = "set -e\n" + "\n".join(blocks(text, "sh"))
    for documented in PORTS:
        script = re.sub(rf"\b{documented}\b", str(free_port()), script)
    typed, answers = session("\n".join(blocks(text, "text")))
    env = {key: value for key, value in os.environ.items() if not key.startswith("SITEGATE_")}
    env["HOME"] = str(home)
    if os.geteuid() == 0:
        wrappers = home / "bin"
        wrappers.mkdir()
        (wrappers / "mosquitto").write_text(MOSQUITTO_AS_ROOT)
        (wrappers / "mosquitto").chmod(0o755)
        env["PATH"] = f"{wrappers}:{env.get('PATH', '/usr/bin:/bin')}"
    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its background jobs in one group, stopped below
    )
    try:
        output, _ = process.communicate("\n".join(typed) + "\n", timeout=RUN_TIMEOUT_S)
    finally:
        stop_group(process)
    trial = home / "sitegate-trial"
    logs = "".join(
        f"\n--- {log.name}\n{log.read_text(errors='replace')[-2000:]}"
        for log in sorted(trial.glob("*.log"))
    )
    assert process.returncode == 0, output + logs
    assert not in_order(answers, output), (in_order(answers, output), output)
    onsite = output[output.rindex("every check-in is acknowledged") :]
    assert "85.07.30-***.**" in onsite and "Jan Peeters" in onsite, output + logs
    assert "Piotr Nowak" in onsite, output
    # `presences` then `onsite`: each names both people
    assert onsite.count("Jan Peeters") == 2 and onsite.count("Piotr Nowak") == 2, output
