"""Prediction files: arrays (``.npz``, ``.h5``) or label tables (``.fits``, ``.csv``,
``.ecsv``) with units and metadata, written atomically."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from starlux.io.errors import FileFormatError
from starlux.io.predictions import EXTNAME, prediction_arrays, write_prediction, write_table
from starlux.model import Lux
from tests.conftest import make_bilinear


@pytest.fixture(scope="module")
def prediction():
    train, _ = make_bilinear(n=200, seed=0, noise=0.01, label_noise=0.02)
    test, _ = make_bilinear(n=30, seed=1, noise=0.01, label_noise=0.02)
    model = Lux(latents=5, calibrate=False, progress=False).fit(train)
    return model.predict(test.with_outputs(["flux"]))


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


@pytest.mark.parametrize("ext", ["npz", "h5"])
def test_array_files_hold_every_array_of_the_prediction(prediction, tmp_path, ext):
    path = tmp_path / f"pred.{ext}"
    write_prediction(path, prediction)
    want = prediction_arrays(prediction)
    if ext == "npz":
        with np.load(path) as f:
            got = {k: f[k] for k in f.files}
    else:
        with h5py.File(path) as f:
            got = {k: (f[k].asstr()[()] if f[k].dtype.kind == "O" else f[k][()]) for k in f}
    assert sorted(got) == sorted(want)
    np.testing.assert_array_equal(got["label"], want["label"])
    assert got["label_cov"].shape == (30, 3, 3)


def test_an_unknown_suffix_is_refused_before_anything_is_written(prediction, tmp_path):
    with pytest.raises(FileFormatError, match=r"p\.parquet: unknown prediction format "
                                              r"'\.parquet' \(use \.npz, .*\.ecsv\)"):
        write_prediction(tmp_path / "p.parquet", prediction)
    with pytest.raises(FileFormatError, match=r"t\.npz: unknown label table format"):
        write_table(prediction.to_table(), tmp_path / "t.npz")
    assert list(tmp_path.iterdir()) == []


def test_a_table_can_be_written_into_a_callers_own_file_in_a_named_format(prediction,
                                                                          tmp_path):
    path = tmp_path / "own.tmp"
    write_table(prediction.to_table(), path, fmt="ascii.ecsv", atomic=False)
    assert str(Table.read(path, format="ascii.ecsv")["TEFF"].unit) == "K"
    assert [p.name for p in tmp_path.iterdir()] == ["own.tmp"]
