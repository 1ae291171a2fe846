"""Large dataset files: read in chunks of objects, write chunk by chunk.

:func:`iter_dataset_chunks` reads an ``.h5`` file (or a starlux ``.fits`` table,
memory-mapped) slice by slice, so a file larger than memory can be streamed through a
model. :class:`ChunkedDatasetWriter` appends datasets to a chunked, compressed
``.h5`` file and moves it into place atomically when closed; if anything fails the
target is left untouched.
"""

from __future__ import annotations

import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np
from astropy.io import fits

from ..data import DataError, Dataset
from .datasets import dataset_from_arrays, dataset_to_arrays, decode_strings
from .errors import FileFormatError
from .formats import can_hold, format_name, suffix_of, suffixes
from .tabular import is_static_key

__all__ = ["dataset_info", "iter_dataset_chunks", "ChunkedDatasetWriter"]

# what h5py, zipfile, numpy and astropy raise on a damaged or truncated file
_READ_ERRORS = (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _n_rows(arrays: dict[str, tuple[tuple[int, ...], object]], path: Path) -> int:
    for k in ("flux", "label"):
        if k in arrays:
            return arrays[k][0][0]
    for k, (shape, _) in arrays.items():
        if not is_static_key(k) and len(shape) >= 1:
            return shape[0]
    raise FileFormatError(f"{path}: holds no per-object arrays")


def dataset_info(path: str | os.PathLike) -> dict[str, object]:
    """Number of objects and array shapes of an ``.h5`` / ``.fits`` / ``.npz`` dataset file,
    read from metadata only: ``{"n": N, "arrays": {key: shape}}``."""
    path = Path(path)
    shapes = {k: s for k, (s, _) in _describe(path).items()}
    return {"n": _n_rows(_describe(path), path), "arrays": shapes}


def _describe(path: Path) -> dict[str, tuple[tuple[int, ...], object]]:
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    if not can_hold(path, "dataset"):  # label-only tables are small: read them whole
        raise FileFormatError(f"{path}: chunked reading supports "
                              f"{', '.join(suffixes('dataset'))}, not {suffix_of(path)!r}")
    fmt = format_name(path)
    try:
        if fmt == "hdf5":
            with h5py.File(path, "r") as f:
                return {k: (f[k].shape, f[k].dtype) for k in f.keys()
                        if isinstance(f[k], h5py.Dataset)}
        if fmt == "npz":  # array headers only, no data read
            out = {}
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    with z.open(name) as fh:
                        version = np.lib.format.read_magic(fh)
                        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                else np.lib.format.read_array_header_2_0)
                        shape, _, dtype = read(fh)
                    out[name.removesuffix(".npy")] = (shape, dtype)
            return out
        return _describe_fits(path)
    except DataError:
        raise
    except _READ_ERRORS as exc:
        raise FileFormatError(f"{path}: cannot read ({_reason(exc)}; truncated or not a "
                              "starlux dataset file?)") from None


