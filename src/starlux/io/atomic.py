"""Atomic writes: a hidden temporary file next to the target, renamed over it when done.

A reader therefore sees the old file or the new one, never half a file, even when the
writer is killed. A killed writer leaves its temporary behind; the next writer of the
same target removes it (:func:`remove_stale_temporaries`, called while holding the
target's lock from :mod:`starlux.io.locks`).
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "temporary_name", "remove_stale_temporaries"]


def temporary_name(path: Path) -> tuple[str, str]:
    """``(prefix, suffix)`` of the temporaries of ``path``: ``.NAME.XXXX.tmp.SUFFIX``."""
    return f".{path.name}.", ".tmp" + path.suffix


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = temporary_name(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except OSError as exc:  # name the target, not the hidden temporary
            if exc.filename not in (None, str(tmp_path)):
                raise  # about another file
            reason = (exc.strerror or str(exc)).replace(str(tmp_path), str(path))
            raise OSError(exc.errno, f"cannot write ({reason})", str(path)) from exc
        # mkstemp creates 0600 files; give the result the usual umask-based permissions
        umask = os.umask(0)
        os.umask(umask)
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporaries of ``path`` left by killed writers; return what was removed.

    Only safe while holding ``path``'s lock: a live writer's temporary looks the same.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    prefix, _ = temporary_name(path)
    removed = []
    for p in path.parent.glob(f"{glob.escape(prefix)}*.tmp*"):
        if p.is_file():
            try:
                p.unlink()
                removed.append(p)
            except FileNotFoundError:
                pass
    return removed

