"""Predictions in the ecosystem's types: astropy tables with units, pandas, FITS with
TUNIT / EXTNAME / metadata, and short reprs."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from starlux.io.predictions import EXTNAME, write_prediction
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


def test_fits_files_carry_tunit_extname_and_header_metadata(prediction, tmp_path):
    path = tmp_path / "pred.fits"
    write_prediction(path, prediction, model="m.h5")
    with fits.open(path) as hdul:
        hdr = hdul[EXTNAME].header
        units = {hdr[f"TTYPE{i}"]: hdr.get(f"TUNIT{i}") for i in range(1, hdr["TFIELDS"] + 1)}
        assert units["TEFF"] == "K" and units["LOGG"] == "dex"
        assert hdr["MODEL"] == "m.h5" and hdr["INPUTS"] == "flux" and "STLXVER" in hdr


def test_csv_and_ecsv_are_written_by_astropy(prediction, tmp_path):
    write_prediction(tmp_path / "p.csv", prediction)
    write_prediction(tmp_path / "p.ecsv", prediction)
    t = Table.read(tmp_path / "p.csv")
    assert len(t) == 30 and "TEFF_ERR" in t.colnames
    e = Table.read(tmp_path / "p.ecsv")
    assert str(e["TEFF"].unit) == "K" and e.meta["INPUTS"] == "flux"


def test_reprs_are_short_and_the_html_repr_shows_a_few_rows(prediction):
    text = repr(prediction)
    assert len(text) < 200 and "30 objects" in text and "flux" in text
    assert len(repr(prediction["label"])) < 200
    page = prediction._repr_html_()
    assert "<table" in page and "first 5 of 30 rows" in page
