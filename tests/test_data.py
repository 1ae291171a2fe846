"""Dataset containers: missing-entry rules and validation."""

from __future__ import annotations

import numpy as np
import pytest

from starlux import DataError, Dataset, Output


def test_missing_rules_for_spectra():
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


def test_validation_errors():
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


def test_select_unknown_label_names():
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
