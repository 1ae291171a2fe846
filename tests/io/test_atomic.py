"""Atomic writes: readers see the old file or the new one, never half a file."""

from __future__ import annotations

import os

import numpy as np
import pytest

from starlux.io.atomic import atomic_path, remove_stale_temporaries, temporary_name


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "data.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="half way"), atomic_path(target) as tmp:
        tmp.write_text("new, but only half")
        raise RuntimeError("crash half way")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.csv"]


def test_a_finished_write_replaces_the_file_with_the_usual_permissions(tmp_path):
    target = tmp_path / "sub" / "data.csv"  # a missing folder is created
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new")
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert temporary_name(target) == (".data.csv.", ".tmp.csv")


def test_atomic_writes_name_their_temporaries_so_they_can_be_found(tmp_path):
    target = tmp_path / "a.h5"
    with atomic_path(target) as tmp:
        assert tmp.name.startswith(".a.h5.") and ".tmp" in tmp.name
        tmp.write_bytes(b"x")
        leftover = tmp.with_name(tmp.name.replace(".tmp", "x.tmp"))
        leftover.write_bytes(b"torn")
    assert target.read_bytes() == b"x"
    assert remove_stale_temporaries(target) == [leftover]
    assert np.array_equal(sorted(p.name for p in tmp_path.iterdir()), ["a.h5"])


def test_a_failed_write_names_the_target_not_the_temporary(tmp_path):
    target = tmp_path / "model.h5"
    with pytest.raises(OSError) as exc, atomic_path(target) as tmp:
        raise OSError(28, "No space left on device", str(tmp))
    assert exc.value.filename == str(target) and "No space left" in exc.value.strerror
    assert list(tmp_path.iterdir()) == []
