"""Derivative spectra: eq. 13 (A B^+) and the exact inference Jacobian vs finite
differences of the inference map; masked labels."""

from __future__ import annotations

import numpy as np
import pytest

from starlux import Dataset, Output
from starlux.evaluate.derivatives import derivative_spectra, inference_jacobian, object_weights
from starlux.masking import predict_masked
from starlux.model import Lux

from .helpers import make_latent

D = 30


@pytest.fixture(scope="module")
def model_and_data():
    ds = make_latent(n=120, m=3, p=5, d=D, seed=4)
    # no fitted scatter: with uniform flux errors the inference weights are uniform
    model = Lux(latents=5, reg=1.0, scatter=(), calibrate=False, progress=False).fit(ds)
    return model, ds


def _finite_differences(model, flux, err, prior=None, masks=None, eps=1e-3):
    """d label / d flux of model.predict (or predict_masked) by central differences,
    all 2 D perturbed spectra in one call."""
    d = flux.size
    steps = np.concatenate([np.eye(d), -np.eye(d)]) * eps
    o = Output.create(flux[None] + steps, np.broadcast_to(err, (2 * d, d)), kind="spectrum")
    ds = Dataset(outputs={"flux": o})
    if masks:
        vals = predict_masked(model, ds, masks, prior=prior)["label"].values
    else:
        vals = model.predict(ds, inputs=["flux"], outputs=["label"], prior=prior)["label"].values
    return ((vals[:d] - vals[d:]) / (2 * eps)).T  # (M, D)


def test_eq13_matches_finite_differences_of_inference(model_and_data):
    model, ds = model_and_data
    f, e = ds["flux"].values[0], ds["flux"].errors[0]
    fd = _finite_differences(model, f, e, prior="none")
    d13 = derivative_spectra(model, method="pinv")
    assert d13.shape == (3, D)
    scale = np.abs(d13).max()
    np.testing.assert_allclose(d13, fd, atol=1e-5 * scale)


def test_weighted_jacobian_exact_with_prior_and_uneven_errors(model_and_data):
    model, ds = model_and_data
    rng = np.random.default_rng(0)
    f = ds["flux"].values[3]
    e = ds["flux"].errors[3] * rng.uniform(0.5, 3.0, D)
    e[5] = 9999.0  # a missing pixel: no influence at all
    one = Dataset(outputs={"flux": Output.create(f[None], e[None], kind="spectrum")})
    fd = _finite_differences(model, f, e)  # the model's empirical prior
    dw = derivative_spectra(model, method="weighted", dataset=one, index=0)
    np.testing.assert_allclose(dw, fd, atol=1e-7 * np.abs(dw).max())
    assert np.all(dw[:, 5] == 0)
    w = object_weights(model, one, 0)
    assert w[5] == 0 and inference_jacobian(model, w).shape == (5, D)
    # uniform weights and no prior reproduce eq. 13
    np.testing.assert_allclose(
        derivative_spectra(model, method="weighted", weights=np.ones(D), prior="none"),
        derivative_spectra(model, method="pinv"), rtol=0, atol=1e-6 * np.abs(dw).max())


def test_masked_derivative_vanishes_outside_window(model_and_data):
    model, ds = model_and_data
    window = np.zeros(D, bool)
    window[[2, 3, 4, 10, 11, 12, 20, 21]] = True
    masks = {"FE_H": window}
    f, e = ds["flux"].values[7], ds["flux"].errors[7]
    one = Dataset(outputs={"flux": Output.create(f[None], e[None], kind="spectrum")})
    dm = derivative_spectra(model, method="weighted", dataset=one, masks=masks)
    assert np.all(dm[2, ~window] == 0) and np.abs(dm[2, window]).max() > 0
    fd = _finite_differences(model, f, e, masks=masks)
    np.testing.assert_allclose(dm, fd, atol=1e-7 * np.abs(dm).max())
    assert np.abs(fd[2, ~window]).max() < 1e-9 * np.abs(fd[2]).max()
    # unmasked labels are untouched; the pinv version is zero outside the window too
    full = derivative_spectra(model, method="weighted", dataset=one)
    np.testing.assert_allclose(dm[:2], full[:2])
    dp = derivative_spectra(model, method="pinv", masks=masks)
    assert np.all(dp[2, ~window] == 0)
    # a masked prediction is still a sensible estimate of [Fe/H]
    pm = predict_masked(model, ds.with_outputs(["flux"]), masks)
    r = pm["label"].values[:, 2] - ds["label"].values[:, 2]
    assert np.sqrt(np.mean(r**2)) < 0.5 * np.std(ds["label"].values[:, 2])
    assert pm.extras["masked_labels"] == ["FE_H"]
    assert np.all(pm["label"].fisher_errors[:, 2] >= 0)
