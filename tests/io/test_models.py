"""Model files: round trip, atomic writes, corrupt / incompatible files."""

from __future__ import annotations

import copy
from pathlib import Path

import h5py
import numpy as np
import pytest

from starlux.data import Dataset
from starlux.io.datasets import FileFormatError
from starlux.io.models import load_model, save_model
from starlux.model import Lux, LuxModel
from tests.conftest import make_bilinear


@pytest.fixture(scope="module")
def model():
    ds, _ = make_bilinear(n=120, p=4, d=15, noise=0.002, label_noise=0.02, seed=3)
    return Lux(latents=5, progress=False).fit(ds), ds


def test_a_saved_and_loaded_model_predicts_identically(model, tmp_path):
    m, ds = model
    # a linear truth asks for no trend in the model error: give it one, to check the
    # file keeps it
    m = copy.copy(m)
    m.model_error_trend = {"label": {"lo": np.full(3, -2.0), "hi": np.full(3, 2.0),
                                     "coef": np.linspace(-0.3, 0.3, 18).reshape(6, 3)}}
    path = tmp_path / "m.h5"
    m.save(path)
    m2 = LuxModel.load(path)
    assert m2.n_latents == 5 and m2.reg == m.reg
    assert m2.specs["label"].names == ("TEFF", "LOGG", "FE_H")
    np.testing.assert_array_equal(m2.params["flux"]["W"], m.params["flux"]["W"])
    np.testing.assert_array_equal(m2.model_error["label"], m.model_error["label"])
    assert set(m2.model_error_trend["label"]) == {"lo", "hi", "coef"}
    for k, v in m.model_error_trend["label"].items():
        np.testing.assert_array_equal(m2.model_error_trend["label"][k], v)
    assert m.error_uncertainty["label"].shape == (3,)
    np.testing.assert_array_equal(m2.error_uncertainty["label"], m.error_uncertainty["label"])
    for k in ("values", "statistical_var", "used"):
        np.testing.assert_array_equal(m2.held_out["label"][k], m.held_out["label"][k])
    assert m2.history == m.history
    assert m2.version == m.version
    p1, p2 = m.predict(ds), m2.predict(ds)
    np.testing.assert_array_equal(p1["label"].values, p2["label"].values)
    np.testing.assert_array_equal(p1["label"].errors, p2["label"].errors)


def test_a_failed_write_leaves_the_old_file(model, tmp_path, monkeypatch):
    m, _ = model
    path = tmp_path / "m.h5"
    save_model(path, m)
    before = path.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("crash during write")

    monkeypatch.setattr("starlux.io.models._config_json", boom)
    with pytest.raises(RuntimeError):
        save_model(path, m)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.h5"]


def test_corrupt_and_incompatible_files_are_refused_naming_the_file(model, tmp_path):
    m, _ = model
    bad = tmp_path / "garbage.h5"
    bad.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(FileFormatError, match="garbage.h5"):
        load_model(bad)
    with pytest.raises(FileFormatError, match="no such model file"):
        load_model(tmp_path / "absent.h5")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(FileFormatError, match="not a starlux model file"):
        load_model(other)
    good = tmp_path / "m.h5"
    save_model(good, m)
    with h5py.File(good, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(FileFormatError, match="version 99"):
        load_model(good)
    for key, message in [("outputs/flux/params/W", "shape"),
                         ("outputs/label/held_out/values", "held_out/values has shape")]:
        save_model(good, m)
        with h5py.File(good, "a") as f:
            del f[key]
            f[key] = np.zeros((7, 3))
        with pytest.raises(FileFormatError, match=message):
            load_model(good)
    save_model(good, m)
    truncated = tmp_path / "trunc.h5"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(FileFormatError, match="trunc.h5"):
        load_model(truncated)


def test_model_from_a_newer_starlux_draws_a_warning(model, tmp_path):
    m, _ = model
    path = tmp_path / "newer.h5"
    save_model(path, m)
    with h5py.File(path, "a") as h:
        h.attrs["starlux_version"] = "99.0"
    with pytest.warns(UserWarning, match="newer.h5: written by starlux 99.0"):
        load_model(path)


RELEASE = Path(__file__).resolve().parents[1] / "data" / "models"


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_a_model_file_written_by_the_last_release_loads_and_predicts_as_it_did(kind):
    """Model files written by starlux 0.1.0 as released (a linear model with its error
    model, and one with a perceptron label map) load and give the labels they gave."""
    model = LuxModel.load(RELEASE / f"release-{kind}.h5")
    with np.load(RELEASE / "release-predictions.npz") as f:
        ds = Dataset.from_arrays(flux=f["flux"], flux_err=f["flux_err"],
                                 wavelength=f["wavelength"])
        expected = f[kind]
        expected_err = f["linear_err"] if kind == "linear" else None
    pred = model.predict(ds)["label"]
    np.testing.assert_allclose(pred.values, expected, rtol=1e-9)
    if expected_err is not None:
        np.testing.assert_allclose(pred.errors, expected_err, rtol=1e-9)
