"""All-or-nothing file writes.

A command stages every file it means to write, then commits: each file is first written under
a temporary name in its target directory (a directory that does not exist yet is built whole
under a temporary name beside it), and only when every one of them is on disk are they renamed
into place. Any failure before the renames removes the temporaries and leaves the tree as it
was. Files are created with their final mode, so a key is never readable by others, not even
for a moment. A file that replaces one keeps its owner (as root): the site manager hands some
to a service (``broker/dynamic-security.json`` to mosquitto, which saves it in place).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from provisioning.errors import ProvisioningError

log = logging.getLogger(__name__)

SECRET = 0o600
PUBLIC = 0o644
PRIVATE_DIR = 0o700
PUBLIC_DIR = 0o755


@dataclass
class FileSet:
    """Files to write, by absolute path; directories to create get ``dir_modes``."""

    files: dict[Path, tuple[bytes, int]] = field(default_factory=dict)
    dir_modes: dict[Path, int] = field(default_factory=dict)
    removals: list[Path] = field(default_factory=list)

    def write(self, path: Path, data: bytes | str, mode: int = PUBLIC) -> None:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        self.files[Path(os.path.abspath(path))] = (raw, mode)

    def directory(self, path: Path, mode: int) -> None:
        """The mode of ``path`` if this commit creates it (default 0755)."""
        self.dir_modes[Path(os.path.abspath(path))] = mode

    def remove(self, path: Path) -> None:
        """Remove ``path`` (if there) once the files are in place: what they replace."""
        self.removals.append(Path(os.path.abspath(path)))

    def commit(self) -> None:
        try:
            staged = self._stage()
        except OSError as exc:
            raise ProvisioningError(
                "unwritable", f"cannot write in {_where(exc)}: {_why(exc)}"
            ) from None
        for temp, final in staged:
            os.replace(temp, final)
            log.debug("wrote %s", final)
        for path in self.removals:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                log.debug("removed %s", path)
        for parent in {final.parent for _, final in staged} | {p.parent for p in self.removals}:
            _fsync_dir(parent)

    def _stage(self) -> list[tuple[Path, Path]]:
        """Write temporaries; returns (temporary, final) pairs, one per file or new top dir."""
        new_tops: dict[Path, list[Path]] = {}
        in_place: list[Path] = []
        for path in sorted(self.files):
            top = _highest_missing(path.parent)
            if top is None:
                in_place.append(path)
            else:
                new_tops.setdefault(top, []).append(path)
        pairs: list[tuple[Path, Path]] = []
        try:
            for path in in_place:
                data, mode = self.files[path]
                pairs.append((_write_temp(path.parent, path.name, data, mode), path))
            for top, paths in new_tops.items():
                pairs.append((self._build_dir(top, paths), top))
        except BaseException:
            _discard(pairs)
            raise
        return pairs

    def _build_dir(self, top: Path, paths: list[Path]) -> Path:
        parent = top.parent
        if not parent.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(top))
        temp = Path(tempfile.mkdtemp(prefix=f".{top.name}.", suffix=".tmp", dir=parent))
        try:
            for path in paths:
                target = temp / path.relative_to(top)
                target.parent.mkdir(parents=True, exist_ok=True)
                data, mode = self.files[path]
                _write_file(target, data, mode)
            for directory in [temp, *(p for p in temp.rglob("*") if p.is_dir())]:
                os.chmod(directory, self._mode_of(top / directory.relative_to(temp)))
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        return temp

    def _mode_of(self, directory: Path) -> int:
        return self.dir_modes.get(directory, PUBLIC_DIR)


def _highest_missing(directory: Path) -> Path | None:
    top = None
    while not directory.exists():
        top = directory
        directory = directory.parent
    return top


def _write_file(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET)
    with os.fdopen(fd, "wb") as handle:
        _fill(fd, handle, data, mode)


def _fill(fd: int, handle: BinaryIO, data: bytes, mode: int) -> None:
    os.fchmod(fd, mode)  # exactly ``mode``, whatever the umask
    handle.write(data)
    handle.flush()
    os.fsync(fd)


def _write_temp(directory: Path, name: str, data: bytes, mode: int) -> Path:
    fd, temp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates it 0600
            _keep_owner(handle.fileno(), directory / name)
            _fill(handle.fileno(), handle, data, mode)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return temp


def _keep_owner(fd: int, replaced: Path) -> None:
    """Give the new file the owner of the one it replaces; only root can, and only root
    needs to (anyone else owns what it writes and what it replaces)."""
    if os.geteuid() != 0:
        return
    try:
        old = os.stat(replaced)
    except FileNotFoundError:
        return
    os.fchown(fd, old.st_uid, old.st_gid)


def _discard(pairs: list[tuple[Path, Path]]) -> None:
    for temp, _ in pairs:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                temp.unlink()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _where(exc: OSError) -> str:
    return str(Path(exc.filename).parent) if exc.filename else "the site directory"


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
