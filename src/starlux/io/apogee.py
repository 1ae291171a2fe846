"""APOGEE spectra: ``apStar``, ``aspcapStar`` and ``apVisit`` files on one wavelength grid.

Wavelength grids (vacuum Angstrom):

* ``"apstar"`` — the apStar log-linear grid, 8575 pixels,
  ``log10(lambda) = 4.179 + 6e-6 * i`` for ``i = 0 .. 8574`` (15100.8–16999.8 A);
* ``"aspcap"`` — the same pixels with the chip gaps and ends removed, 7514 pixels
  (apStar pixels 246–3273, 3585–6079, 6344–8334; the DR14+ aspcapStar/astroNN grid);
* ``"payne"`` — the 7214-pixel grid of The Payne / binspec (apStar pixels 322–3241,
  3648–6047, 6412–8305);
* or any increasing array of wavelengths (then spectra are resampled).

Pixels become missing (flux and error set to NaN, so :meth:`starlux.data.Output.create`
gives them zero weight) when a bad bit of the APOGEE pixel bitmask is set, or when the
target grid reaches outside the file's coverage. Zero flux, non-finite values and
errors, and the inverse variance < 0.1 rule are applied afterwards by
:class:`~starlux.data.Output` in the normalised units where they are defined.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..data import DataError, Output
from ._fitsutil import hdu_array, header_value, open_fits
from .errors import FileFormatError
from .formats import format_name, format_suffixes

__all__ = [
    "APSTAR_NPIX", "APOGEE_PIXMASK", "DEFAULT_BAD_BITS", "Spectra",
    "apogee_wavelength", "grid_pixels", "remove_chip_gaps", "chip_index",
    "read_apstar", "read_aspcapstar", "read_apvisit", "read_apogee_spectrum",
    "read_apogee_spectra", "expand_paths", "to_grid", "resample", "target_grid",
]

C_KMS = 299792.458
APSTAR_CRVAL1 = 4.179
APSTAR_CDELT1 = 6e-6
APSTAR_NPIX = 8575

_CHIPS: dict[str, tuple[tuple[int, int], ...]] = {
    "aspcap": ((246, 3274), (3585, 6080), (6344, 8335)),
    "payne": ((322, 3242), (3648, 6048), (6412, 8306)),
}
# apStar pixels splitting the three detectors (middles of the two chip gaps).
_CHIP_SPLIT_PIXELS = (3429, 6211)

APOGEE_PIXMASK: dict[int, str] = {
    0: "BADPIX", 1: "CRPIX", 2: "SATPIX", 3: "UNFIXABLE", 4: "BADDARK", 5: "BADFLAT",
    6: "BADERR", 7: "NOSKY", 8: "LITTROW_GHOST", 9: "PERSIST_HIGH", 10: "PERSIST_MED",
    11: "PERSIST_LOW", 12: "SIG_SKYLINE", 13: "SIG_TELLURIC", 14: "NOT_ENOUGH_PSF",
}
"""APOGEE_PIXMASK bit numbers and names (apStar HDU3, apVisit HDU3)."""

DEFAULT_BAD_BITS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 12)
"""Bits that make a pixel missing by default: detector/reduction failures
(BADPIX … NOSKY) and SIG_SKYLINE. Persistence, Littrow-ghost and telluric bits only
warn and are kept."""

GridSpec = str | np.ndarray | Sequence[float]
Kind = Literal["apStar", "aspcapStar", "apVisit"]
_ID_RE = re.compile(r"(2M\d{8}[+-]\d{7})")


def apogee_wavelength(grid: str = "apstar") -> np.ndarray:
    """(L,) vacuum wavelengths in Angstrom of a named APOGEE grid (see module doc)."""
    pix = grid_pixels(grid)
    return 10.0 ** (APSTAR_CRVAL1 + APSTAR_CDELT1 * pix)


def grid_pixels(grid: str = "apstar") -> np.ndarray:
    """(L,) apStar pixel indices (0 … 8574) that make up a named grid."""
    if grid == "apstar":
        return np.arange(APSTAR_NPIX)
    if grid not in _CHIPS:
        raise DataError(f"unknown APOGEE grid {grid!r}; use 'apstar', 'aspcap' or 'payne'")
    return np.concatenate([np.arange(a, b) for a, b in _CHIPS[grid]])


def remove_chip_gaps(x: np.ndarray, grid: str = "aspcap") -> np.ndarray:
    """``x[..., 8575]`` on the apStar grid -> ``x[..., 7514]`` (or 7214 for ``"payne"``)."""
    x = np.asarray(x)
    if x.shape[-1] != APSTAR_NPIX:
        raise DataError(f"remove_chip_gaps: last axis has {x.shape[-1]} pixels, "
                        f"expected {APSTAR_NPIX} (the apStar grid)")
    return x[..., grid_pixels(grid)]


def chip_index(wavelength: np.ndarray) -> np.ndarray:
    """(L,) detector of each wavelength: 0 blue, 1 green, 2 red (split in the chip gaps)."""
    lw = np.log10(np.asarray(wavelength, dtype=np.float64))
    splits = APSTAR_CRVAL1 + APSTAR_CDELT1 * np.asarray(_CHIP_SPLIT_PIXELS)
    return np.searchsorted(splits, lw).astype(int)


def target_grid(grid: GridSpec) -> np.ndarray:
    """Wavelengths (Angstrom) for a grid name, an array, or a file holding one.

    A file may be ``.npz`` (key ``wavelength``, ``wave`` or the only array), ``.npy``
    or text (first column).
    """
    if isinstance(grid, str) and grid in ("apstar", "aspcap", "payne"):
        return apogee_wavelength(grid)
    if isinstance(grid, (str, os.PathLike)):
        p = Path(grid)
        if not p.exists():
            raise FileFormatError(f"{p}: no such wavelength-grid file (or use a grid name: "
                                  "'apstar', 'aspcap', 'payne')")
        try:
            if format_name(p) == "npz":
                with np.load(p, allow_pickle=False) as f:
                    keys = [k for k in ("wavelength", "wave", "wl") if k in f.files]
                    if not keys and len(f.files) != 1:
                        raise FileFormatError(f"{p}: no 'wavelength' array (has {f.files})")
                    w = f[keys[0] if keys else f.files[0]]
            elif format_name(p) == "npy":
                w = np.load(p, allow_pickle=False)
            else:
                w = np.loadtxt(p, ndmin=2)[:, 0]
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"{p}: cannot read a wavelength grid ({exc})") from None
        source = str(p)
    else:
        w, source = grid, "wavelength grid"
    w = np.asarray(w, dtype=np.float64).ravel()
    if w.size < 2 or not np.all(np.isfinite(w)) or np.any(np.diff(w) <= 0):
        raise FileFormatError(f"{source}: wavelengths must be finite and strictly increasing")
    return w


@dataclass(frozen=True, eq=False)
class Spectra:
    """N spectra on one wavelength grid, as read from survey files.

    Attributes:
        flux: (N, L) flux (raw apStar/apVisit units, 1e-17 erg/s/cm^2/A, until
            normalised; continuum-normalised for aspcapStar). NaN where missing.
        flux_err: (N, L) 1-sigma errors in the same units. NaN where missing.
        wavelength: (L,) vacuum Angstrom.
        ids: (N,) APOGEE_IDs (str).
        files: (N,) source file of each spectrum.
        kinds: (N,) ``"apStar"``, ``"aspcapStar"`` or ``"apVisit"``.
        normalized: (N,) True where the flux is continuum-normalised.
        mask_summary: pixels made missing by the reader, by reason.
        meta: further per-object arrays (``snr``, ``nvisits``, ``gaia_source_id`` ...).
    """

    flux: np.ndarray
    flux_err: np.ndarray
    wavelength: np.ndarray
    ids: np.ndarray
    files: np.ndarray
    kinds: np.ndarray
    normalized: np.ndarray
    mask_summary: dict[str, int] = field(default_factory=dict)
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.flux.shape[0]

    def __len__(self) -> int:
        return self.n

    def to_output(self, label: str = "flux") -> Output:
        """The spectra as a ``spectrum``-kind :class:`Output` (missing-entry rules applied)."""
        return Output.create(self.flux, self.flux_err, kind="spectrum",
                             wavelength=self.wavelength, label=label)

    def take(self, index: np.ndarray) -> Spectra:
        """Spectra ``index`` (integer or boolean array); the mask summary is kept."""
        index = np.asarray(index)
        return Spectra(
            flux=self.flux[index], flux_err=self.flux_err[index], wavelength=self.wavelength,
            ids=self.ids[index], files=self.files[index], kinds=self.kinds[index],
            normalized=self.normalized[index], mask_summary=dict(self.mask_summary),
            meta={k: np.asarray(v)[index] for k, v in self.meta.items()},
        )

    def replace(self, **changes: object) -> Spectra:
        """A copy with some fields replaced."""
        kw = {k: getattr(self, k) for k in self.__dataclass_fields__}
        kw.update(changes)
        return Spectra(**kw)  # type: ignore[arg-type]

    @staticmethod
    def concatenate(items: Sequence[Spectra]) -> Spectra:
        """Stack spectra that share one wavelength grid; mask summaries are added."""
        if not items:
            raise DataError("no spectra to concatenate")
        wl = items[0].wavelength
        for s in items[1:]:
            if s.wavelength.shape != wl.shape or not np.allclose(s.wavelength, wl,
                                                                 rtol=1e-10, atol=0):
                raise DataError(f"{s.files[0]}: wavelength grid ({s.wavelength.size} px) "
                                f"differs from {items[0].files[0]} ({wl.size} px)")
        summary: dict[str, int] = {}
        for s in items:
            for k, v in s.mask_summary.items():
                summary[k] = summary.get(k, 0) + v
        meta_keys = set().union(*(s.meta for s in items))
        meta = {}
        for k in sorted(meta_keys):
            cols = [np.asarray(s.meta[k]) if k in s.meta else _missing_meta(s.n, items, k)
                    for s in items]
            meta[k] = np.concatenate(cols)
        return Spectra(
            flux=np.concatenate([s.flux for s in items]),
            flux_err=np.concatenate([s.flux_err for s in items]),
            wavelength=wl,
            ids=np.concatenate([s.ids for s in items]),
            files=np.concatenate([s.files for s in items]),
            kinds=np.concatenate([s.kinds for s in items]),
            normalized=np.concatenate([s.normalized for s in items]),
            mask_summary=summary, meta=meta,
        )


def _missing_meta(n: int, items: Sequence[Spectra], key: str) -> np.ndarray:
    ref = next(np.asarray(s.meta[key]) for s in items if key in s.meta)
    if ref.dtype.kind in "iu":
        return np.full(n, -1, dtype=ref.dtype)
    if ref.dtype.kind == "f":
        return np.full(n, np.nan)
    return np.full(n, "", dtype=ref.dtype)


# --------------------------------------------------------------------------- readers


def _bad_pixels(bitmask: np.ndarray, bad_bits: Iterable[int]) -> np.ndarray:
    value = 0
    for b in bad_bits:
        value |= 1 << int(b)
    return (np.asarray(bitmask).astype(np.int64) & value) != 0


def _object_id(hdul: object, path: Path) -> str:
    oid = header_value(hdul, ("OBJID", "APOGEE_ID", "OBJECT", "TMASS_ID"))  # type: ignore[arg-type]
    if oid:
        return str(oid).strip()
    m = _ID_RE.search(path.name)
    if m:
        return m.group(1)
    raise FileFormatError(f"{path}: no object id (no OBJID / APOGEE_ID header keyword, "
                          "and none in the file name)")


def _gaia_meta(hdul: object) -> dict[str, np.ndarray]:
    g = header_value(hdul, ("GAIAEDR3_SOURCE_ID", "GAIADR3_SOURCE_ID",  # type: ignore[arg-type]
                            "GAIA_DR3_SOURCE_ID", "DR3_SOURCE_ID"))
    try:
        return {"gaia_source_id": np.array([int(g)], dtype=np.int64)} if g else {}
    except (TypeError, ValueError):
        return {}


def _single(path: Path, flux: np.ndarray, err: np.ndarray, wavelength: np.ndarray, oid: str,
            kind: Kind, normalized: bool, summary: dict[str, int],
            meta: dict[str, np.ndarray]) -> Spectra:
    return Spectra(
        flux=flux[None, :], flux_err=err[None, :], wavelength=wavelength,
        ids=np.array([oid]), files=np.array([str(path)]), kinds=np.array([kind]),
        normalized=np.array([normalized]), mask_summary=summary, meta=meta,
    )


def _apply_bitmask(flux: np.ndarray, err: np.ndarray, bitmask: np.ndarray | None,
                   bad_bits: Iterable[int]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    flux = np.array(flux, dtype=np.float64)
    err = np.array(err, dtype=np.float64)
    n_bad = 0
    if bitmask is not None:
        bad = _bad_pixels(bitmask, bad_bits) & (np.isfinite(flux) & np.isfinite(err))
        n_bad = int(bad.sum())
        flux[bad] = np.nan
        err[bad] = np.nan
    return flux, err, {"bitmask": n_bad}


def _log_linear_grid(hdul: object, npix: int, path: Path) -> np.ndarray:
    crval = header_value(hdul, ("CRVAL1",), APSTAR_CRVAL1)  # type: ignore[arg-type]
    cdelt = header_value(hdul, ("CDELT1", "CD1_1"), APSTAR_CDELT1)  # type: ignore[arg-type]
    crpix = header_value(hdul, ("CRPIX1",), 1)  # type: ignore[arg-type]
    try:
        crval, cdelt, crpix = float(crval), float(cdelt), float(crpix)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FileFormatError(f"{path}: CRVAL1/CDELT1 header values are not numbers") from None
    return 10.0 ** (crval + cdelt * (np.arange(npix) - (crpix - 1)))


def read_apstar(path: str | os.PathLike, *, row: int = 0,
                bad_bits: Iterable[int] = DEFAULT_BAD_BITS) -> Spectra:
    """Read one spectrum row of an apStar file (DR16/DR17 layout) on its own grid.

    HDU1 flux, HDU2 error, HDU3 pixel bitmask, each (NROW, 8575) or (8575,). Row 0 is
    the combined spectrum (row 1 the alternative combination, rows 2+ the visits when
    NVISITS > 1). Pixels with a ``bad_bits`` bit set become NaN. Flux is not normalised.
    """
    path = Path(path)
    with open_fits(path) as hdul:
        flux = hdu_array(hdul, 1, path, "flux")
        err = hdu_array(hdul, 2, path, "flux error")
        mask = hdu_array(hdul, 3, path, "pixel bitmask", dtype=np.int64)
        for name, a in (("flux error (HDU2)", err), ("bitmask (HDU3)", mask)):
            if a.shape != flux.shape:
                raise FileFormatError(f"{path}: {name} has shape {a.shape}, "
                                      f"flux (HDU1) has {flux.shape}")
        if flux.ndim == 1:
            flux, err, mask = flux[None], err[None], mask[None]
        if flux.ndim != 2:
            raise FileFormatError(f"{path}: flux (HDU1) must be 1-D or 2-D, got {flux.shape}")
        if not 0 <= row < flux.shape[0]:
            raise FileFormatError(f"{path}: row {row} requested but the file has "
                                  f"{flux.shape[0]} spectrum rows")
        wavelength = _log_linear_grid(hdul, flux.shape[1], path)
        oid = _object_id(hdul, path)
        meta = {"snr": np.array([float(header_value(hdul, ("SNR",), np.nan))]),
                "nvisits": np.array([int(header_value(hdul, ("NVISITS",), -1))])}
        meta.update(_gaia_meta(hdul))
    f, e, summary = _apply_bitmask(flux[row], err[row], mask[row], bad_bits)
    return _single(path, f, e, wavelength, oid, "apStar", False, summary, meta)


def read_aspcapstar(path: str | os.PathLike) -> Spectra:
    """Read an aspcapStar file: continuum-normalised flux (HDU1) and error (HDU2).

    The grid is taken from the pixel count — 8575 (DR16/17, apStar grid), 7514
    (DR14 ``aspcap`` grid) or 7214 (``payne`` grid) — or else from CRVAL1/CDELT1.
    """
    path = Path(path)
    with open_fits(path) as hdul:
        flux = hdu_array(hdul, 1, path, "normalised flux")
        err = hdu_array(hdul, 2, path, "normalised flux error")
        if flux.ndim == 2 and flux.shape[0] == 1:
            flux = flux[0]
        if err.ndim == 2 and err.shape[0] == 1:
            err = err[0]
        if flux.ndim != 1:
            raise FileFormatError(f"{path}: flux (HDU1) should be one spectrum, got "
                                  f"shape {flux.shape}")
        if err.shape != flux.shape:
            raise FileFormatError(f"{path}: flux error (HDU2) has shape {err.shape}, "
                                  f"flux (HDU1) has {flux.shape}")
        npix = flux.shape[0]
        names = {APSTAR_NPIX: "apstar", 7514: "aspcap", 7214: "payne"}
        if npix in names:
            wavelength = apogee_wavelength(names[npix])
        elif "CRVAL1" in hdul[1].header or "CRVAL1" in hdul[0].header:
            wavelength = _log_linear_grid(hdul, npix, path)
        else:
            raise FileFormatError(f"{path}: {npix} pixels is not a known APOGEE grid "
                                  "(8575, 7514, 7214) and there is no CRVAL1/CDELT1")
        oid = _object_id(hdul, path)
        meta = {"snr": np.array([float(header_value(hdul, ("SNR",), np.nan))])}
        meta.update(_gaia_meta(hdul))
    f, e, summary = _apply_bitmask(flux, err, None, ())
    return _single(path, f, e, wavelength, oid, "aspcapStar", True, summary, meta)


def read_apvisit(path: str | os.PathLike, *, bad_bits: Iterable[int] = DEFAULT_BAD_BITS,
                 rest_frame: bool = True) -> Spectra:
    """Read an apVisit file: 3 chips x 4096 pixels, wavelengths from HDU4.

    Pixels are sorted into increasing wavelength. With ``rest_frame`` the wavelengths
    are shifted by the visit's relative radial velocity (header VRAD, or VREL in the
    visit table): ``lambda_rest = lambda_obs / (1 + v/c)``. The returned grid is the
    file's own (irregular); :func:`to_grid` resamples it.
    """
    path = Path(path)
    with open_fits(path) as hdul:
        flux = hdu_array(hdul, 1, path, "flux")
        err = hdu_array(hdul, 2, path, "flux error")
        mask = hdu_array(hdul, 3, path, "pixel bitmask", dtype=np.int64)
        wave = hdu_array(hdul, 4, path, "wavelength array")
        for name, a in (("flux error (HDU2)", err), ("bitmask (HDU3)", mask),
                        ("wavelength (HDU4)", wave)):
            if a.shape != flux.shape:
                raise FileFormatError(f"{path}: {name} has shape {a.shape}, "
                                      f"flux (HDU1) has {flux.shape}")
        oid = _object_id(hdul, path)
        v = header_value(hdul, ("VRAD", "VREL"))
        if v is None:
            for hdu in hdul[5:]:
                names = getattr(getattr(hdu, "columns", None), "names", []) or []
                if "VREL" in names:
                    v = hdu.data["VREL"][0]
                    break
        meta = {"snr": np.array([float(header_value(hdul, ("SNR",), np.nan))])}
        meta.update(_gaia_meta(hdul))
    wave = wave.ravel()
    if not np.all(np.isfinite(wave)):
        raise FileFormatError(f"{path}: wavelength array (HDU4) has non-finite values")
    if rest_frame:
        try:
            v = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            v = np.nan
        if not np.isfinite(v):
            raise FileFormatError(f"{path}: no radial velocity (VRAD/VREL) to shift the "
                                  "visit to the rest frame (build-dataset needs it; in Python, "
                                  "rest_frame=False keeps the observed frame)")
        wave = wave / (1.0 + v / C_KMS)
        meta["vrel"] = np.array([v])
    order = np.argsort(wave, kind="stable")
    f, e, summary = _apply_bitmask(flux.ravel()[order], err.ravel()[order],
                                   mask.ravel()[order], bad_bits)
    return _single(path, f, e, wave[order], oid, "apVisit", False, summary, meta)


def _sniff_kind(path: Path) -> Kind:
    name = path.name.lower()
    if name.startswith(("apstar", "asstar")):
        return "apStar"
    if name.startswith("aspcapstar"):
        return "aspcapStar"
    if name.startswith(("apvisit", "asvisit")):
        return "apVisit"
    with open_fits(path) as hdul:
        shapes = [None if h.data is None or not hasattr(h.data, "shape")
                  or getattr(h, "columns", None) is not None else h.data.shape
                  for h in hdul]
        dtypes = [getattr(h.data, "dtype", None) for h in hdul]
    if len(shapes) > 4 and shapes[1] is not None and len(shapes[1]) == 2 \
            and shapes[4] == shapes[1] and shapes[1][0] == 3:
        return "apVisit"
    if len(shapes) > 3 and shapes[1] is not None and shapes[3] == shapes[1] \
            and dtypes[3] is not None and dtypes[3].kind in "iu":
        return "apStar"
    if len(shapes) > 2 and shapes[1] is not None and shapes[2] == shapes[1]:
        return "aspcapStar"
    raise FileFormatError(f"{path}: not an APOGEE apStar, aspcapStar or apVisit file "
                          f"(HDU shapes {shapes[:5]})")


def read_apogee_spectrum(path: str | os.PathLike, *, kind: str = "auto", row: int = 0,
                         bad_bits: Iterable[int] = DEFAULT_BAD_BITS,
                         rest_frame: bool = True) -> Spectra:
    """Read one APOGEE file of any supported kind on its own grid.

    ``kind="auto"`` decides from the file name (apStar*/aspcapStar*/apVisit*) or, for
    other names, from the HDU layout.
    """
    path = Path(path)
    k = _sniff_kind(path) if kind == "auto" else kind
    if k == "apStar":
        return read_apstar(path, row=row, bad_bits=bad_bits)
    if k == "aspcapStar":
        return read_aspcapstar(path)
    if k == "apVisit":
        return read_apvisit(path, bad_bits=bad_bits, rest_frame=rest_frame)
    raise DataError(f"unknown APOGEE file kind {kind!r}; use apStar, aspcapStar, apVisit "
                    "or auto")


# ------------------------------------------------------------------- grids, resampling


def _apstar_index(wavelength: np.ndarray) -> np.ndarray | None:
    """apStar pixel index of each wavelength, or None if any is off the apStar grid."""
    x = (np.log10(wavelength) - APSTAR_CRVAL1) / APSTAR_CDELT1
    i = np.rint(x)
    if np.all(np.abs(x - i) < 1e-3) and i.min() >= 0 and i.max() < APSTAR_NPIX:
        return i.astype(int)
    return None


def resample(wave_in: np.ndarray, flux: np.ndarray, err: np.ndarray,
             wave_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation (in log wavelength) of one spectrum onto ``wave_out``.

    Args:
        wave_in: (L_in,) increasing wavelengths, Angstrom.
        flux, err: (L_in,) flux and 1-sigma error; NaN / non-positive error = missing.
        wave_out: (L_out,) target wavelengths, Angstrom.

    Returns:
        (L_out,) flux and error. An output pixel is missing (NaN) when it lies outside
        the input coverage, when either neighbouring input pixel is missing, or when
        the neighbours are more than 3 median pixel spacings apart (a chip gap). Errors
        are interpolated linearly too (the correlation this adds is ignored).
    """
    x_in = np.log10(np.asarray(wave_in, dtype=np.float64))
    x_out = np.log10(np.asarray(wave_out, dtype=np.float64))
    flux = np.asarray(flux, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    good = np.isfinite(flux) & np.isfinite(err) & (err > 0)
    j = np.searchsorted(x_in, x_out, side="right") - 1
    inside = (j >= 0) & (j < x_in.size - 1)
    exact_last = x_out == x_in[-1]
    jj = np.clip(j, 0, x_in.size - 2)
    dx = x_in[jj + 1] - x_in[jj]
    step = np.median(np.diff(x_in))
    t = np.where(dx > 0, (x_out - x_in[jj]) / np.where(dx > 0, dx, 1.0), 0.0)
    ok = inside & good[jj] & good[jj + 1] & (dx <= 3 * step)
    f0, f1 = np.where(good, flux, 0.0)[jj], np.where(good, flux, 0.0)[jj + 1]
    e0, e1 = np.where(good, err, 0.0)[jj], np.where(good, err, 0.0)[jj + 1]
    f_out = np.where(ok, (1 - t) * f0 + t * f1, np.nan)
    e_out = np.where(ok, (1 - t) * e0 + t * e1, np.nan)
    last = exact_last & good[-1]
    f_out[last] = flux[-1]
    e_out[last] = err[-1]
    return f_out, e_out


def to_grid(spec: Spectra, wavelength: np.ndarray, *, resample_ok: bool = False) -> Spectra:
    """Put spectra on the grid ``wavelength`` (Angstrom).

    Grids that are both subsets of the apStar grid are matched pixel by pixel (no
    interpolation; target pixels the file lacks become missing). Any other grid is
    linearly resampled if ``resample_ok`` (apVisit spectra always are), else a
    :class:`FileFormatError` names the file.
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    if spec.wavelength.shape == wavelength.shape and np.allclose(
            spec.wavelength, wavelength, rtol=1e-9, atol=0):
        return spec.replace(wavelength=wavelength)
    summary = dict(spec.mask_summary)
    src_idx, dst_idx = _apstar_index(spec.wavelength), _apstar_index(wavelength)
    if src_idx is not None and dst_idx is not None:
        lookup = np.full(APSTAR_NPIX, -1)
        lookup[src_idx] = np.arange(src_idx.size)
        pos = lookup[dst_idx]
        have = pos >= 0
        flux = np.full((spec.n, wavelength.size), np.nan)
        err = np.full((spec.n, wavelength.size), np.nan)
        flux[:, have] = spec.flux[:, pos[have]]
        err[:, have] = spec.flux_err[:, pos[have]]
        key = "outside the file's pixels"
        summary[key] = summary.get(key, 0) + int((~have).sum()) * spec.n
        return spec.replace(flux=flux, flux_err=err, wavelength=wavelength,
                            mask_summary=summary)
    if not (resample_ok or np.all(spec.kinds == "apVisit")):
        w = spec.wavelength
        raise FileFormatError(
            f"{spec.files[0]}: wavelength grid ({w.size} px, {w[0]:.2f}-{w[-1]:.2f} A) is "
            f"not the target grid ({wavelength.size} px, {wavelength[0]:.2f}-"
            f"{wavelength[-1]:.2f} A) and resampling is off (use --resample; in Python "
            "resample=True)")
    flux = np.empty((spec.n, wavelength.size))
    err = np.empty_like(flux)
    for i in range(spec.n):
        flux[i], err[i] = resample(spec.wavelength, spec.flux[i], spec.flux_err[i], wavelength)
    key = "missing after resampling (any reason, on the target grid)"
    summary[key] = summary.get(key, 0) + int(np.count_nonzero(~np.isfinite(flux)))
    return spec.replace(flux=flux, flux_err=err, wavelength=wavelength, mask_summary=summary)


# --------------------------------------------------------------------------- many files


_GLOB_CHARS = set("*?[")
_FITS_SUFFIXES = format_suffixes("fits")


def expand_paths(sources: str | os.PathLike | Iterable[str | os.PathLike],
                 suffixes: tuple[str, ...] = _FITS_SUFFIXES) -> list[Path]:
    """Paths from a path, a glob pattern, a directory, or a list of those (sorted per glob).

    A pattern matching nothing, or a path that does not exist, raises
    :class:`FileFormatError` naming it.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    out: list[Path] = []
    for s in sources:
        s = str(s)
        if _GLOB_CHARS & set(s):
            hits = sorted(glob.glob(s))
            if not hits:
                raise FileFormatError(f"{s}: no files match this pattern")
            out.extend(Path(h) for h in hits)
        elif Path(s).is_dir():
            hits = sorted(p for p in Path(s).iterdir()
                          if p.is_file() and p.name.lower().endswith(suffixes))
            if not hits:
                raise FileFormatError(f"{s}: directory holds no {'/'.join(suffixes)} files")
            out.extend(hits)
        else:
            if not Path(s).exists():
                raise FileFormatError(f"{s}: no such file")
            out.append(Path(s))
    return out


def read_apogee_spectra(
    sources: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    grid: GridSpec = "apstar",
    resample: bool = False,
    kind: str = "auto",
    row: int = 0,
    bad_bits: Iterable[int] = DEFAULT_BAD_BITS,
    rest_frame: bool = True,
    on_duplicate: Literal["error", "first", "keep"] = "error",
) -> Spectra:
    """Read APOGEE spectra from paths, globs, directories or a list into one grid.

    Args:
        sources: file(s), glob pattern(s) or directories.
        grid: ``"apstar"`` (8575 px), ``"aspcap"`` (7514 px, chip gaps removed),
            ``"payne"`` (7214 px), a wavelength array (Angstrom) or a file holding one.
        resample: allow linear resampling of spectra whose grid is not a pixel subset
            of the target (apVisit spectra are always resampled).
        kind, row, bad_bits, rest_frame: see :func:`read_apogee_spectrum`.
        on_duplicate: two files of the same APOGEE_ID -> ``"error"`` (default), keep the
            ``"first"``, or ``"keep"`` both (e.g. several visits of one star).

    Returns:
        :class:`Spectra` with N = number of files (minus dropped duplicates).

    Raises:
        FileFormatError: a file that cannot be read, with its path and the reason.
        DataError: a spectrum with every pixel missing, or duplicated ids.
    """
    paths = expand_paths(sources)
    bad_bits = tuple(bad_bits)
    wl = target_grid(grid)
    items: list[Spectra] = []
    seen: dict[str, Path] = {}
    for p in paths:
        s = read_apogee_spectrum(p, kind=kind, row=row, bad_bits=bad_bits,
                                 rest_frame=rest_frame)
        oid = str(s.ids[0])
        if oid in seen and on_duplicate != "keep":
            if on_duplicate == "first":
                continue
            raise DataError(f"{p}: APOGEE_ID {oid} duplicates {seen[oid]} (use "
                            "--on-duplicate first; in Python on_duplicate='first' or 'keep')")
        seen.setdefault(oid, p)
        s = to_grid(s, wl, resample_ok=resample)
        usable = np.isfinite(s.flux) & np.isfinite(s.flux_err) & (s.flux_err > 0) \
            & (s.flux != 0)
        if not usable.any():
            raise DataError(f"{p}: every pixel of the spectrum (row {row}) is missing "
                            f"(reader mask: {s.mask_summary})")
        items.append(s)
    return Spectra.concatenate(items)
