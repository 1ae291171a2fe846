"""Opening FITS files so that every failure names the file (internal helpers)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits

from .errors import FileFormatError
from .formats import format_name, suffix_of

__all__ = ["open_fits", "hdu_array", "header_value"]


def open_fits(path: str | os.PathLike) -> fits.HDUList:
    """Read a whole FITS file into memory; raise :class:`FileFormatError` if it is
    missing, not FITS, or truncated (astropy only warns about truncation)."""
    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    if path.is_dir():
        raise FileFormatError(f"{path}: is a directory, not a FITS file")
    if format_name(path) in ("npz", "hdf5"):
        raise FileFormatError(f"{path}: is a {suffix_of(path)} file, not FITS (a starlux "
                              "dataset goes to train / predict, not to --spectra)")
    hdul = None
    failure = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdul = fits.open(path, memmap=False, lazy_load_hdus=False)
            for hdu in hdul:  # force every data block to be read now
                _ = hdu.data
        except Exception as exc:  # astropy raises OSError, ValueError, TypeError ...
            failure = str(exc).split(". ")[0].strip().rstrip(".") or type(exc).__name__
    truncated = [str(w.message) for w in caught if "truncated" in str(w.message).lower()]
    if failure is not None or truncated:
        if hdul is not None:
            hdul.close()
        if truncated:
            raise FileFormatError(f"{path}: file is truncated ({truncated[0]})")
        raise FileFormatError(f"{path}: cannot read as FITS ({failure})")
    return hdul


def hdu_array(hdul: fits.HDUList, index: int, path: str | os.PathLike, what: str,
              dtype: type = np.float64) -> np.ndarray:
    """Data of image HDU ``index`` as an array; a clear error if absent or empty."""
    if len(hdul) <= index:
        raise FileFormatError(
            f"{path}: has {len(hdul)} HDUs; expected the {what} in HDU {index}")
    data = hdul[index].data
    if data is None or not isinstance(hdul[index], (fits.ImageHDU, fits.PrimaryHDU)):
        raise FileFormatError(f"{path}: HDU {index} ({what}) holds no image data")
    return np.asarray(data, dtype=dtype)


def header_value(hdul: fits.HDUList, keys: tuple[str, ...], default: object = None) -> object:
    """First of ``keys`` found in the primary header, then in HDU 1's header."""
    for hdu in hdul[:2]:
        for k in keys:
            if k in hdu.header:
                v = hdu.header[k]
                if isinstance(v, str):
                    v = v.strip()
                return v
    return default
