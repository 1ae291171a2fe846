"""Prediction files: ``.npz`` / ``.h5`` arrays, or ``.fits`` / ``.csv`` label tables.

Array layout (``.npz``, ``.h5``):

====================  ========  ===============================================
``label``             (N, M)    predicted labels (natural units)
``label_err``         (N, M)    total 1-sigma error (Fisher, map and model error)
``label_fisher_err``  (N, M)    Fisher (measurement) part alone
``label_map_err``     (N, M)    label-map (finite training set) part alone
``label_model_err``   (M,)      learned model-error part
``label_cov``         (N, M, M) full covariance
``label_names``       (M,)
``z``                 (N, P)    latents
``chi2_<input>``      (N,)      reduced chi^2 of each input (e.g. ``chi2_flux``)
``id``                (N,)      object ids when the data had them
====================  ========  ===============================================

Further predicted outputs use their own name in place of ``label`` (a predicted
spectrum ``flux`` gives ``flux`` and ``flux_err``). The table formats hold one row per
object: ``id``, then ``NAME`` and ``NAME_ERR`` per label, then ``chi2_<input>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..prediction import Prediction
from .datasets import FileFormatError, atomic_path, write_arrays

__all__ = ["prediction_arrays", "write_prediction", "prediction_table"]


def prediction_arrays(pred: Prediction) -> dict[str, np.ndarray]:
    """The arrays written for a prediction (layout in the module docstring)."""
    out: dict[str, np.ndarray] = {}
    for name, o in pred.outputs.items():
        out[name] = o.values
        out[f"{name}_err"] = o.errors
        out[f"{name}_fisher_err"] = o.fisher_errors
        out[f"{name}_model_err"] = np.asarray(o.model_error)
        if o.map_errors is not None:
            out[f"{name}_map_err"] = o.map_errors
        if o.cov is not None:
            out[f"{name}_cov"] = o.cov
        out[f"{name}_names"] = np.array(o.names)
    out["z"] = pred.z
    for k, c in pred.chi2.items():
        out[f"chi2_{k}"] = c
    if pred.ids is not None:
        out["id"] = np.asarray(pred.ids)
    return out


def prediction_table(pred: Prediction):
    """An astropy Table with one row per object (label outputs only)."""
    from astropy.table import Table

    t = Table()
    if pred.ids is not None:
        t["id"] = np.asarray(pred.ids)
    for name, o in pred.outputs.items():
        if o.cov is None:  # spectra don't go in a label table
            continue
        prefix = "" if name == "label" else f"{name}_"
        for j, col in enumerate(o.names):
            t[f"{prefix}{col}"] = o.values[:, j]
            t[f"{prefix}{col}_ERR"] = o.errors[:, j]
    for k, c in pred.chi2.items():
        t[f"chi2_{k}"] = c
    return t


def write_prediction(path: str | os.PathLike, pred: Prediction) -> None:
    """Atomically write a prediction; the format follows the extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".npz", ".h5", ".hdf5"):
        write_arrays(path, prediction_arrays(pred))
    elif suffix in (".fits", ".fit", ".csv", ".ecsv"):
        table = prediction_table(pred)
        fmt = {".fits": "fits", ".fit": "fits", ".csv": "ascii.csv", ".ecsv": "ascii.ecsv"}[suffix]
        with atomic_path(path) as tmp:
            table.write(tmp, format=fmt, overwrite=True)
    else:
        raise FileFormatError(
            f"{path}: unknown prediction format {suffix!r} (use .npz, .h5, .fits or .csv)")
