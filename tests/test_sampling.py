"""Posterior samples: analytic for linear models, reproducible, NUTS agrees."""

from __future__ import annotations

import numpy as np
import pytest

from starlux.cli import main
from starlux.infer import predict
from starlux.io.datasets import write_dataset
from starlux.io.errors import FileFormatError
from starlux.model import Lux
from starlux.stream import predict_file

from .conftest import make_bilinear


@pytest.fixture(scope="module")
def trained():
    ds, _ = make_bilinear(n=260, d=30, noise=0.01, label_noise=0.02, seed=5)
    model = Lux(latents=5, reg=10.0, progress=False).fit(ds.take(np.arange(200)))
    return model, ds.take(np.arange(200, 260))


def test_linear_model_samples_have_the_reported_mean_and_covariance(trained):
    model, test = trained
    pred = predict(model, test, samples=4000, seed=1)
    out = pred["label"]
    s = out.samples
    assert s.shape == (test.n, 4000, 3)
    sd = np.sqrt(np.einsum("nii->ni", out.cov))
    # 4,000 draws: the mean is known to ~1.6 % of sigma, a correlation to ~0.016
    assert np.max(np.abs(s.mean(axis=1) - out.values) / sd) < 0.08
    dev = s - s.mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", dev, dev) / (s.shape[1] - 1)
    np.testing.assert_allclose(np.einsum("nii->ni", cov) / sd**2, 1.0, atol=0.12)
    corr_err = (cov - out.cov) / (sd[:, :, None] * sd[:, None, :])
    assert np.max(np.abs(corr_err)) < 0.1
    # the spread matches the reported error (which includes the model-error term)
    assert np.all(out.model_error > 0)
    np.testing.assert_allclose(np.median(s.std(axis=1) / out.errors, axis=0), 1.0, atol=0.03)


def test_samples_are_the_same_for_the_same_seed_whatever_the_block_size(trained, tmp_path):
    model, test = trained
    a = predict(model, test, samples=20, seed=3)["label"].samples
    b = predict(model, test, samples=20, seed=3, chunk_size=7)["label"].samples
    c = predict(model, test, samples=20, seed=4)["label"].samples
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    data, model_path = tmp_path / "test.h5", tmp_path / "model.h5"
    write_dataset(data, test)
    model.save(model_path)
    predict_file(model_path, data, tmp_path / "pred.npz", samples=20, seed=3, chunk_size=16,
                 progress=False)
    with np.load(tmp_path / "pred.npz") as f:
        np.testing.assert_allclose(f["label_samples"], a, rtol=1e-12)


def test_nuts_agrees_with_the_exact_gaussian_posterior_of_a_linear_model(trained):
    model, test = trained
    few = test.take(np.arange(12))
    exact = predict(model, few, samples=3000, seed=0)["label"]
    nuts = predict(model, few, samples=600, sampler="nuts", seed=0)["label"]
    sd = exact.errors
    assert np.max(np.abs(nuts.samples.mean(axis=1) - exact.values) / sd) < 0.25
    ratio = nuts.samples.std(axis=1) / exact.samples.std(axis=1)
    assert 0.9 < np.median(ratio) < 1.1 and np.all((ratio > 0.7) & (ratio < 1.3))


def test_spectra_predicted_from_labels_get_samples_too(trained):
    model, test = trained
    pred = predict(model, test, inputs=["label"], outputs=["flux"], samples=300)
    out = pred["flux"]
    assert out.samples.shape == (test.n, 300, 30)
    np.testing.assert_allclose(np.median(out.samples.std(axis=1) / out.errors), 1.0, atol=0.1)


def test_bad_sample_requests_are_refused_with_the_reason(trained, tmp_path):
    model, test = trained
    with pytest.raises(ValueError, match="samples must be an integer >= 0"):
        predict(model, test, samples=-1)
    with pytest.raises(ValueError, match="sampler must be one of"):
        predict(model, test, samples=5, sampler="hmc")
    with pytest.raises(FileFormatError, match="need an array file"):
        data = tmp_path / "t.h5"
        write_dataset(data, test)
        model.save(tmp_path / "m.h5")
        predict_file(tmp_path / "m.h5", data, tmp_path / "p.csv", samples=5, progress=False)


def test_the_predict_command_writes_label_samples(trained, tmp_path, capsys):
    model, test = trained
    data, model_path = tmp_path / "test.h5", tmp_path / "model.h5"
    write_dataset(data, test)
    model.save(model_path)
    out = tmp_path / "pred.h5"
    assert main(["predict", str(model_path), str(data), "--out", str(out), "--samples", "8",
                 "--seed", "2", "--no-progress"]) == 0
    import h5py

    with h5py.File(out) as f:
        assert f["label_samples"].shape == (test.n, 8, 3)
        np.testing.assert_allclose(f["label_samples"][()],
                                   predict(model, test, samples=8, seed=2)["label"].samples,
                                   rtol=1e-12)
    assert main(["predict", str(model_path), str(data), "--out", str(tmp_path / "p.csv"),
                 "--samples", "8"]) != 0
    assert "need an array file" in capsys.readouterr().err
