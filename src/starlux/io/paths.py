"""Output paths checked before any work: not one of the inputs, and writable.

Used by the command layer (``--out``) and by library entry points that write a file
(:func:`starlux.stream.predict_file`), so a mistake costs seconds, not a run, and never
overwrites the data it reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..data import DataError

__all__ = ["check_output", "check_distinct_files", "same_file"]


def same_file(a: Path, b: Path) -> bool:
    """True if ``a`` and ``b`` are the same file (or would be, once created)."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_output(out: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (),
                 *, flag: str = "--out", folder: bool = False) -> Path:
    """Refuse an output that is one of the inputs, or that cannot be written.

    ``folder``: the output is a folder (``cv --out DIR``) rather than a file. A missing
    parent folder is fine (it is created) if its nearest existing ancestor is a
    writable folder.
    """
    out = Path(out)
    for src in inputs:
        if src is not None and same_file(out, Path(src)):
            raise DataError(f"{out}: {flag} is the input file {src}; writing it would "
                            "destroy the input (choose another output path)")
    if out.exists():
        if folder and not out.is_dir():
            raise DataError(f"{out}: {flag} must be a folder, but a file of that name exists")
        if not folder and out.is_dir():
            raise DataError(f"{out}: {flag} is a folder; give a file name")
    parent = out if folder else out.parent
    parent = parent.absolute()
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise DataError(f"{out}: cannot write there ({parent} is not a folder)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"{out}: cannot write there (folder {parent} is not writable)")
    return out


def check_distinct_files(paths: Iterable[str | os.PathLike], flag: str) -> None:
    """Refuse the same input file given twice (its data would count twice)."""
    seen: list[Path] = []
    for p in map(Path, paths):
        for q in seen:
            if same_file(p, q):
                raise DataError(f"{p}: given twice to {flag}" + ("" if str(p) == str(q)
                                                                  else f" (as {q})"))
        seen.append(p)
