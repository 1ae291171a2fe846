"""Checks a command makes before it starts work, so that a mistake costs seconds, not
a training run: the data's size and labels (the output path and repeated inputs are
checked by :mod:`starlux.io.paths`).

Each raises :class:`~starlux.data.DataError` (or warns) with a message that names the
file and the command-line flag involved.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from ..data import DataError, Dataset

__all__ = ["require_objects", "labelled_objects", "check_folds", "check_latents",
           "warn_constant_labels"]


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


def check_latents(ds: Dataset, latents: int | str, path: str | os.PathLike,
                  flag: str = "--latents") -> int:
    """The latent size P that ``latents`` means for this data (``4x``: 4 M); an error
    naming the flag if P < M + 1."""
    from ..model import resolve_latents

    n_labels = sum(o.dim for o in ds.outputs.values() if o.kind == "label")
    try:
        return resolve_latents(latents, n_labels)
    except ValueError as exc:
        raise DataError(f"{path}: {flag} {latents}: {exc}") from None


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
