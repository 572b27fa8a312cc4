"""A real PC/SC stack for tests, benchmarks and demos: pcscd with the vpcd virtual reader.

``Pcscd.ensure()`` uses a pcscd that is already running (it must serve vpcd's reader) or
starts ``pcscd -f -c <dir>`` with only our vpcd reader definition, then waits for the reader
``Virtual PCD 00 00``. ``close()`` stops only a pcscd it started. pcscd allows one instance
per machine (``/run/pcscd/pcscd.comm``), so the fixture is session-scoped.

``CardSlot`` puts an emulated card (``sim.belpic``) into that reader through vpcd's socket
and takes it out, waiting until pcscd has seen it (pcscd polls about every 400 ms).

The pytest fixtures over these live in ``tests/support/pcscd.py``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sim.belpic import VPCD_PORT, EmulatedCard, VpcdCard

VIRTUAL_READER = "Virtual PCD 00 00"
SYSTEM_VPCD_CONF = Path("/etc/reader.conf.d/vpcd")
VPCD_LIBRARY = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
LOCK_PATH = Path(tempfile.gettempdir()) / "sitegate-pcscd.lock"
LOCK_TIMEOUT_S = 300.0
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
STATE_PRESENT = 0x0020


def vpcd_conf() -> str:
    """Our reader definition: the packaged one, else the same written out."""
    if SYSTEM_VPCD_CONF.exists():
        return SYSTEM_VPCD_CONF.read_text()
    return (
        'FRIENDLYNAME "Virtual PCD"\n'
        f"DEVICENAME   /dev/null:0x{VPCD_PORT:04X}\n"
        f"LIBPATH      {VPCD_LIBRARY}\n"
        f"CHANNELID    0x{VPCD_PORT:04X}\n"
    )


def running_pcscd() -> list[int]:
    """Pids of live pcscd processes (zombies excluded)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state = stat[stat.rindex(")") + 2 :].split()[0]
        if name == "pcscd" and state != "Z":
            pids.append(int(entry.name))
    return pids


def _scard() -> Any:
    from smartcard import scard

    return scard


def list_readers() -> list[str]:
    """The readers pcscd offers now ([] when pcscd is not answering)."""
    scard = _scard()
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return []
    try:
        hresult, readers = scard.SCardListReaders(context, [])
        return list(readers) if hresult == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(context)


def card_present(reader: str = VIRTUAL_READER) -> bool:
    """Whether pcscd currently sees a card in ``reader``."""
    scard = _scard()
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return False
    try:
        hresult, states = scard.SCardGetStatusChange(
            context, 0, [(reader, scard.SCARD_STATE_UNAWARE)]
        )
        return hresult == scard.SCARD_S_SUCCESS and bool(states[0][1] & STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(context)


def wait_until(check: Any, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return bool(check())


@contextmanager
def machine_lock(timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive use of the machine's one pcscd and vpcd slot, across processes.

    Several test sessions (or a benchmark) may run at once on one machine; each test that
    touches the card slot, and each pcscd stop, holds this lock (``flock``) meanwhile.
    """
    with LOCK_PATH.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{LOCK_PATH} held for over {timeout} s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Pcscd:
    """The machine's pcscd, as tests need it: ``ensure()``, ``stop()``, ``start()``,
    ``restart()``, ``close()``.

    ``owned`` says whether this object started the running pcscd. ``stop()`` on a pcscd we
    do not own sends it SIGTERM (a test of an outage); the next ``start()`` then starts our
    own, which ``close()`` leaves running so the machine keeps a pcscd, as it had before.
    """

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("pcscd") or "/usr/sbin/pcscd"
        self.workdir = Path(tempfile.mkdtemp(prefix="sitegate-pcscd-"))
        self.conf_dir = self.workdir / "reader.conf.d"
        self.conf_dir.mkdir()
        (self.conf_dir / "vpcd").write_text(vpcd_conf())
        self.log_path = self.workdir / "pcscd.log"
        self.owned = False
        self.replaced_foreign = False
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return bool(running_pcscd())

    def ensure(self, timeout: float = START_TIMEOUT_S) -> Pcscd:
        """Use the running pcscd or start ours; wait for the virtual reader."""
        if not self.running:
            return self.start(timeout)
        if not self.wait_for_reader(timeout):
            raise RuntimeError(
                f"a pcscd is already running (pids {running_pcscd()}) but offers no "
                f"{VIRTUAL_READER!r}: install vsmartcard-vpcd and restart it"
            )
        return self

    def start(self, timeout: float = START_TIMEOUT_S) -> Pcscd:
        """Start ``pcscd -f -c <our reader.conf.d>`` and wait for the virtual reader.

        (Plain ``pcscd -f`` when it replaces a foreign pcscd that ``stop()`` ended.)"""
        if not Path(self.binary).exists():
            raise FileNotFoundError(f"{self.binary} not found: install the pcscd package")
        if not VPCD_LIBRARY.exists():
            raise FileNotFoundError(f"{VPCD_LIBRARY} not found: install vsmartcard-vpcd")
        if self.running:
            raise RuntimeError(f"pcscd already running (pids {running_pcscd()})")
        # In place of a foreign pcscd we stopped, start one with the system's reader list.
        config = [] if self.replaced_foreign else ["-c", str(self.conf_dir)]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "-f", *config],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.owned = True
        if not self.wait_for_reader(timeout):
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(f"pcscd offered no {VIRTUAL_READER!r} in {timeout} s: {tail}")
        return self

    def stop(self) -> None:
        """Stop pcscd (ours, or a foreign one: see the class docstring)."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None
            self.owned = False
            return
        for pid in running_pcscd():
            os.kill(pid, signal.SIGTERM)
            self.replaced_foreign = True
        if not wait_until(lambda: not self.running, STOP_TIMEOUT_S):
            raise RuntimeError("pcscd did not stop")

    def restart(self, timeout: float = START_TIMEOUT_S) -> Pcscd:
        self.stop()
        return self.start(timeout)

    def close(self) -> None:
        """Stop the pcscd we started, unless it stands in for one we stopped."""
        if self.owned and not self.replaced_foreign:
            self.stop()
        if not self.owned:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def wait_for_reader(self, timeout: float = START_TIMEOUT_S) -> bool:
        return wait_until(lambda: VIRTUAL_READER in list_readers(), timeout, step=0.05)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Pcscd:
        return self.ensure()

    def __exit__(self, *exc: object) -> None:
        self.close()


class CardSlot:
    """The virtual reader's slot: ``insert(card)`` and ``remove()``, each waiting (by
    default) until pcscd has seen the change. Removal is idempotent."""

    def __init__(self, port: int = VPCD_PORT, reader: str = VIRTUAL_READER) -> None:
        self.port = port
        self.reader = reader
        self.link: VpcdCard | None = None

    def insert(self, card: EmulatedCard, *, wait: bool = False, timeout: float = 3.0) -> VpcdCard:
        """Connect ``card`` to vpcd; with ``wait``, return once pcscd reports it present."""
        self.remove()
        self.link = VpcdCard(card, port=self.port).insert()
        if wait and not wait_until(lambda: card_present(self.reader), timeout):
            raise TimeoutError("pcscd did not see the card arrive")
        return self.link

    def remove(self, *, wait: bool = True, timeout: float = 3.0) -> None:
        """Disconnect the card; with ``wait``, return once pcscd reports the slot empty."""
        if self.link is None:
            return
        self.link.remove()
        self.link = None
        if wait and not wait_until(lambda: not card_present(self.reader), timeout):
            raise TimeoutError("pcscd did not see the card leave")
