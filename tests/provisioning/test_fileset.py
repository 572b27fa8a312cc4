"""All-or-nothing writes: temporaries are cleaned up, modes are exact."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioning.errors import ProvisioningError
from provisioning.fileset import PRIVATE_DIR, SECRET, FileSet


def test_new_directories_files_and_modes_appear_together(tmp_path: Path) -> None:
    files = FileSet()
    files.write(tmp_path / "a" / "b" / "key", b"k", SECRET)
    files.write(tmp_path / "a" / "cert", "c")
    files.directory(tmp_path / "a" / "b", PRIVATE_DIR)

    files.commit()

    assert (tmp_path / "a" / "b" / "key").read_bytes() == b"k"
    assert stat.S_IMODE((tmp_path / "a" / "b" / "key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_existing_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("old")
    files = FileSet()
    files.write(tmp_path / "f", "new")

    files.commit()

    assert (tmp_path / "f").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_a_failure_removes_temporaries_already_written(
    tmp_path: Path, make_unwritable: Callable[[Path], None]
) -> None:
    (tmp_path / "first").mkdir()
    (tmp_path / "first" / "f").write_text("old")
    (tmp_path / "second").mkdir()
    make_unwritable(tmp_path / "second")
    files = FileSet()
    files.write(tmp_path / "first" / "f", "new")  # written first, as a temporary
    files.write(tmp_path / "second" / "g", "x")

    with pytest.raises(ProvisioningError) as caught:
        files.commit()

    assert caught.value.code == "unwritable"
    assert str(tmp_path / "second") in str(caught.value)
    assert os.listdir(tmp_path / "first") == ["f"]
    assert (tmp_path / "first" / "f").read_text() == "old"


def test_a_parent_that_is_a_file_is_refused_cleanly(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    files = FileSet()
    files.write(tmp_path / "plain" / "sub" / "f", "y")

    with pytest.raises(ProvisioningError):
        files.commit()

    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]
