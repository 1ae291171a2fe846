"""Dataset files: ``.npz`` and ``.h5`` in the starlux layout.

Layout (the same keys in both formats; HDF5 datasets are chunked by object rows):

=================  ==========  =====================================================
key                shape       meaning
=================  ==========  =====================================================
``flux``           (N, L)      spectrum (continuum-normalised, usually)
``flux_err``       (N, L)      1-sigma flux errors (or ``flux_ivar``: inverse
                               variances, 0 = missing)
``wavelength``     (L,)        optional, Angstrom
``label``          (N, M)      optional labels, NaN where missing
``label_err``      (N, M)      label errors (NaN / <=0 / >=9999 mean missing)
``label_names``    (M,)        label column names
``id``             (N,)        optional object ids
``<out>``          (N, D)      any further output, e.g. ``galah`` ...
``<out>_err``      (N, D)      ... its errors
``<out>_names``    (D,)        ... its column names (a label-kind output), or
``<out>_wavelength`` (D,)      ... its wavelengths (a spectrum-kind output)
``<out>_channels`` (D,)        ... the column names of a spectrum-kind output that
                               has them (Gaia XP coefficients ``bp_0`` ..., relative
                               magnitudes ``BP-G`` ...; ``flux_channels`` for flux)
``<out>_cov``      (N, D, D)   optional per-object error covariance of any output
                               (``flux_cov``, ``label_cov`` ...); its diagonal is
                               ``<out>_err**2`` (:mod:`starlux.data` has the rules),
                               and ``<out>_err`` may then be left out
=================  ==========  =====================================================

Any other array of length N (``label_true``, ``snr`` ...) is kept in
``Dataset.extras``. Writes are atomic: a temporary file in the same folder is
renamed over the target only once it is complete.

Besides ``.npz`` and ``.h5``, datasets can be FITS tables (``.fits``) and, when they
hold labels only, CSV / Parquet tables (``.csv``, ``.parquet``); see
:mod:`starlux.io.tabular`. :mod:`starlux.io.chunked` reads ``.h5`` / ``.fits`` files
in chunks of objects and writes ``.h5`` files chunk by chunk.
"""

from __future__ import annotations

import os
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from ..data import DataError, Dataset, Output
from .atomic import atomic_path
from .errors import FileFormatError
from .formats import can_hold, format_of
from .tabular import (
    read_fits_arrays,
    read_label_table_arrays,
    write_fits_arrays,
    write_label_table_arrays,
)

__all__ = ["read_dataset", "write_dataset", "atomic_path", "FileFormatError"]

_RESERVED = {"flux", "flux_err", "wavelength", "label", "label_err", "label_names", "id"}


def _dataset_format(path: Path) -> str:
    """The format of a dataset file (spectra and labels, or a label-only table)."""
    return format_of(path, "dataset", "label dataset", what="dataset")


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    if path.is_dir():
        raise FileFormatError(f"{path}: is a folder, not a dataset file")
    fmt = _dataset_format(path)
    try:
        if fmt == "npz":
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        if fmt == "hdf5":
            with h5py.File(path, "r") as f:
                return {k: decode_strings(f[k][()]) for k in f.keys()
                        if isinstance(f[k], h5py.Dataset)}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise FileFormatError(f"{path}: cannot read as {fmt} (truncated or not a "
                              f"starlux dataset: {_reason(exc)})") from None
    if fmt == "fits":
        return read_fits_arrays(path)
    return read_label_table_arrays(path)


