"""Dataset files as FITS tables, and label-only datasets as CSV / Parquet tables.

FITS layout (``.fits``): HDU ``OBJECTS`` is a binary table with one row per object and
one column per per-object array of the starlux layout (``flux`` and ``flux_err`` as
vector columns, ``label``, ``label_err``, ``id`` ...). Each per-column array
(``wavelength``, ``label_names``, ``<out>_names`` ...) is a one-column table HDU
whose ``STLXKEY`` header keyword holds the key.

CSV / Parquet layout (``.csv``, ``.parquet``) — label outputs only, one row per object:
``id``, then for the ``label`` output the columns ``NAME`` and ``NAME_err``, for any
other label output ``out.NAME`` and ``out.NAME_err``, and ``extra.KEY`` for 1-D extras.
Missing entries are written as NaN. Parquet needs ``pyarrow``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..data import DataError
from ._fitsutil import open_fits
from .errors import FileFormatError
from .formats import astropy_format, format_of

__all__ = ["is_static_key", "write_fits_arrays", "read_fits_arrays",
           "write_label_table_arrays", "read_label_table_arrays"]


def is_static_key(key: str) -> bool:
    """True for per-column arrays (wavelengths, column names), False for per-object."""
    return key == "wavelength" or key.endswith(("_names", "_wavelength", "_channels"))


def _n_objects(arrays: Mapping[str, np.ndarray]) -> int:
    for k in ("flux", "label"):
        if k in arrays:
            return int(np.shape(arrays[k])[0])
    for k, v in arrays.items():
        if not is_static_key(k) and np.ndim(v) >= 1:
            return int(np.shape(v)[0])
    raise DataError("no per-object arrays to write")


def write_fits_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write starlux-layout arrays to a FITS file at ``path`` (not atomic by itself)."""
    n = _n_objects(arrays)
    per_object = {}
    hdus: list[fits.hdu.base.ExtensionHDU] = []
    for k, v in arrays.items():
        v = np.asarray(v)
        if v.dtype == object:
            v = v.astype(str)
        if is_static_key(k) or v.ndim == 0 or v.shape[0] != n:
            t = fits.table_to_hdu(Table({"value": np.atleast_1d(v)}))
            t.name = k.upper()[:68]
            t.header["STLXKEY"] = k
            hdus.append(t)
        else:
            per_object[k] = v
    objects = fits.table_to_hdu(Table(per_object))
    objects.name = "OBJECTS"
    objects.header["STLXN"] = n
    fits.HDUList([fits.PrimaryHDU(), objects, *hdus]).writeto(path, overwrite=True)


def _plain(a: object) -> np.ndarray:
    a = np.array(a)
    if a.dtype.kind == "S":
        a = np.char.rstrip(a.astype(str))
    elif a.dtype.kind == "U":
        a = np.char.rstrip(a)
    return a


def read_fits_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Arrays of a starlux FITS dataset file."""
    path = Path(path)
    with open_fits(path) as hdul:
        if "OBJECTS" not in [h.name for h in hdul]:
            raise FileFormatError(f"{path}: not a starlux dataset FITS file (no OBJECTS "
                                  "table); read survey catalogues with read_catalog / "
                                  "--catalog instead")
        obj = hdul["OBJECTS"]
        out = {name: _plain(obj.data[name]) for name in obj.columns.names}
        for h in hdul:
            key = h.header.get("STLXKEY")
            if key and getattr(h, "columns", None) is not None:
                out[key] = _plain(h.data["value"])
    return out


def _require_pyarrow(path: Path) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise FileFormatError(f"{path}: Parquet needs pyarrow "
                              "(pip install 'starlux[extras]')") from None


def write_label_table_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray],
                             fmt: str, *, target: str | os.PathLike | None = None) -> None:
    """Write the label outputs of starlux-layout arrays as a CSV/Parquet table.

    ``target`` is the file name used in error messages (``path`` may be a temporary).
    """
    out_path = Path(path)
    path = Path(target) if target is not None else out_path
    if fmt == "parquet":
        _require_pyarrow(path)
    n = _n_objects(arrays)
    cols: dict[str, np.ndarray] = {}
    if "id" in arrays:
        cols["id"] = np.asarray(arrays["id"])
    spectra = [k for k in arrays if f"{k}_err" in arrays and f"{k}_names" not in arrays
               and not (k == "label" and "label_names" in arrays)]
    if spectra:
        raise FileFormatError(f"{path}: CSV/Parquet files hold label tables only, but the "
                              f"dataset has spectrum output(s) {spectra}; write .h5, .npz "
                              "or .fits instead")
    outs = [k for k in arrays if f"{k}_names" in arrays and f"{k}_err" in arrays]
    used = {"id"}
    for out in sorted(outs, key=lambda k: k != "label"):
        names = [str(s) for s in np.asarray(arrays[f"{out}_names"]).ravel()]
        vals = np.asarray(arrays[out], dtype=np.float64).reshape(n, -1)
        errs = np.asarray(arrays[f"{out}_err"], dtype=np.float64).reshape(n, -1)
        prefix = "" if out == "label" else f"{out}."
        for j, name in enumerate(names):
            cols[f"{prefix}{name}"] = vals[:, j]
            cols[f"{prefix}{name}_err"] = errs[:, j]
        used |= {out, f"{out}_err", f"{out}_names"}
    for k, v in arrays.items():
        v = np.asarray(v)
        if k in used:
            continue
        if v.ndim == 1 and v.shape[0] == n:
            cols[f"extra.{k}"] = v.astype(str) if v.dtype == object else v
        else:
            raise FileFormatError(f"{path}: array {k!r} of shape {v.shape} does not fit a "
                                  "one-row-per-object table; write .h5 instead")
    table = Table(cols)
    table.write(out_path, format=astropy_format(fmt), overwrite=True)


def read_label_table_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Arrays (starlux layout) of a CSV/Parquet label table written by starlux."""
    path = Path(path)
    fmt = format_of(path, "label dataset")
    if fmt == "parquet":
        _require_pyarrow(path)
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    try:
        table = Table.read(path, format=astropy_format(fmt))
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileFormatError(f"{path}: cannot read as a {fmt} table ({reason})") from None
    outs: dict[str, list[str]] = {}
    out: dict[str, np.ndarray] = {}
    for c in table.colnames:
        if c.endswith("_err") and c[:-4] in table.colnames:
            base = c[:-4]
            o, name = base.split(".", 1) if "." in base else ("label", base)
            outs.setdefault(o, []).append(name)
    if not outs:
        raise FileFormatError(f"{path}: not a starlux label table (no NAME / NAME_err column "
                              "pairs); read survey catalogues with read_catalog / --catalog")

    def col(name: str) -> np.ndarray:
        c = table[name]
        return np.ma.filled(c.astype(float), np.nan) if hasattr(c, "mask") \
            else np.asarray(c, dtype=float)

    try:
        for o, names in outs.items():
            prefix = "" if o == "label" else f"{o}."
            out[o] = np.stack([col(f"{prefix}{s}") for s in names], axis=1)
            out[f"{o}_err"] = np.stack([col(f"{prefix}{s}_err") for s in names], axis=1)
            out[f"{o}_names"] = np.array(names)
    except (TypeError, ValueError) as exc:
        raise FileFormatError(f"{path}: label columns are not numeric ({exc})") from None
    if "id" in table.colnames:
        out["id"] = np.asarray(table["id"])
    for c in table.colnames:
        if c.startswith("extra."):
            out[c[len("extra."):]] = np.asarray(table[c])
    return out
