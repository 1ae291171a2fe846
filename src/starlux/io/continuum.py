"""Continuum normalisation of APOGEE spectra (apStar / apVisit), per detector chip.

Two methods, both fitting a low-order Chebyshev polynomial in wavelength separately
on each of the three APOGEE chips, weighted by 1/error:

* ``"pixels"`` (default, Cannon-style): fit only to a fixed list of continuum pixels —
  the astroNN DR17 continuum mask (532 pixels, default) or The Cannon's 529 pixels on
  the 7214-pixel grid (``continuum="cannon"``), or any boolean mask you give;
* ``"fit"``: fit to all usable pixels, iteratively rejecting pixels more than
  ``lower`` sigma below (absorption lines) or ``upper`` sigma above the median
  residual, sigma being the larger of the robust scatter and the typical noise.

Flux and error are both divided by the continuum. Where a chip has too few usable
pixels to fit, or the fitted continuum is not positive, the pixels become missing
(NaN) and are counted in the returned summary; nothing is extrapolated.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Literal

import numpy as np
from numpy.polynomial import chebyshev

from ..data import DataError
from .apogee import APSTAR_CDELT1, APSTAR_CRVAL1, Spectra, chip_index, grid_pixels

__all__ = ["continuum_mask", "fit_continuum", "normalize", "normalize_spectra"]

Method = Literal["pixels", "fit"]


@lru_cache(maxsize=4)
def _packaged_mask(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(apStar pixel indices of the grid, bool mask on that grid) for a packaged mask."""
    keys = {"astronn-dr17": ("astronn_dr17_7514", "aspcap"),
            "cannon": ("cannon_7214", "payne")}
    if name not in keys:
        raise DataError(f"unknown continuum mask {name!r}; use 'astronn-dr17' or 'cannon'")
    key, grid = keys[name]
    ref = resources.files("starlux.io").joinpath("resources/apogee_continuum.npz")
    with ref.open("rb") as fh, np.load(fh) as f:
        mask = np.unpackbits(f[key])[: int(f[key + "_n"])].astype(bool)
    return grid_pixels(grid), mask


