"""One writer per output file: an exclusive lock file next to the target.

``starlux train`` / ``predict`` / ``build-dataset`` hold :func:`output_lock` on their
``--out`` while they work, so a second run writing the same file stops at once with
:class:`~starlux.io.errors.OutputBusyError` instead of racing the first one. The lock
is the hidden file ``.NAME.lock`` created with ``O_CREAT | O_EXCL`` (atomic on local
and NFSv3+ file systems) holding ``pid host``; it is removed when the writer finishes.
A lock left by a killed process (its pid no longer runs on this host) is taken over.
The lock is re-entrant within one process (the command layer and
:func:`starlux.stream.predict_file` may both take it).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .atomic import remove_stale_temporaries
from .errors import OutputBusyError

__all__ = ["output_lock", "lock_path"]

_HELD: dict[str, int] = {}
_FRESH_S = 10.0  # an empty lock file younger than this is being written: busy


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def _owner(lock: Path) -> tuple[int, str] | None:
    """``(pid, host)`` recorded in ``lock``, or None if unreadable or empty."""
    try:
        pid, host = lock.read_text().split(maxsplit=1)
        return int(pid), host.strip()
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _is_stale(lock: Path) -> bool:
    owner = _owner(lock)
    if owner is None:
        try:
            return time.time() - lock.stat().st_mtime > _FRESH_S
        except FileNotFoundError:
            return True
    pid, host = owner
    return host == socket.gethostname() and not _alive(pid)


def _acquire(path: Path, lock: Path) -> None:
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _is_stale(lock):
                try:
                    lock.unlink()
                except FileNotFoundError:
                    pass
                continue
            owner = _owner(lock)
            who = f"process {owner[0]} on {owner[1]}" if owner else "another process"
            raise OutputBusyError(
                f"{path}: {who} is writing this file; wait for it to finish (or remove "
                f"{lock} if that process is gone)") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()} {socket.gethostname()}\n")
        return
    raise OutputBusyError(f"{path}: could not take the lock {lock}")


@contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold the exclusive write lock of ``path`` (see the module docstring).

    On entry, temporaries left next to ``path`` by a killed writer are removed.
    Raises :class:`OutputBusyError` if another live process holds the lock.
    """
    path = Path(path)
    lock = lock_path(path)
    key = str(lock.resolve())
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield lock
        finally:
            _HELD[key] -= 1
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    _acquire(path, lock)
    _HELD[key] = 1
    try:
        remove_stale_temporaries(path)
        yield lock
    finally:
        del _HELD[key]
        if _owner(lock) == (os.getpid(), socket.gethostname()):
            lock.unlink(missing_ok=True)
