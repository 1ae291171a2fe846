"""Continuum normalisation of raw APOGEE spectra."""

from __future__ import annotations

import numpy as np
import pytest
from io_helpers import APSTAR_REAL, APSTAR_REAL_3VISITS, make_apstar, shared

from starlux.data import DataError
from starlux.io.apogee import apogee_wavelength, chip_index, read_apogee_spectra
from starlux.io.continuum import continuum_mask, fit_continuum, normalize, normalize_spectra


def test_the_packaged_continuum_masks_are_found_by_name():
    assert continuum_mask(apogee_wavelength("aspcap")).sum() == 532
    assert continuum_mask(apogee_wavelength("apstar")).sum() == 532
    assert continuum_mask(apogee_wavelength("payne"), "cannon").sum() == 529
    ref = np.load(shared("apogee-masks-windows", "astroNN_masks", "dr17_contmask.npy"))
    assert np.array_equal(continuum_mask(apogee_wavelength("aspcap")), ref)
    with pytest.raises(DataError, match="unknown continuum mask"):
        continuum_mask(apogee_wavelength("aspcap"), "nope")


@pytest.mark.parametrize("method", ["pixels", "fit"])
def test_a_real_apstar_is_normalised_to_near_one(method):
    s = read_apogee_spectra([shared(*APSTAR_REAL_3VISITS), shared(*APSTAR_REAL)])
    n = normalize_spectra(s, method=method)
    assert n.normalized.all()
    med = np.nanmedian(n.flux, axis=1)
    assert np.all(np.abs(med - 1) < 0.1), med  # an M giant (deep lines) and a K dwarf
    assert abs(med[1] - 1) < 0.03
    cont = continuum_mask(n.wavelength)
    assert np.all(np.abs(np.nanmedian(n.flux[:, cont], axis=1) - 1) < 0.03)
    # flux and error are divided by the same continuum: S/N unchanged
    ok = np.isfinite(n.flux) & np.isfinite(s.flux)
    assert np.allclose((n.flux / n.flux_err)[ok], (s.flux / s.flux_err)[ok])
    # the normalised flux passes the ivar rule almost everywhere it is finite
    o = n.to_output()
    assert o.mask_summary["inverse variance < 0.1"] < 0.02 * np.isfinite(n.flux).sum()


def test_known_continuum_is_recovered():
    w = apogee_wavelength("aspcap")
    chips = chip_index(w)
    cont = np.empty_like(w)
    for c in range(3):
        wc = w[chips == c]
        x = (wc - wc.min()) / (wc.max() - wc.min()) * 2 - 1  # quadratic in wavelength
        cont[chips == c] = 500 + 40 * c + 30 * x - 10 * x**2
    rng = np.random.default_rng(1)
    lines = np.ones_like(w)
    cmask = continuum_mask(w)
    idx = rng.choice(np.flatnonzero(~cmask), 400, replace=False)
    lines[idx] = 0.6
    flux = cont * lines
    err = np.full_like(w, 1.0)
    fitted, summary = fit_continuum(flux[None], err[None], w)
    assert summary["chips not fitted"] == 0
    assert np.allclose(fitted[0], cont, rtol=1e-6)
    nf, ne, _ = normalize(flux[None], err[None], w)
    assert np.allclose(nf[0], lines, rtol=1e-6) and np.allclose(ne[0], err / cont, rtol=1e-6)
    fitted2, _ = fit_continuum(flux[None], err[None], w, method="fit")
    assert np.allclose(fitted2[0], cont, rtol=1e-3)


def test_unfittable_chip_becomes_missing_not_invented():
    w = apogee_wavelength("aspcap")
    flux = np.full((1, w.size), 700.0)
    err = np.full((1, w.size), 5.0)
    red = chip_index(w) == 2
    flux[0, red] = np.nan
    nf, ne, summary = normalize(flux, err, w)
    assert summary["chips not fitted"] == 1
    assert np.all(np.isnan(nf[0, red])) and np.allclose(nf[0, ~red], 1.0)


def test_an_aspcapstar_input_is_left_as_it_is(tmp_path):
    s = read_apogee_spectra(make_apstar(tmp_path / "apStar-a.fits", "2M00000001+0000001"))
    fake_norm = s.replace(normalized=np.array([True]))
    assert normalize_spectra(fake_norm) is fake_norm
    forced = normalize_spectra(fake_norm, force=True)
    assert abs(np.nanmedian(forced.flux) - 1) < 0.1