def continuum_mask(wavelength: np.ndarray, source: str | np.ndarray = "astronn-dr17"
                   ) -> np.ndarray:
    """(L,) True at continuum pixels of the grid ``wavelength`` (Angstrom).

    ``source`` is a packaged mask name (``"astronn-dr17"``, ``"cannon"``) or an (L,)
    boolean array already on this grid. Packaged masks are carried to any grid by
    nearest apStar pixel (within half a pixel).
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    if not isinstance(source, str):
        m = np.asarray(source, dtype=bool).ravel()
        if m.shape != wavelength.shape:
            raise DataError(f"continuum mask has {m.size} pixels, the grid has "
                            f"{wavelength.size}")
        return m
    pix, mask = _packaged_mask(source)
    on_apstar = np.zeros(int(pix.max()) + 1, dtype=bool)
    on_apstar[pix[mask]] = True
    x = (np.log10(wavelength) - APSTAR_CRVAL1) / APSTAR_CDELT1
    i = np.rint(x).astype(int)
    ok = (np.abs(x - i) <= 0.5) & (i >= 0) & (i < on_apstar.size)
    out = np.zeros(wavelength.shape, dtype=bool)
    out[ok] = on_apstar[i[ok]]
    return out


def _usable(flux: np.ndarray, err: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(flux) & np.isfinite(err) & (err > 0) & (flux != 0)


def fit_continuum(
    flux: np.ndarray,
    err: np.ndarray,
    wavelength: np.ndarray,
    *,
    method: Method = "pixels",
    mask: str | np.ndarray = "astronn-dr17",
    degree: int = 2,
    min_pixels: int = 20,
    lower: float = 1.0,
    upper: float = 3.0,
    max_iter: int = 5,
) -> tuple[np.ndarray, dict[str, int]]:
    """Fit the continuum of each spectrum, per chip.

    Args:
        flux, err: (N, L) raw flux and 1-sigma error (NaN / non-positive err = missing).
        wavelength: (L,) Angstrom.
        method: ``"pixels"`` or ``"fit"`` (module doc).
        mask: continuum pixels for ``"pixels"`` (see :func:`continuum_mask`).
        degree: Chebyshev degree per chip.
        min_pixels: fewest usable pixels a chip needs to be fitted.
        lower, upper: rejection thresholds (in robust sigma) for ``"fit"``.

    Returns:
        (N, L) continuum (NaN on chips that could not be fitted) and a summary
        ``{"chips not fitted": ...}``.
    """
    flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
    err = np.atleast_2d(np.asarray(err, dtype=np.float64))
    wavelength = np.asarray(wavelength, dtype=np.float64)
    if flux.shape != err.shape or flux.shape[1] != wavelength.size:
        raise DataError(f"fit_continuum: flux {flux.shape}, err {err.shape} and "
                        f"wavelength ({wavelength.size},) do not agree")
    if method not in ("pixels", "fit"):
        raise DataError(f"unknown continuum method {method!r}; use 'pixels' or 'fit'")
    chips = chip_index(wavelength)
    cmask = continuum_mask(wavelength, mask) if method == "pixels" else None
    usable = _usable(flux, err)
    cont = np.full(flux.shape, np.nan)
    n_failed = 0
    for c in np.unique(chips):
        cols = chips == c
        w = wavelength[cols]
        x = (w - w.min()) / max(w.max() - w.min(), 1e-12) * 2 - 1
        for i in range(flux.shape[0]):
            sel = usable[i, cols].copy()
            if cmask is not None:
                sel &= cmask[cols]
            y, e = flux[i, cols], err[i, cols]
            coef = None
            for _ in range(max_iter if method == "fit" else 1):
                if sel.sum() < max(min_pixels, degree + 1):
                    break  # keep the last good fit, if any
                coef = chebyshev.chebfit(x[sel], y[sel], degree, w=1.0 / e[sel])
                if method == "pixels":
                    break
                model = chebyshev.chebval(x, coef)
                with np.errstate(divide="ignore", invalid="ignore"):
                    r = y / model - 1.0
                    noise = np.median((e / np.abs(model))[sel])
                rs = r[sel]
                centre = np.median(rs)
                sigma = max(1.4826 * np.median(np.abs(rs - centre)), noise)
                if not np.isfinite(sigma) or sigma == 0:
                    break
                new = usable[i, cols] & (r - centre > -lower * sigma) \
                    & (r - centre < upper * sigma)
                if np.array_equal(new, sel):
                    break
                sel = new
            if coef is None:
                n_failed += 1
                continue
            cont[i, cols] = chebyshev.chebval(x, coef)
    return cont, {"chips not fitted": n_failed}


def normalize(
    flux: np.ndarray, err: np.ndarray, wavelength: np.ndarray, **kwargs: object
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Continuum-normalise: (N, L) flux / continuum and err / continuum.

    Keyword arguments go to :func:`fit_continuum`. Pixels on unfitted chips or where the
    continuum is not positive become NaN; the summary counts them.
    """
    cont, summary = fit_continuum(flux, err, wavelength, **kwargs)  # type: ignore[arg-type]
    flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
    err = np.atleast_2d(np.asarray(err, dtype=np.float64))
    bad = ~(np.isfinite(cont) & (cont > 0))
    was_usable = _usable(flux, err)
    with np.errstate(divide="ignore", invalid="ignore"):
        nf = np.where(bad, np.nan, flux / cont)
        ne = np.where(bad, np.nan, err / cont)
    summary = dict(summary)
    summary["continuum not fitted or <= 0"] = int(np.count_nonzero(bad & was_usable))
    return nf, ne, summary


def normalize_spectra(spec: Spectra, *, force: bool = False, **kwargs: object) -> Spectra:
    """Normalise the spectra not yet normalised (all of them if ``force``).

    aspcapStar spectra are already normalised and are left as they are.
    """
    todo = np.ones(spec.n, dtype=bool) if force else ~spec.normalized
    if not todo.any():
        return spec
    nf, ne, summary = normalize(spec.flux[todo], spec.flux_err[todo], spec.wavelength,
                                **kwargs)
    flux, err = spec.flux.copy(), spec.flux_err.copy()
    flux[todo], err[todo] = nf, ne
    ms = dict(spec.mask_summary)
    for k, v in summary.items():
        ms[k] = ms.get(k, 0) + v
    normalized = spec.normalized.copy()
    normalized[todo] = True
    return spec.replace(flux=flux, flux_err=err, normalized=normalized, mask_summary=ms)
