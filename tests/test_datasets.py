"""Embedded data sets are reachable by name and come with what examples need."""

from __future__ import annotations

import numpy as np

import starlux
from starlux.datasets import load_apogee671, make_emulated, make_emulated_apogee


def test_the_671_star_set_loads_with_assumed_label_errors():
    ds = load_apogee671()
    assert ds.n == 671 and ds["flux"].dim == 100
    assert ds["label"].names == ("TEFF", "LOGG", "PARAM_M_H")
    assert ds["flux"].wavelength is None  # the shipped pixels have no known wavelengths
    np.testing.assert_allclose(ds["label"].errors[0], [50.0, 0.05, 0.03])


def test_make_emulated_returns_independent_train_and_test_sets_with_truth():
    train, test = make_emulated(20, 8, seed=3)
    assert (train.n, test.n) == (20, 8)
    assert train["flux"].dim == 7214 and train["flux"].wavelength is not None
    assert test.extras["label_true"].shape == (8, 5)
    assert not test["label"].missing.any()  # the test set keeps every label
    assert len(set(train.ids) | set(test.ids)) == 28
    again, _ = make_emulated(20, 8, seed=3)
    np.testing.assert_array_equal(again["flux"].values, train["flux"].values)


def test_one_emulated_set_can_be_drawn_alone():
    emu = make_emulated_apogee(5, seed=1)
    assert emu["flux"].dim == 7214 and emu.extras["label_true"].shape == (5, 5)


def test_the_top_level_names_resolve_lazily():
    assert starlux.datasets.load_apogee671 is load_apogee671
    assert starlux.Lux.__name__ == "Lux"
    assert callable(starlux.load_model) and callable(starlux.read_dataset)
    assert isinstance(starlux.__version__, str)
    assert {"Lux", "load_model", "read_dataset", "datasets"} <= set(dir(starlux))
