"""APOGEE spectrum readers, grids and resampling (real apStar/apVisit files + small fakes)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from io_helpers import (
    APSTAR_REAL,
    APSTAR_REAL_3VISITS,
    make_apstar,
    make_aspcapstar,
    shared,
)

from starlux.data import DataError
from starlux.io.apogee import (
    APSTAR_NPIX,
    apogee_wavelength,
    chip_index,
    read_apogee_spectra,
    read_apstar,
    remove_chip_gaps,
    resample,
    target_grid,
)
from starlux.io.datasets import FileFormatError


def test_apstar_grid_is_log_linear():
    w = apogee_wavelength("apstar")
    assert w.shape == (8575,)
    assert np.allclose(np.log10(w), 4.179 + 6e-6 * np.arange(8575), rtol=0, atol=1e-12)
    assert 15100 < w[0] < 15101 and 16999 < w[-1] < 17000


def test_gap_removed_grids_match_published_grids():
    wl = apogee_wavelength("aspcap")
    assert wl.shape == (7514,)
    ex = np.load(shared("apogee-real-spectra", "apogee_dr14_example.npz"))
    assert np.allclose(wl, ex["wavelength_nm"] * 10, rtol=0, atol=1e-6)
    payne = np.load(shared("apogee-nn-emulators", "apogee_wavelength.npz"))["wavelength"]
    assert np.allclose(apogee_wavelength("payne"), payne, rtol=0, atol=1e-6)
    x = np.arange(2 * 8575.0).reshape(2, 8575)
    assert remove_chip_gaps(x).shape == (2, 7514)
    assert np.array_equal(remove_chip_gaps(x)[0], ex["apstar_pixel"])
    assert np.bincount(chip_index(wl)).tolist() == [3028, 2495, 1991]
    with pytest.raises(DataError, match="8575"):
        remove_chip_gaps(np.zeros(7514))


def test_a_wavelength_grid_is_read_from_a_file_and_must_increase(tmp_path):
    payne = shared("apogee-nn-emulators", "apogee_wavelength.npz")
    assert np.allclose(target_grid(payne), apogee_wavelength("payne"))
    bad = tmp_path / "grid.npy"
    np.save(bad, np.array([3.0, 2.0, 1.0]))
    with pytest.raises(FileFormatError, match="increasing"):
        target_grid(bad)


def test_read_real_apstar_masks_bitmask_pixels():
    path = shared(*APSTAR_REAL_3VISITS)
    s = read_apstar(path)
    with fits.open(path) as h:
        raw_flux, mask = h[1].data[0], h[3].data[0]
    assert s.ids.tolist() == ["2M17335483-2753043"]
    assert s.flux.shape == (1, APSTAR_NPIX) and not s.normalized[0]
    bad = (mask & 0b1000011111111) != 0  # default bits 0-7 and 12
    flagged = bad & np.isfinite(raw_flux)
    assert s.mask_summary["bitmask"] == flagged.sum() > 0
    assert np.all(np.isnan(s.flux[0, flagged])) and np.all(np.isnan(s.flux_err[0, flagged]))
    good = ~bad & np.isfinite(raw_flux)
    assert np.array_equal(s.flux[0, good], raw_flux[good])  # nothing else is touched
    assert s.meta["nvisits"][0] == 3
    # bad_bits=() keeps every pixel
    assert read_apstar(path, bad_bits=()).mask_summary["bitmask"] == 0


def test_a_missing_or_empty_apstar_row_is_an_error():
    path = shared(*APSTAR_REAL)
    with pytest.raises(FileFormatError, match="row 5"):
        read_apstar(path, row=5)
    # NVISITS=1: the second row is all zeros -> every pixel missing, a clear error
    with pytest.raises(DataError, match="every pixel"):
        read_apogee_spectra(path, row=1)


def test_globs_lists_and_folders_name_the_same_spectra(tmp_path):
    a = make_apstar(tmp_path / "apStar-a.fits", "2M00000001+0000001", seed=1)
    b = make_apstar(tmp_path / "apStar-b.fits", "2M00000002+0000002", seed=2)
    by_glob = read_apogee_spectra(str(tmp_path / "apStar-*.fits"))
    by_list = read_apogee_spectra([a, b])
    by_dir = read_apogee_spectra(tmp_path)
    for s in (by_list, by_dir):
        assert s.ids.tolist() == by_glob.ids.tolist()
        assert np.array_equal(s.flux, by_glob.flux, equal_nan=True)
    assert by_glob.files.tolist() == [str(a), str(b)]
    with pytest.raises(FileFormatError, match="no files match"):
        read_apogee_spectra(str(tmp_path / "nothing*.fits"))
    with pytest.raises(FileFormatError, match="no such file"):
        read_apogee_spectra(tmp_path / "missing.fits")


def test_a_duplicated_id_is_an_error_unless_first_or_keep_is_asked(tmp_path):
    a = make_apstar(tmp_path / "apStar-a.fits", "2M00000001+0000001")
    b = make_apstar(tmp_path / "apStar-b.fits", "2M00000001+0000001", seed=3)
    with pytest.raises(DataError, match=r"apStar-b\.fits.*2M00000001\+0000001.*apStar-a"):
        read_apogee_spectra([a, b])
    assert read_apogee_spectra([a, b], on_duplicate="first").n == 1
    assert read_apogee_spectra([a, b], on_duplicate="keep").n == 2


def test_chip_gaps_are_removed_and_a_shifted_grid_needs_resampling(tmp_path):
    a = make_apstar(tmp_path / "apStar-a.fits", "2M00000001+0000001")
    full = read_apogee_spectra(a)
    gapless = read_apogee_spectra(a, grid="aspcap")
    assert gapless.flux.shape == (1, 7514)
    assert np.array_equal(gapless.flux, remove_chip_gaps(full.flux), equal_nan=True)
    assert np.all(np.isfinite(gapless.flux[0, [0, 3027, 3028, 7513]]))
    # a file on a shifted log-linear grid: an error unless resampling is allowed
    off = make_apstar(tmp_path / "apStar-off.fits", "2M00000003+0000003", crval=4.17901)
    with pytest.raises(FileFormatError, match=r"apStar-off\.fits.*resampling is off"):
        read_apogee_spectra(off)
    r = read_apogee_spectra(off, resample=True)
    assert r.flux.shape == (1, 8575)
    assert np.isfinite(r.flux).sum() > 7000


def test_aspcapstar_7514_is_put_on_apstar_grid(tmp_path):
    ex = np.load(shared("apogee-real-spectra", "apogee_dr14_example.npz"))
    p = make_aspcapstar(tmp_path / "aspcapStar-x.fits", "2M08002084+4044415",
                        ex["normalized_flux"], ex["normalized_error"])
    s = read_apogee_spectra(p)
    assert s.normalized.all() and s.kinds.tolist() == ["aspcapStar"]
    assert np.array_equal(s.flux[0, ex["apstar_pixel"]], ex["normalized_flux"])
    gap = np.setdiff1d(np.arange(8575), ex["apstar_pixel"])
    assert np.all(np.isnan(s.flux[0, gap]))
    same = read_apogee_spectra(p, grid="aspcap")
    assert np.array_equal(same.flux[0], ex["normalized_flux"])


def test_a_real_apvisit_is_resampled_to_the_rest_frame_grid():
    path = shared("apogee-real-spectra", "apVisit-r13-5095-55844-128.fits")
    s = read_apogee_spectra(path)
    assert s.ids.tolist() == ["2M01183798+8403419"]
    assert s.kinds.tolist() == ["apVisit"] and s.flux.shape == (1, 8575)
    assert s.meta["vrel"][0] == pytest.approx(-44.4206, abs=1e-3)
    good = np.isfinite(s.flux[0])
    assert 6000 < good.sum() < 8575
    observed = read_apogee_spectra(path, rest_frame=False)
    assert not np.allclose(observed.flux[0][good], s.flux[0][good], equal_nan=True)


def test_resampling_is_linear_and_missing_next_to_a_missing_pixel():
    w = np.linspace(15200, 15300, 101)
    f = 2.0 + 0.01 * (w - 15200)
    e = np.full_like(w, 0.1)
    f[50] = np.nan
    out = np.array([15150.0, 15210.25, 15249.5, 15300.0])
    rf, re = resample(w, f, e, out)
    assert np.isnan(rf[0])                          # outside coverage
    assert rf[1] == pytest.approx(2.1025, rel=1e-6)  # linear data reproduced
    assert np.isnan(rf[2]) and np.isnan(re[2])      # next to a missing pixel
    assert rf[3] == pytest.approx(3.0)              # last pixel exactly


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing_hdu", "bad_shape"])
def test_corrupt_files_name_the_file(tmp_path, damage):
    good = make_apstar(tmp_path / "good.fits", "2M00000001+0000001")
    bad = tmp_path / "apStar-bad.fits"
    if damage == "truncate":
        raw = good.read_bytes()
        bad.write_bytes(raw[: len(raw) // 2])
        match = "truncated"
    elif damage == "garbage":
        bad.write_bytes(b"this is not a FITS file\n" * 200)
        match = "cannot read as FITS"
    elif damage == "missing_hdu":
        with fits.open(good) as h:
            fits.HDUList([h[0].copy(), h[1].copy(), h[2].copy()]).writeto(bad)
        match = "HDU 3"
    else:
        with fits.open(good) as h:
            hd = [h[0].copy(), h[1].copy(), fits.ImageHDU(np.ones(100)), h[3].copy()]
            fits.HDUList(hd).writeto(bad)
        match = "shape"
    with pytest.raises(FileFormatError, match=match) as err:
        read_apogee_spectra(bad)
    assert str(bad) in str(err.value)
