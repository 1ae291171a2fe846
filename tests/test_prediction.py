"""Predictions in the ecosystem's types: astropy tables with units, pandas, and short
reprs (prediction files: tests/io/test_predictions.py)."""

from __future__ import annotations

import numpy as np
import pytest

from starlux.model import Lux

from .conftest import make_bilinear


@pytest.fixture(scope="module")
def prediction():
    train, _ = make_bilinear(n=200, seed=0, noise=0.01, label_noise=0.02)
    test, _ = make_bilinear(n=30, seed=1, noise=0.01, label_noise=0.02)
    model = Lux(latents=5, calibrate=False, progress=False).fit(train)
    return model.predict(test.with_outputs(["flux"]))


def test_to_table_has_units_errors_ids_chi2_and_metadata(prediction):
    t = prediction.to_table(model="model.h5")
    assert len(t) == 30 and t.colnames[0] == "id"
    assert str(t["TEFF"].unit) == "K" and str(t["LOGG"].unit) == "dex"
    assert str(t["FE_H_ERR"].unit) == "dex"
    parts = ["TEFF_FISHER_ERR", "TEFF_MAP_ERR", "TEFF_MODEL_ERR"]
    total = np.sqrt(sum(np.asarray(t[c]) ** 2 for c in parts))
    np.testing.assert_allclose(total, t["TEFF_ERR"], rtol=1e-6)
    assert "chi2_flux" in t.colnames
    assert t.meta["MODEL"] == "model.h5" and t.meta["INPUTS"] == "flux"
    assert t.meta["STLXVER"]


def test_to_pandas_keeps_the_columns_and_the_units(prediction):
    pytest.importorskip("pandas")
    df = prediction.to_pandas()
    assert list(df.columns) == prediction.to_table().colnames
    assert df.attrs["units"]["TEFF"] == "K"


def test_reprs_are_short_and_the_html_repr_shows_a_few_rows(prediction):
    text = repr(prediction)
    assert len(text) < 200 and "30 objects" in text and "flux" in text
    assert len(repr(prediction["label"])) < 200
    page = prediction._repr_html_()
    assert "<table" in page and "first 5 of 30 rows" in page
