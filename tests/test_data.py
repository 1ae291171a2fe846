"""Dataset containers: missing-entry rules and validation."""

from __future__ import annotations

import numpy as np
import pytest

from starlux import DataError, Dataset, Output


def test_every_missing_rule_of_a_spectrum_is_counted_by_reason():
    v = np.array([[1.0, np.nan, 0.0, 1.0, 1.0, 1.0, 1.0]])
    e = np.array([[0.1, 0.1, 0.1, 9999.0, -1.0, 5.0, np.inf]])
    o = Output.create(v, e, kind="spectrum")
    assert o.missing.tolist() == [[False, True, True, True, True, True, True]]
    s = o.mask_summary
    assert s["value not finite"] == 1 and s["flux == 0"] == 1
    assert s["error >= 9999"] == 1 and s["error <= 0"] == 1
    assert s["inverse variance < 0.1"] == 1 and s["error not finite"] == 1
    assert o.ivar()[0, 0] == pytest.approx(100.0)
    assert np.all(o.ivar()[0, 1:] == 0)
    assert np.all(o.clean_values()[o.missing] == 0)


def test_label_zero_value_is_not_missing():
    o = Output.create([[0.0, np.nan]], [[0.1, 0.1]], kind="label", names=["FE_H", "MG_FE"])
    assert o.missing.tolist() == [[False, True]]


