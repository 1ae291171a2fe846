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
