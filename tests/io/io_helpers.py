"""Shared helpers for the survey I/O tests: where the real data are, small file makers."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from starlux.data import Dataset, Output
from tests.conftest import SHARED_DATA as SHARED
from tests.conftest import shared_data_reason


def shared(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test when it is not there."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(shared_data_reason(p))
    return p


APSTAR_REAL = ("apogee-real-spectra", "apStar-dr17-2M19485057+5005279.fits")
APSTAR_REAL_3VISITS = ("apogee-real-spectra", "apStar-dr17-2M17335483-2753043.fits")
ALLSTAR = ("apogee-label-catalogs", "Apogee_data_filtered_1612.fits")
GALAH = ("apogee-label-catalogs", "Galah_data_filtered_1061.fits")

# Three of the 12 stars that are in both the DR17 and the GALAH DR3 tables.
OVERLAP_IDS = ("2M08390607+2247353", "2M00542539-0116336", "2M22512911+0730335")


def synthetic_flux(npix: int = 8575, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A raw-looking spectrum: a sloped continuum (~800) times absorption lines."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-1, 1, npix)
    cont = 800 * (1 + 0.1 * x - 0.05 * x**2)
    lines = np.ones(npix)
    for c in rng.integers(0, npix, 150):
        lines *= 1 - 0.3 * np.exp(-0.5 * ((np.arange(npix) - c) / 2.0) ** 2)
    flux = cont * lines
    err = np.sqrt(flux) * 0.2 + 1.0
    return flux + rng.normal(0, 1, npix) * err * 0.1, err


def make_apstar(path: Path, objid: str, *, seed: int = 0, crval: float = 4.179,
                bad: tuple[int, ...] = (100, 2000, 5000), bad_bit: int = 0,
                gaps: bool = True, nrow: int = 1) -> Path:
    """Write a small DR17-layout apStar file (flux, error, bitmask HDUs)."""
    flux, err = synthetic_flux(seed=seed)
    mask = np.zeros(8575, dtype=np.int64)
    mask[list(bad)] = 1 << bad_bit
    if gaps:  # apStar files carry NaN / 0 outside the three chips
        for a, b in ((0, 246), (3274, 3585), (6080, 6344), (8335, 8575)):
            flux[a:b] = np.nan
            err[a:b] = np.nan
    prim = fits.PrimaryHDU()
    prim.header.update({"OBJID": objid, "NVISITS": 1, "SNR": 100.0, "CRVAL1": crval,
                        "CDELT1": 6e-6, "CRPIX1": 1, "NWAVE": 8575})
    hdr = fits.Header({"CRVAL1": crval, "CDELT1": 6e-6, "CRPIX1": 1})

    def rows(a: np.ndarray) -> np.ndarray:
        return np.tile(a, (nrow, 1)) if nrow > 1 else a

    fits.HDUList([
        prim,
        fits.ImageHDU(rows(flux), header=hdr),
        fits.ImageHDU(rows(err), header=hdr),
        fits.ImageHDU(rows(mask), header=hdr),
    ]).writeto(path, overwrite=True)
    return path


def make_aspcapstar(path: Path, objid: str, flux: np.ndarray, err: np.ndarray) -> Path:
    """Write an aspcapStar-like file: normalised flux (HDU1) and error (HDU2)."""
    prim = fits.PrimaryHDU()
    prim.header["OBJID"] = objid
    fits.HDUList([prim, fits.ImageHDU(flux), fits.ImageHDU(err)]).writeto(path, overwrite=True)
    return path


@cache
def set671() -> Dataset:
    """The 671-star AnniesLasso set (100 real pixels, Teff/logg/[M/H]) as a dataset,
    from the copy shipped in the package (so this never skips), with one missing label,
    string ids, an extra per-object array and a second label output ``galah``."""
    from importlib import resources

    with resources.files("starlux").joinpath("sample_data", "apogee_671.npz").open("rb") as fh:
        d = dict(np.load(fh))
    lab = d["label"].copy()
    lab[5, 1] = np.nan  # one missing label
    err = np.abs(d["label"]) * 0.01 + 0.01
    galah = Output.create(lab[:, :1] + 10, np.full((671, 1), 50.0), kind="label",
                          names=["teff_galah"], label="galah")
    base = Dataset.from_arrays(flux=d["flux"], flux_err=d["flux_err"], label=lab,
                               label_err=err, label_names=d["label_names"],
                               wavelength=np.linspace(15200, 15300, 100),
                               ids=np.array([f"star{i:03d}" for i in range(671)]),
                               snr=np.arange(671.0))
    return Dataset(outputs={**base.outputs, "galah": galah}, ids=base.ids, extras=base.extras)


def same_dataset(a: Dataset, b: Dataset, outputs=None) -> None:
    """Assert two datasets hold the same objects, values, errors, masks and names."""
    assert a.n == b.n and a.ids.tolist() == b.ids.tolist()
    for k in outputs or a.outputs:
        assert np.array_equal(a[k].values, b[k].values, equal_nan=True), k
        assert np.array_equal(a[k].errors, b[k].errors, equal_nan=True), k
        assert np.array_equal(a[k].missing, b[k].missing), k
        assert a[k].names == b[k].names