def _reason(exc: BaseException) -> str:
    """The first line of an exception's message (or its type when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def decode_strings(a: np.ndarray) -> np.ndarray:
    """HDF5 strings come back as bytes (object arrays for variable-length strings,
    ``S`` arrays for fixed-length ones): make them str."""
    a = np.asarray(a)
    if a.dtype == object:
        return np.array(_strings(a)).reshape(a.shape)
    if a.dtype.kind == "S":
        return np.char.decode(a, "utf-8")
    return a


def _strings(a: np.ndarray) -> list[str]:
    return [x.decode() if isinstance(x, bytes) else str(x) for x in np.asarray(a).ravel()]


def _names(arrays: Mapping[str, np.ndarray], key: str) -> list[str]:
    """Column names from ``arrays[key]``: strings only (a float ``1.0`` is not a name)."""
    a = np.asarray(arrays[key])
    bad = [x for x in a.ravel() if not isinstance(x, (str, bytes, np.str_, np.bytes_))]
    if bad:
        raise DataError(f"{key!r} must hold strings (column names), got "
                        f"{type(bad[0]).__name__} {bad[0]!r}")
    return _strings(a)


def _file_of(source: str) -> str:
    """``FILE[a:b]`` (a chunk of a file) -> ``FILE``."""
    return re.sub(r"\[\d+:\d+\]$", "", source)


def _annies_lasso_labels(arrays: dict[str, np.ndarray], source: str) -> None:
    """Read the AnniesLasso / Cannon key ``labels`` (and ``labels_err``) as ``label``.

    Without this a Cannon file trains a model with no labels at all, silently.
    """
    if "labels" not in arrays or "label" in arrays:
        return
    arrays["label"] = arrays.pop("labels")
    for old, new in (("labels_err", "label_err"), ("labels_names", "label_names"),
                     ("labels_ivar", "label_ivar")):
        if old in arrays and new not in arrays:
            arrays[new] = arrays.pop(old)
    warnings.warn(f"{source}: reading the key 'labels' as 'label' (the AnniesLasso "
                  "convention); starlux files name it 'label'", UserWarning, stacklevel=3)


def dataset_from_arrays(arrays: Mapping[str, np.ndarray], source: str = "arrays") -> Dataset:
    """Interpret a mapping of arrays in the starlux layout as a :class:`Dataset`.

    Keys that are not part of the layout and are not per-object arrays (which are kept
    in ``extras``) draw a warning naming them, so a misspelt key is not silently
    ignored. The warnings name the file, not the rows, of a chunk (``FILE[a:b]``), so
    a file read in chunks warns once.
    """
    arrays = dict(arrays)
    outputs: dict[str, Output] = {}
    try:
        _annies_lasso_labels(arrays, _file_of(source))
        for key in [k[:-5] for k in arrays if k.endswith("_ivar")]:
            # inverse variances instead of errors: err = 1/sqrt(ivar); ivar <= 0 -> missing
            if key in arrays and f"{key}_err" not in arrays:
                ivar = np.asarray(arrays.pop(f"{key}_ivar"), dtype=np.float64)
                with np.errstate(divide="ignore", invalid="ignore"):
                    arrays[f"{key}_err"] = np.where(ivar > 0, 1.0 / np.sqrt(ivar), np.inf)
        if "label" in arrays:
            if "label_err" not in arrays and "label_cov" not in arrays:
                raise DataError("has 'label' but no 'label_err'")
            if "label_names" not in arrays:
                raise DataError("has 'label' but no 'label_names'")
            outputs["label"] = Output.create(
                arrays["label"], arrays.get("label_err"), kind="label",
                names=_names(arrays, "label_names"), label="label",
                covariance=arrays.get("label_cov"))
        if "flux" in arrays:
            if "flux_err" not in arrays and "flux_cov" not in arrays:
                raise DataError("has 'flux' but no 'flux_err'")
            outputs["flux"] = Output.create(
                arrays["flux"], arrays.get("flux_err"), kind="spectrum",
                wavelength=arrays.get("wavelength"), label="flux",
                names=_channels(arrays, "flux"), covariance=arrays.get("flux_cov"))
        for key in sorted(arrays):
            if key in _RESERVED or (f"{key}_err" not in arrays
                                    and f"{key}_cov" not in arrays):
                continue
            if f"{key}_names" in arrays:
                outputs[key] = Output.create(arrays[key], arrays.get(f"{key}_err"), kind="label",
                                             names=_names(arrays, f"{key}_names"), label=key,
                                             covariance=arrays.get(f"{key}_cov"))
            else:
                outputs[key] = Output.create(arrays[key], arrays.get(f"{key}_err"),
                                             kind="spectrum",
                                             wavelength=arrays.get(f"{key}_wavelength"),
                                             names=_channels(arrays, key),
                                             label=key, covariance=arrays.get(f"{key}_cov"))
        if not outputs:
            raise DataError("contains no output (expected 'flux'/'flux_err' and/or "
                            "'label'/'label_err'/'label_names')")
        used = {"id"}
        for k, o in outputs.items():
            used |= {k, f"{k}_err", f"{k}_names", f"{k}_cov", f"{k}_channels"}
            if o.wavelength is not None:
                used.add("wavelength" if k == "flux" else f"{k}_wavelength")
        n = next(iter(outputs.values())).n
        ids = arrays.get("id")
        if ids is not None:
            ids = np.asarray(ids)
            if ids.dtype.kind == "S":
                ids = ids.astype(str)
        extras = {k: v for k, v in arrays.items()
                  if k not in used and k not in _RESERVED and np.ndim(v) >= 1
                  and len(v) == n}
        unknown = sorted(set(arrays) - used - set(extras))
        if unknown:
            warnings.warn(f"{_file_of(source)}: ignoring unknown key(s) {unknown} (not part of the "
                          "starlux layout, and not one value per object)", UserWarning,
                          stacklevel=2)
        return Dataset(outputs=outputs, ids=ids, extras=extras)
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from None


def _channels(arrays: Mapping[str, np.ndarray], key: str) -> list[str] | None:
    """The column names of spectrum-kind output ``key`` (``<key>_channels``), if any."""
    return _names(arrays, f"{key}_channels") if f"{key}_channels" in arrays else None


def read_dataset(path: str | os.PathLike) -> Dataset:
    """Read a ``.npz`` or ``.h5`` dataset file (layout in this module's docstring)."""
    path = Path(path)
    return dataset_from_arrays(_load_arrays(path), source=str(path))


def dataset_to_arrays(ds: Dataset) -> dict[str, np.ndarray]:
    """The starlux-layout arrays for a dataset (inverse of :func:`dataset_from_arrays`)."""
    out: dict[str, np.ndarray] = {}
    for name, o in ds.outputs.items():
        out[name] = o.values
        out[f"{name}_err"] = o.errors
        if o.covariance is not None:
            out[f"{name}_cov"] = o.covariance
        if o.kind == "label":
            out["label_names" if name == "label" else f"{name}_names"] = np.array(o.names)
        else:
            if o.wavelength is not None:
                out["wavelength" if name == "flux" else f"{name}_wavelength"] = o.wavelength
            if o.names != tuple(str(i) for i in range(o.dim)):
                out[f"{name}_channels"] = np.array(o.names)
    if ds.ids is not None:
        out["id"] = np.asarray(ds.ids)
    for k, v in ds.extras.items():
        out.setdefault(k, np.asarray(v))
    return out


def write_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray],
                 chunk_rows: int = 256) -> None:
    """Atomically write arrays to ``.npz``, ``.h5`` (chunked by rows), ``.fits`` or — for
    label-only data — ``.csv`` / ``.parquet``."""
    path = Path(path)
    fmt = _dataset_format(path)
    with atomic_path(path) as tmp:
        if fmt == "fits":
            write_fits_arrays(tmp, arrays)
        elif can_hold(path, "label dataset"):
            write_label_table_arrays(tmp, arrays, fmt, target=path)
        elif fmt == "npz":
            with open(tmp, "wb") as fh:
                np.savez(fh, **{k: _storable(v) for k, v in arrays.items()})
        else:
            with h5py.File(tmp, "w") as f:
                for k, v in arrays.items():
                    v = _storable(v)
                    if v.dtype.kind == "U":
                        f.create_dataset(k, data=v.astype(object),
                                         dtype=h5py.string_dtype())
                    elif v.ndim == 2 and v.shape[0] > 0:
                        f.create_dataset(k, data=v, chunks=(min(chunk_rows, v.shape[0]),
                                                            v.shape[1]))
                    elif v.ndim > 2 and v.shape[0] > 0:  # covariances: rows of <= 4 MB
                        rows = max(1, min(chunk_rows, v.shape[0],
                                          (4 << 20) // max(1, v[0].nbytes)))
                        f.create_dataset(k, data=v, chunks=(rows, *v.shape[1:]))
                    else:
                        f.create_dataset(k, data=v)


def _storable(v: object) -> np.ndarray:
    a = np.asarray(v)
    if a.dtype == object:
        a = a.astype(str)
    return a


def write_dataset(path: str | os.PathLike, ds: Dataset) -> None:
    """Atomically write a dataset to ``.npz``, ``.h5``, ``.fits``, ``.csv`` or ``.parquet``."""
    write_arrays(path, dataset_to_arrays(ds))
