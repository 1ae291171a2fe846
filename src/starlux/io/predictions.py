"""Prediction files: ``.npz`` / ``.h5`` arrays, or ``.fits`` / ``.csv`` label tables.

Array layout (``.npz``, ``.h5``):

====================  ========  ===============================================
``label``             (N, M)    predicted labels (natural units)
``label_err``         (N, M)    total 1-sigma error (Fisher, map and model error)
``label_fisher_err``  (N, M)    Fisher (measurement) part alone
``label_map_err``     (N, M)    label-map (finite training set) part alone
``label_model_err``   (N, M)    learned model-error part (depends on the star)
``label_cov``         (N, M, M) full covariance
``label_names``       (M,)
``z``                 (N, P)    latents
``chi2_<input>``      (N,)      reduced chi^2 of each input (e.g. ``chi2_flux``)
``id``                (N,)      object ids when the data had them
====================  ========  ===============================================

Further predicted outputs use their own name in place of ``label`` (a predicted
spectrum ``flux`` gives ``flux`` and ``flux_err``).

The table formats (``.fits``, ``.ecsv``, ``.csv``) hold one row per object, built by
:func:`starlux.tables.label_table`: ``id``, then per label ``NAME``, ``NAME_ERR`` and
the three error parts, then ``chi2_<input>``. FITS files carry the units (``TUNITn``),
``EXTNAME = 'LABELS'`` and the metadata (starlux version, inputs, model file) as
header cards; ECSV keeps units, descriptions and metadata in its header; CSV is plain
comma-separated values (written by astropy, quoted where needed).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..prediction import Prediction
from .atomic import atomic_path
from .datasets import write_arrays
from .formats import astropy_format, can_hold, format_of

__all__ = ["prediction_arrays", "write_prediction", "write_table", "EXTNAME"]

EXTNAME = "LABELS"
"""Name of the FITS extension holding the label table."""


def prediction_arrays(pred: Prediction) -> dict[str, np.ndarray]:
    """The arrays written for a prediction (layout in the module docstring)."""
    return pred.to_arrays()


def write_table(table, path: str | os.PathLike, fmt: str | None = None,
                atomic: bool = True) -> None:
    """Write a label table (atomically unless ``atomic=False``, for a caller that
    writes into its own temporary file); the format (an astropy format name) follows
    the extension unless ``fmt`` is given.

    FITS gets ``EXTNAME``, a ``TUNITn`` card for every column with a unit (``dex``
    too, which astropy's FITS writer would drop) and the metadata as header cards.
    """
    path = Path(path)
    fmt = fmt or astropy_format(format_of(path, "label table"))
    if not atomic:
        _write_table(table, path, fmt)
        return
    with atomic_path(path) as tmp:
        _write_table(table, tmp, fmt)


def _write_table(table, path: Path, fmt: str) -> None:
    if fmt == "fits":
        _write_fits(table, path)
    else:
        table.write(path, format=fmt, overwrite=True)


def _write_fits(table, path: Path) -> None:
    from astropy.io import fits

    units = {c: str(table[c].unit) for c in table.colnames if table[c].unit is not None}
    with warnings.catch_warnings():  # "dex is not a FITS unit": written by hand below
        warnings.simplefilter("ignore")
        hdu = fits.table_to_hdu(table)
    for col in hdu.columns:
        if col.name in units:
            col.unit = units[col.name]
    hdu.header["EXTNAME"] = EXTNAME
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)


def write_prediction(path: str | os.PathLike, pred: Prediction, model: str | None = None,
                     meta: Mapping[str, Any] | None = None,
                     model_sha256: str | None = None) -> None:
    """Atomically write a prediction; the format follows the extension.

    ``model`` (the model file), its ``model_sha256`` and ``meta`` go in the table
    formats' metadata.
    """
    path = Path(path)
    format_of(path, "prediction arrays", "label table", what="prediction")
    if can_hold(path, "label table"):
        write_table(pred.to_table(model=model, meta=dict(meta or {}),
                                  model_sha256=model_sha256), path)
    else:
        write_arrays(path, pred.to_arrays())
