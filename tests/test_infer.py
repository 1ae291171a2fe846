"""Inference: any subset of outputs, honest uncertainties, chi^2, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from starlux import DataError, Dataset
from starlux.model import Lux

from .conftest import make_bilinear

FAST = dict(progress=False, calibrate=False)


def test_flux_only_inference_recovers_labels_with_calibrated_errors():
    ds, truth = make_bilinear(n=2500, p=4, d=30, noise=0.01, label_noise=0.01, seed=10)
    train, test = ds.take(np.arange(1500)), ds.take(np.arange(1500, 2500))
    model = Lux(latents=4, progress=False).fit(train)
    pred = model.predict(Dataset(outputs={"flux": test["flux"]}))
    resid = pred["label"].values - truth["labels"][1500:]
    zstd = (resid / pred["label"].errors).std(0)
    assert np.all(np.abs(zstd - 1) < 0.1), zstd
    # reduced chi^2 (chi^2 / pixels, as the paper) of a correct model: (D - P) / D
    assert np.mean(pred.chi2["flux"]) == pytest.approx((30 - 4) / 30, abs=0.03)
    # the full covariance is symmetric positive definite with the errors on its diagonal
    cov = pred["label"].cov
    np.testing.assert_allclose(np.sqrt(np.diagonal(cov, axis1=1, axis2=2)),
                               pred["label"].errors, rtol=1e-8)
    assert np.all(np.linalg.eigvalsh(cov) > 0)


def test_model_error_makes_imperfect_model_honest():
    """A nonlinear truth fitted by a linear model: Fisher errors alone are too small."""
    rng = np.random.default_rng(11)
    n, d = 3000, 60
    x = rng.uniform(-1, 1, (n, 2))
    basis = rng.normal(size=(6, d)) * 0.02
    feats = np.c_[np.ones(n), x, x**2, x[:, :1] * x[:, 1:]]
    flux = 1 + feats @ basis + rng.normal(size=(n, d)) * 0.003
    labels = np.c_[4500 + 300 * x[:, 0], 2.5 + x[:, 1]]
    lerr = np.tile([30.0, 0.05], (n, 1))
    ds = Dataset.from_arrays(flux=flux, flux_err=np.full((n, d), 0.003),
                             label=labels + rng.normal(size=(n, 2)) * lerr, label_err=lerr,
                             label_names=["TEFF", "LOGG"])
    train, test = ds.take(np.arange(2000)), ds.take(np.arange(2000, n))
    model = Lux(latents=3, progress=False).fit(train)
    pred = model.predict(test.with_outputs(["flux"]))
    resid = pred["label"].values - labels[2000:]
    fisher_z = (resid / pred["label"].fisher_errors).std(0)
    total_z = (resid / pred["label"].errors).std(0)
    assert fisher_z.max() > 1.5  # the Fisher part alone is over-confident here
    assert np.all((total_z > 0.8) & (total_z < 1.25)), total_z
    # the learned model-error term is what closes the gap where the Fisher part fails
    worst = int(np.argmax(fisher_z))
    assert model.model_error["label"][worst] > 0
    # per star: the linear model's misfit grows towards the edges of label space, and
    # so does the learned model error
    merr = pred["label"].model_error
    assert merr.shape == (1000, 2)
    edge = np.abs(x[2000:, 0]) > 0.8
    assert np.median(merr[edge, 0]) > 1.2 * np.median(merr[~edge, 0])
    within = np.mean(np.abs(resid / pred["label"].errors) < 1, axis=0)
    assert np.all((within > 0.6) & (within < 0.76)), within


def test_both_inputs_and_reordered_label_columns():
    ds, truth = make_bilinear(n=400, p=4, d=30, noise=0.002, label_noise=0.01, seed=12)
    model = Lux(latents=4, **FAST).fit(ds.take(np.arange(300)))
    test = ds.take(np.arange(300, 400))
    lab = test["label"].select(["FE_H", "TEFF", "LOGG"])
    shuffled = Dataset(outputs={"label": lab, "flux": test["flux"]})
    both = model.predict(shuffled, inputs=["flux", "label"])
    assert both["label"].names == ("TEFF", "LOGG", "FE_H")
    only_flux = model.predict(shuffled, inputs=["flux"])
    # adding label information can only shrink the latent uncertainty
    assert np.all(np.trace(both.z_cov, axis1=1, axis2=2)
                  <= np.trace(only_flux.z_cov, axis1=1, axis2=2) + 1e-12)
    assert set(both.chi2) == {"flux", "label"}


def test_bad_inputs_give_clear_errors():
    ds, _ = make_bilinear(n=100, p=4, d=20)
    model = Lux(latents=4, **FAST).fit(ds)
    short = Dataset.from_arrays(flux=np.ones((3, 19)), flux_err=np.ones((3, 19)))
    with pytest.raises(DataError, match="19 pixels"):
        model.predict(short)
    with pytest.raises(DataError, match="no output 'flux'"):
        model.predict(ds.with_outputs(["label"]), inputs=["flux"])
    with pytest.raises(DataError, match="unknown output"):
        model.predict(ds, outputs=["galah"])
    lab = ds["label"].select(["TEFF", "LOGG"])
    with pytest.raises(DataError, match="lacks label column"):
        model.predict(Dataset(outputs={"label": lab}), inputs=["label"])
