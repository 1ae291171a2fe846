"""Photometry as an output: Gaia and 2MASS magnitudes relative to one band, with their
errors and covariance; ak_targ as a label with its derived error."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

import starlux
from starlux.data import DataError
from starlux.io.datasets import read_dataset
from starlux.io.photometry import AK_TARG_ERROR, photometry_output
from starlux.labels import label_info
from starlux.units import column_limits, screen
from tests.io.io_helpers import shared


def _xp_table(path: Path | None = None, n: int = 4) -> Table:
    """Rows in the layout of ../shared/data/gaiaxp-apogee-dr17 (float32 magnitudes,
    ``k`` for Ks, no photometric errors), with one 2MASS J missing."""
    rng = np.random.default_rng(3)
    flux = (1 + 0.1 * rng.normal(size=(n, 343))).astype(np.float32)
    flux /= np.median(flux, axis=1, keepdims=True)
    g = np.linspace(11.0, 14.0, n)
    t = Table({
        "apogee_id": [f"2M0000000{i}+0000000" for i in range(n)],
        "gaiaedr3_source_id": np.arange(1, n + 1, dtype=np.int64) * 11,
        "gaiaedr3_phot_g_mean_mag": g.astype(np.float32),
        "gaiaedr3_phot_bp_mean_mag": (g + 0.6).astype(np.float32),
        "gaiaedr3_phot_rp_mean_mag": (g - 0.8).astype(np.float32),
        "j": (g - 2.0).astype(np.float32), "h": (g - 2.6).astype(np.float32),
        "k": (g - 2.8).astype(np.float32),
        "ak_targ": np.array([0.1, np.nan, -85.8, 0.3][:n], dtype=np.float32),
        "teff": np.linspace(4000.0, 6000.0, n), "teff_err": np.full(n, 50.0),
        "flux": flux, "flux_error": np.full((n, 343), 0.01, dtype=np.float32),
        "medflux": np.full(n, 1e-16)})
    t["j"] = np.ma.masked_array(t["j"], mask=[False, True] + [False] * (n - 2))
    if path is not None:
        t.write(path, overwrite=True)
    return t


def test_magnitudes_relative_to_g_with_the_documented_errors_and_exact_covariance():
    t = _xp_table()
    out, lines = photometry_output(t)
    assert out.kind == "spectrum" and out.names == ("BP-G", "RP-G", "J-G", "H-G", "K-G")
    g = np.asarray(t["gaiaedr3_phot_g_mean_mag"], float)
    assert np.allclose(out.values[:, 0], np.asarray(t["gaiaedr3_phot_bp_mean_mag"]) - g)
    assert np.allclose(out.values[0], [0.6, -0.8, -2.0, -2.6, -2.8], atol=1e-5)
    # 0.01 mag per Gaia band, 0.03 per 2MASS band, in quadrature with G's
    assert np.allclose(out.errors[0], [np.hypot(0.01, 0.01)] * 2 + [np.hypot(0.03, 0.01)] * 3)
    c = out.covariance[0]
    assert np.allclose(np.diag(c), out.errors[0] ** 2)
    assert np.allclose(c[np.triu_indices(5, 1)], 0.01 ** 2)  # the shared G error
    # the missing J: its entry and its covariance row are empty, the others kept
    assert out.missing[1].tolist() == [False, False, True, False, False]
    assert not out.covariance[1, 2].any() and out.covariance[1, 0, 1] == pytest.approx(1e-4)
    assert "no error column: 0.01 mag" in " ".join(lines)


def test_the_gaia_archive_columns_give_errors_from_flux_over_error():
    t = Table({"source_id": [1, 2], "phot_g_mean_mag": [12.0, 13.0],
               "phot_bp_mean_mag": [12.5, 13.6], "phot_rp_mean_mag": [11.4, 12.3],
               "phot_g_mean_flux_over_error": [5000.0, 2000.0],
               "phot_bp_mean_flux_over_error": [1000.0, 500.0],
               "phot_rp_mean_flux_over_error": [1500.0, 800.0]})
    out, _ = photometry_output(t, ["G", "BP", "RP"], reference="RP")
    assert out.names == ("G-RP", "BP-RP")
    k = 2.5 / np.log(10)
    assert out.errors[1, 1] == pytest.approx(np.hypot(k / 500, k / 800))
    assert out.values[0].tolist() == pytest.approx([0.6, 1.1])


def test_unknown_or_absent_bands_are_refused_in_one_line():
    t = _xp_table()
    with pytest.raises(DataError, match="unknown photometric band 'V'"):
        photometry_output(t, ["G", "V"])
    with pytest.raises(DataError, match="no magnitude column for band"):
        photometry_output(t["gaiaedr3_source_id", "gaiaedr3_phot_g_mean_mag"], ["G", "BP"])
    with pytest.raises(DataError, match="at least one band besides the reference"):
        photometry_output(t, ["G"])


def test_read_xp_gives_a_phot_output_and_ak_targ_as_a_label_with_its_error(tmp_path):
    _xp_table(tmp_path / "lib.fits")
    ds = starlux.read_xp(tmp_path / "lib.fits", labels=["teff", "ak_targ"], photometry=True)
    assert list(ds.outputs) == ["flux", "label", "phot"]
    assert ds["phot"].names == ("BP-G", "RP-G", "J-G", "H-G", "K-G")
    lab = ds["label"]
    assert lab.names == ("teff", "ak_targ")
    assert lab.missing[:, 1].tolist() == [False, True, False, False]  # NaN missing
    assert np.allclose(lab.errors[~lab.missing[:, 1], 1], AK_TARG_ERROR)
    assert "ak_targ" not in ds.extras and "ak_targ_err" not in ds.extras
    gaia = starlux.read_xp(tmp_path / "lib.fits", photometry=["G", "BP", "RP"])
    assert gaia["phot"].names == ("BP-G", "RP-G")


def test_build_dataset_writes_phot_with_its_covariance(tmp_path):
    from starlux.cli import main

    _xp_table(tmp_path / "lib.fits")
    out = tmp_path / "lib.h5"
    assert main(["build-dataset", "--xp", str(tmp_path / "lib.fits"), "--xp-labels",
                 "teff", "ak_targ", "--xp-photometry", "--out", str(out)]) == 0
    ds = read_dataset(out)
    assert ds["phot"].kind == "spectrum" and ds["phot"].covariance.shape == (4, 5, 5)
    assert ds["phot"].names == ("BP-G", "RP-G", "J-G", "H-G", "K-G")  # phot_channels
    for suffix in (".npz", ".fits"):
        starlux.write_dataset(tmp_path / f"copy{suffix}", ds)
        again = read_dataset(tmp_path / f"copy{suffix}")
        assert again["phot"].names == ds["phot"].names and again["phot"].kind == "spectrum"
    assert main(["build-dataset", "--xp", str(tmp_path / "lib.fits"), "--xp-photometry",
                 "G,BP", "RP", "--xp-photometry-reference", "RP", "--out",
                 str(tmp_path / "rp.h5")]) == 0
    assert read_dataset(tmp_path / "rp.h5")["phot"].names == ("G-RP", "BP-RP")


def test_colours_and_extinction_are_printed_in_mag():
    assert label_info("BP-G").unit == "mag" and label_info("BP-G").tex == \
        r"$G_\mathrm{BP} - G$"
    assert label_info("ak_targ").unit == "mag" and label_info("ak_targ").text == "A_K"
    assert label_info("K_H").unit == "dex"  # an abundance, not a colour


def test_screening_sets_the_ak_targ_sentinels_of_the_shared_set_aside():
    path = shared("gaiaxp-apogee-dr17", "apogee_library_spectra.fits.gz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = starlux.read_xp(path, labels=["teff", "ak_targ"], photometry=True)
    o = ds["label"]
    lim = column_limits(o.values, o.errors, o.missing, o.kind)
    _, _, out = screen(np, o.values, o.errors, o.missing, lim)
    ak = o.values[:, 1]
    assert out[:, 1].sum() == 8 and (ak[out[:, 1]] < -80).all()  # the -82 ... -86 group
    assert not out[(ak > -0.5) & (ak < 3), 1].any()
    assert ds["phot"].missing.sum() == 81  # 40 J and 41 Ks missing in the file