def test_inconsistent_arrays_are_refused_saying_what_is_wrong():
    with pytest.raises(DataError, match="errors shape"):
        Output.create(np.ones((3, 2)), np.ones((3, 3)), names=["a", "b"])
    with pytest.raises(DataError, match="rows"):
        Output.create(np.ones((3, 2)), np.ones((2, 2)), names=["a", "b"])
    with pytest.raises(DataError, match="column names"):
        Output.create(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(DataError, match="duplicated"):
        Output.create(np.ones((3, 2)), np.ones((3, 2)), names=["a", "a"])
    with pytest.raises(DataError, match="not numeric"):
        Output.create([["x"]], [[1.0]], names=["a"])
    with pytest.raises(DataError, match="different numbers of objects"):
        Dataset(outputs={"a": Output.create(np.ones((3, 1)), np.ones((3, 1)), names=["a"]),
                         "b": Output.create(np.ones((4, 1)), np.ones((4, 1)), names=["b"])})
    with pytest.raises(DataError, match="wavelength"):
        Output.create(np.ones((3, 2)), np.ones((3, 2)), kind="spectrum", wavelength=[1.0])


def test_selecting_an_unknown_label_name_is_refused_naming_it():
    o = Output.create(np.ones((2, 2)), np.ones((2, 2)), names=["TEFF", "LOGG"])
    with pytest.raises(DataError, match=r"unknown column name\(s\) \['FEH'\]"):
        o.select(["TEFF", "FEH"])
    assert o.select(["LOGG"]).names == ("LOGG",)


def test_take_keeps_extras_and_ids():
    ds = Dataset.from_arrays(flux=np.ones((4, 3)), flux_err=np.ones((4, 3)),
                             ids=np.array(["a", "b", "c", "d"]), snr=np.arange(4.0))
    sub = ds.take(np.array([3, 1]))
    assert sub.ids.tolist() == ["d", "b"]
    assert sub.extras["snr"].tolist() == [3.0, 1.0]


def test_float32_spectra_are_kept_float32_with_the_same_missing_rules():
    rng = np.random.default_rng(0)
    flux = rng.random((20, 30)).astype(np.float32) + 0.5
    err = np.full((20, 30), 0.01, np.float32)
    flux[0, 0], err[1, 1], err[2, 2], flux[3, 3] = np.nan, 9999.0, 1e-30, 0.0
    err[4, 4] = 10.0  # inverse variance 0.01 < 0.1
    o32 = Output.create(flux, err, kind="spectrum")
    o64 = Output.create(flux.astype(np.float64), err.astype(np.float64), kind="spectrum")
    assert o32.values.dtype == np.float32 and o64.values.dtype == np.float64
    np.testing.assert_array_equal(o32.missing, o64.missing)
    assert o32.missing[[0, 1, 3, 4], [0, 1, 3, 4]].all() and not o32.missing[2, 2]
    np.testing.assert_allclose(o32.ivar(), o64.ivar(), rtol=1e-6)
    assert np.isfinite(o32.ivar()).all()  # 1 / (1e-30)^2 computed in float64
    labels = Output.create(np.ones((3, 1), np.float32), np.ones((3, 1), np.float32),
                           names=["TEFF"])
    assert labels.values.dtype == np.float64  # labels are always float64


# ------------------------------------------------------------- per-object covariance


def _covariances(n: int = 6, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) values and (N, D, D) positive definite, strongly correlated covariances."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, d, d))
    cov = a @ np.swapaxes(a, 1, 2) + 0.05 * np.eye(d)
    return rng.normal(size=(n, d)), cov


def test_a_covariance_is_kept_with_its_diagonal_equal_to_the_errors_squared():
    v, cov = _covariances()
    err = np.sqrt(np.diagonal(cov, axis1=1, axis2=2)) * (1 + 1e-7)  # float32-like rounding
    o = Output.create(v, err, kind="spectrum", covariance=cov)
    assert o.covariance.shape == (6, 4, 4) and o.covariance.dtype == np.float64
    assert np.array_equal(np.diagonal(o.covariance, axis1=1, axis2=2), err ** 2)
    assert np.array_equal(o.covariance, np.swapaxes(o.covariance, 1, 2))
    assert np.allclose(o.covariance, cov, rtol=1e-6)


def test_errors_may_be_left_out_when_a_covariance_gives_them():
    v, cov = _covariances()
    o = Output.create(v, None, kind="label", names=list("abcd"), covariance=cov)
    assert np.allclose(o.errors, np.sqrt(np.diagonal(cov, axis1=1, axis2=2)), rtol=1e-15)
    with pytest.raises(DataError, match="errors are needed"):
        Output.create(v, None, kind="label", names=list("abcd"))


def test_a_covariance_whose_diagonal_disagrees_with_the_errors_is_refused_naming_the_object():
    v, cov = _covariances()
    err = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    err[3, 2] *= 1.001
    with pytest.raises(DataError, match=r"^flux: covariance diagonal of the object at row 3, "
                                        r"column 2 .* \(they must agree\)$"):
        Output.create(v, err, kind="spectrum", covariance=cov, label="flux")


def test_a_covariance_that_is_not_positive_definite_is_refused_naming_the_first_bad_object():
    v, cov = _covariances()
    cov[4] = np.diag(np.diag(cov[4]))
    cov[4, 0, 1] = cov[4, 1, 0] = 2 * np.sqrt(cov[4, 0, 0] * cov[4, 1, 1])  # |rho| = 2
    with pytest.raises(DataError, match=r"^xp: covariance of the object at row 4 is not "
                                        r"positive definite \(on its 4 observed entries\)$"):
        Output.create(v, None, kind="spectrum", covariance=cov, label="xp")


def test_a_covariance_of_the_wrong_shape_not_finite_or_not_symmetric_is_one_line_error():
    v, cov = _covariances()
    with pytest.raises(DataError, match=r"covariance has shape \(6, 3, 4\), expected"):
        Output.create(v, None, kind="spectrum", covariance=cov[:, :3])
    bad = cov.copy()
    bad[2, 0, 3] = np.nan
    with pytest.raises(DataError, match="row 2 is not finite at"):
        Output.create(v, None, kind="spectrum", covariance=bad)
    bad = cov.copy()
    bad[5, 0, 3] += 1e-3 * np.sqrt(bad[5, 0, 0] * bad[5, 3, 3])
    with pytest.raises(DataError, match="row 5 is not symmetric at"):
        Output.create(v, None, kind="spectrum", covariance=bad)
    with pytest.raises(DataError, match="not numeric"):
        Output.create(v, None, kind="spectrum", covariance=[["x"]])


def test_missing_entries_have_zero_rows_and_columns_and_only_the_observed_block_is_checked():
    v, cov = _covariances()
    v[1, 2] = np.nan  # missing value: its row and column may hold anything, even NaN
    cov[1, 2, :] = cov[1, :, 2] = np.nan
    err = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    err[0, 1] = 9999.0  # missing by its error: the full matrix is then not consistent
    o = Output.create(v, err, kind="spectrum", covariance=cov)
    assert o.missing[1, 2] and o.missing[0, 1]
    assert np.all(o.covariance[1, 2, :] == 0) and np.all(o.covariance[1, :, 2] == 0)
    assert np.all(o.covariance[0, 1, :] == 0) and np.all(o.covariance[0, :, 1] == 0)
    assert np.isfinite(o.covariance).all()
    keep = [0, 2, 3]
    assert np.array_equal(o.covariance[0][np.ix_(keep, keep)],
                          0.5 * (cov[0] + cov[0].T)[np.ix_(keep, keep)])


def test_take_select_and_a_dataset_keep_the_covariance():
    v, cov = _covariances()
    o = Output.create(v, None, kind="label", names=list("abcd"), covariance=cov)
    t = o.take(np.array([5, 0]))
    assert np.array_equal(t.covariance, o.covariance[[5, 0]])
    s = o.select(["d", "b"])
    assert np.array_equal(s.covariance[2], o.covariance[2][np.ix_([3, 1], [3, 1])])
    ds = Dataset(outputs={"label": o}).take(np.array([1, 2]))
    assert np.array_equal(ds["label"].covariance, o.covariance[1:3])
    assert "with error covariance" in ds.describe()


def test_without_a_covariance_an_output_is_as_before():
    o = Output.create(np.ones((3, 2)), np.ones((3, 2)), names=["a", "b"])
    assert o.covariance is None and o.take(np.array([0])).covariance is None
    assert o.select(["b"]).covariance is None
    assert "covariance" not in Dataset(outputs={"label": o}).describe()


def test_from_arrays_takes_covariances_instead_of_extras():
    v, cov = _covariances()
    ds = Dataset.from_arrays(flux=v, flux_cov=cov, label=v[:, :2], label_err=np.ones((6, 2)),
                             label_names=["a", "b"], snr=np.arange(6.0))
    assert ds["flux"].covariance is not None and ds["label"].covariance is None
    assert set(ds.extras) == {"snr"}