def _describe_fits(path: Path) -> dict[str, tuple[tuple[int, ...], object]]:
    """Shapes of a starlux FITS dataset (memory-mapped); astropy's truncation warning
    becomes an error naming the file."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, memmap=True) as hdul:
                if "OBJECTS" not in [h.name for h in hdul]:
                    raise FileFormatError(f"{path}: not a starlux dataset FITS file (no "
                                          "OBJECTS table)")
                data = hdul["OBJECTS"].data  # memory-mapped: shapes only
                out = {name: (data[name].shape, None) for name in data.columns.names}
                for h in hdul:
                    if h.header.get("STLXKEY"):
                        out[h.header["STLXKEY"]] = ((h.header["NAXIS2"],), None)
        except _READ_ERRORS as exc:
            if isinstance(exc, DataError):
                raise
            failure = _reason(exc)
        else:
            failure = None
    truncated = [str(w.message) for w in caught if "truncated" in str(w.message).lower()]
    if truncated:
        raise FileFormatError(f"{path}: file is truncated ({truncated[0]})")
    if failure is not None:
        raise FileFormatError(f"{path}: cannot read as FITS ({failure})")
    return out


def iter_dataset_chunks(
    path: str | os.PathLike, chunk_size: int = 1024
) -> Iterator[tuple[slice, Dataset]]:
    """Yield ``(rows, dataset)`` for consecutive blocks of ``chunk_size`` objects.

    ``.h5`` files are read slice by slice and ``.fits`` tables are memory-mapped, so
    only one chunk is in memory at a time. ``.npz`` files are supported but each array
    is loaded whole once (the format cannot be sliced on disk); use ``.h5`` for data
    larger than memory. Each chunk is a full :class:`Dataset` (missing-entry rules
    applied); a chunk in which a label column is entirely missing is allowed.
    """
    if chunk_size < 1:
        raise DataError(f"chunk_size must be >= 1, got {chunk_size}")
    path = Path(path)
    info = _describe(path)
    n = _n_rows(info, path)
    try:
        yield from _chunks(path, format_name(path), info, n, chunk_size)
    except _READ_ERRORS as exc:
        if isinstance(exc, DataError):
            raise
        raise FileFormatError(f"{path}: cannot read ({_reason(exc)}; truncated or "
                              "damaged?)") from None


def _chunks(path: Path, fmt: str | None, info: dict[str, tuple[tuple[int, ...], object]],
            n: int, chunk_size: int) -> Iterator[tuple[slice, Dataset]]:
    if fmt == "hdf5":
        with h5py.File(path, "r") as f:
            static = {k: decode_strings(f[k][()]) for k in info
                      if is_static_key(k) or f[k].ndim == 0 or f[k].shape[0] != n}
            rows = [k for k in info if k not in static]
            for start in range(0, n, chunk_size):
                sl = slice(start, min(start + chunk_size, n))
                arrays = dict(static)
                arrays.update({k: decode_strings(f[k][sl]) for k in rows})
                yield sl, dataset_from_arrays(arrays, source=f"{path}[{sl.start}:{sl.stop}]")
        return
    if fmt == "fits":
        with fits.open(path, memmap=True) as hdul:
            obj = hdul["OBJECTS"].data
            static = {h.header["STLXKEY"]: np.asarray(h.data["value"]) for h in hdul
                      if h.header.get("STLXKEY")}
            static = {k: (np.char.rstrip(v.astype(str)) if v.dtype.kind in "SU" else v)
                      for k, v in static.items()}
            for start in range(0, n, chunk_size):
                sl = slice(start, min(start + chunk_size, n))
                arrays = dict(static)
                for name in obj.columns.names:
                    a = np.array(obj[name][sl])
                    arrays[name] = np.char.rstrip(a.astype(str)) if a.dtype.kind in "SU" else a
                yield sl, dataset_from_arrays(arrays, source=f"{path}[{sl.start}:{sl.stop}]")
        return
    with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    for start in range(0, n, chunk_size):
        sl = slice(start, min(start + chunk_size, n))
        chunk = {k: (v if is_static_key(k) or v.ndim == 0 or v.shape[0] != n else v[sl])
                 for k, v in arrays.items()}
        yield sl, dataset_from_arrays(chunk, source=f"{path}[{sl.start}:{sl.stop}]")


class ChunkedDatasetWriter:
    """Append datasets to an ``.h5`` file, written atomically on :meth:`close`.

    The first appended dataset fixes the layout (outputs, column names, wavelength
    grid, extras); later ones must match it exactly, else a :class:`DataError` names
    the output and the difference. Use as a context manager: an exception inside the
    ``with`` block discards the partial file and leaves ``path`` untouched.

    Example::

        with ChunkedDatasetWriter("big.h5") as w:
            for part in parts:
                w.append(part)
    """

    def __init__(self, path: str | os.PathLike, *, chunk_rows: int = 256,
                 compression: str | None = "gzip"):
        self.path = Path(path)
        if format_name(self.path) != "hdf5":
            raise FileFormatError(f"{self.path}: chunked writing needs an .h5 file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp.h5",
                                   dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._file: h5py.File | None = h5py.File(self._tmp, "w")
        self._chunk_rows = chunk_rows
        self._compression = compression
        self._static: dict[str, np.ndarray] | None = None
        self._rows: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        self.n_written = 0

    def append(self, ds: Dataset) -> None:
        """Append the objects of ``ds``."""
        if self._file is None:
            raise DataError(f"{self.path}: writer is already closed")
        arrays = dataset_to_arrays(ds)
        n = ds.n
        static = {k: np.asarray(v) for k, v in arrays.items()
                  if is_static_key(k) or np.ndim(v) == 0 or np.shape(v)[0] != n}
        rows = {k: np.asarray(v) for k, v in arrays.items() if k not in static}
        for k, v in rows.items():
            if v.dtype == object or v.dtype.kind == "U":
                rows[k] = v.astype(str)
        if self._static is None:
            self._start(static, rows)
        else:
            self._check(static, rows)
        f = self._file
        for k, v in rows.items():
            d = f[k]
            d.resize(self.n_written + n, axis=0)
            d[self.n_written:self.n_written + n] = v.astype(object) if v.dtype.kind == "U" else v
        self.n_written += n

    def _start(self, static: dict[str, np.ndarray], rows: dict[str, np.ndarray]) -> None:
        f = self._file
        assert f is not None
        self._static = static
        for k, v in static.items():
            if v.dtype.kind in "US":
                f.create_dataset(k, data=v.astype(str).astype(object),
                                 dtype=h5py.string_dtype())
            else:
                f.create_dataset(k, data=v)
        for k, v in rows.items():
            tail = v.shape[1:]
            if v.dtype.kind == "U":
                dtype: object = h5py.string_dtype()
            else:
                dtype = v.dtype
            f.create_dataset(k, shape=(0, *tail), maxshape=(None, *tail), dtype=dtype,
                             chunks=(self._chunk_rows, *tail),
                             compression=self._compression)
            self._rows[k] = (tail, v.dtype)

    def _check(self, static: dict[str, np.ndarray], rows: dict[str, np.ndarray]) -> None:
        assert self._static is not None
        if set(rows) != set(self._rows):
            raise DataError(f"{self.path}: appended dataset has arrays {sorted(rows)}, the "
                            f"file has {sorted(self._rows)}")
        for k, v in rows.items():
            if v.shape[1:] != self._rows[k][0]:
                raise DataError(f"{self.path}: {k!r} has shape {v.shape[1:]} per object, "
                                f"the file has {self._rows[k][0]}")
        if set(static) != set(self._static):
            raise DataError(f"{self.path}: appended dataset has per-column arrays "
                            f"{sorted(static)}, the file has {sorted(self._static)}")
        for k, v in static.items():
            old = self._static[k]
            same = old.shape == v.shape and (
                np.array_equal(old.astype(str), v.astype(str)) if v.dtype.kind in "US"
                else np.allclose(old, v, rtol=1e-12, atol=0))
            if not same:
                raise DataError(f"{self.path}: {k!r} of the appended dataset differs from "
                                "the one already written (mismatched grid or columns)")

    def close(self) -> None:
        """Finish the file and move it onto ``path`` (atomic)."""
        if self._file is None:
            return
        if self._static is None:
            self.abort()
            raise DataError(f"{self.path}: nothing was appended; no file written")
        self._file.close()
        self._file = None
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Discard everything written; ``path`` is not touched."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tmp.exists():
            self._tmp.unlink()

    def __enter__(self) -> ChunkedDatasetWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
