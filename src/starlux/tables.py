"""Label tables: predictions as an astropy :class:`~astropy.table.Table`, one row per
object, with units, descriptions and metadata.

One builder serves :meth:`starlux.prediction.Prediction.to_table` and the ``.fits`` /
``.csv`` / ``.ecsv`` prediction files. It reads the array layout of
:meth:`~starlux.prediction.Prediction.to_arrays` (``label``, ``label_err``,
``label_fisher_err``, ``label_map_err``, ``label_model_err``, ``label_names``,
``chi2_<input>``, ``id``), so that anything that writes those arrays (for example a
prediction streamed in blocks) can make the same table.

Columns, per label output (label outputs other than ``label`` get a ``<output>_``
prefix): ``NAME``, ``NAME_ERR`` (total 1-sigma error), ``NAME_FISHER_ERR``,
``NAME_MAP_ERR`` and ``NAME_MODEL_ERR`` (its three parts, added in quadrature), then
``chi2_<input>`` per input. A label keeps the name it was trained with, and its error
columns follow its case (``teff``, ``teff_err``: the Gaia archive's style; ``TEFF``,
``TEFF_ERR``: APOGEE's). Units come from :mod:`starlux.labels`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .labels import label_info

__all__ = ["label_table", "table_meta", "ERROR_PARTS"]

ERROR_PARTS: dict[str, str] = {
    "err": "total 1-sigma error: Fisher, map and model-error parts in quadrature",
    "fisher_err": "Fisher part: this object's measurement noise",
    "map_err": "map part: the label map learned from a finite, noisy training set",
    "model_err": "model-error part: learned on held-out training folds, varies over label space",
}
"""Suffix of each error column and what it means."""


def table_meta(inputs: Sequence[str], model: str | None = None,
               extra: Mapping[str, Any] | None = None,
               model_sha256: str | None = None) -> dict[str, Any]:
    """Header metadata of a label table: starlux version, inputs, model file and
    its SHA-256 (so that a published table names the exact model behind it).

    Keys are at most 8 characters so that they become plain FITS header cards.
    """
    from . import __version__

    meta: dict[str, Any] = {"ORIGIN": "starlux", "STLXVER": __version__,
                            "INPUTS": ",".join(inputs)}
    if model:
        meta["MODEL"] = str(model)
    if model_sha256:
        meta["MODELSHA"] = str(model_sha256)
    meta.update(extra or {})
    meta["comments"] = [
        "Labels predicted by starlux (Lux, Horta et al. 2025).",
        "NAME_ERR = sqrt(NAME_FISHER_ERR^2 + NAME_MAP_ERR^2 + NAME_MODEL_ERR^2).",
        "chi2_<input>: reduced chi^2 of each input (chi^2 / observed entries).",
        "n_used_<input>: entries of each input used (0: nothing to infer from, the",
        "  prediction is the latent prior's).",
        "n_rejected_<input>: entries of each input rejected as outliers.",
    ]
    return meta


def _suffix(name: str, part: str) -> str:
    """An error column's suffix in the case of its label's name (``teff_err``,
    ``TEFF_ERR``): a table reads in one case, as its catalogue did."""
    return part if name == name.lower() and name != name.upper() else part.upper()


def _label_outputs(arrays: Mapping[str, np.ndarray]) -> list[str]:
    return [k[: -len("_cov")] for k in arrays if k.endswith("_cov")]


def label_table(arrays: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None,
                meta: Mapping[str, Any] | None = None):
    """An astropy Table with one row per object from prediction arrays.

    Args:
        arrays: the layout of :meth:`Prediction.to_arrays` (module docstring).
        outputs: the label outputs to include (default: those with a ``<name>_cov``
            array; spectra never go in a label table).
        meta: table metadata (see :func:`table_meta`), kept in ``Table.meta``.
    """
    from astropy.table import Column, Table

    outputs = _label_outputs(arrays) if outputs is None else list(outputs)
    t = Table(meta=dict(meta or {}))
    if "id" in arrays:
        t["id"] = Column(np.asarray(arrays["id"]), description="object id")
    for name in outputs:
        prefix = "" if name == "label" else f"{name}_"
        names = [str(s) for s in np.asarray(arrays[f"{name}_names"]).tolist()]
        n = np.asarray(arrays[name]).shape[0]
        for j, col in enumerate(names):
            info = label_info(col)
            unit = info.unit or None
            t[f"{prefix}{col}"] = Column(np.asarray(arrays[name])[:, j], unit=unit,
                                         description=f"{info.text} predicted by starlux")
            for part, what in ERROR_PARTS.items():
                key = f"{name}_{part}"
                if key not in arrays:
                    continue
                v = np.asarray(arrays[key])
                v = np.broadcast_to(v[j], (n,)) if v.ndim == 1 else v[:, j]
                t[f"{prefix}{col}_{_suffix(col, part)}"] = Column(np.array(v), unit=unit,
                                                            description=what)
    for k in arrays:
        if k.startswith("chi2_"):
            t[k] = Column(np.asarray(arrays[k]),
                          description=f"reduced chi^2 of input {k[len('chi2_'):]!r}")
        elif k.startswith("n_used_"):
            t[k] = Column(np.asarray(arrays[k]),
                          description=f"entries of input {k[len('n_used_'):]!r} used "
                          "(0: the prediction is the latent prior's)")
        elif k.startswith("n_rejected_"):
            t[k] = Column(np.asarray(arrays[k]),
                          description=f"entries of input {k[len('n_rejected_'):]!r} "
                          "rejected as outliers")
    return t
