"""Checks a command makes before it starts work, so that a mistake costs seconds, not
a training run: the output path, repeated inputs, the data's size and labels.

Each raises :class:`~starlux.data.DataError` (or warns) with a message that names the
file and the command-line flag involved.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..data import DataError, Dataset

__all__ = ["check_output", "check_distinct_files", "require_objects", "labelled_objects",
           "check_folds", "warn_constant_labels"]

def _same_file(a: Path, b: Path) -> bool:
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
        if src is not None and _same_file(out, Path(src)):
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
            if _same_file(p, q):
                raise DataError(f"{p}: given twice to {flag}" + ("" if str(p) == str(q)
                                                                  else f" (as {q})"))
        seen.append(p)


def require_objects(ds: Dataset, path: str | os.PathLike) -> Dataset:
    """Refuse an empty dataset (the same error for every file format)."""
    if ds.n == 0:
        raise DataError(f"{path}: holds no objects")
    return ds


def labelled_objects(ds: Dataset) -> int:
    """Objects with at least one usable label, in any label-kind output."""
    has = np.zeros(ds.n, dtype=bool)
    for o in ds.outputs.values():
        if o.kind == "label":
            has |= ~o.missing.all(axis=1)
    return int(has.sum())


def check_folds(ds: Dataset, folds: int, path: str | os.PathLike, *,
                per_fold: int = 1, flag: str = "--folds") -> None:
    """At least ``per_fold`` labelled objects in each of ``folds`` folds (a fold with
    no labelled object calibrates nothing; argparse has checked ``folds >= 2``)."""
    n = labelled_objects(ds)
    if n and folds * per_fold > n:
        most = max(2, n // per_fold)
        need = "more than" if per_fold == 1 else f"too many for (each fold needs {per_fold})"
        raise DataError(f"{path}: {flag} {folds} is {need} the {n} objects with labels; "
                        f"use {flag} {most} or fewer")


def warn_constant_labels(ds: Dataset, path: str | os.PathLike) -> list[str]:
    """Warn about label columns whose usable values are all equal (they teach the model
    nothing and make its scale degenerate); return their names."""
    constant = []
    for name, o in ds.outputs.items():
        if o.kind != "label":
            continue
        for j, col in enumerate(o.names):
            ok = ~o.missing[:, j]
            vals = o.values[ok, j]
            if vals.size >= 2 and np.ptp(vals) == 0:
                constant.append(col)
                warnings.warn(f"{path}: label {col!r} (output {name!r}) has the same value "
                              f"{vals[0]:g} for all {vals.size} objects that have it",
                              UserWarning, stacklevel=2)
    return constant
