"""The MLP transform: parameters, warm start, derivatives, and training end to end on data
generated from a known perceptron."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from starlux import Dataset
from starlux.model import Lux, LuxModel
from starlux.transforms import LinearTransform, Transform, make_transform
from starlux.transforms.mlp import MLPTransform


def make_nonlinear(n: int = 300, m: int = 2, d: int = 40, noise: float = 0.003,
                   label_noise: float = 0.02, seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """Labels x ~ U(-1, 1)^m; flux = a tanh perceptron of x, strongly curved across the
    label range; labels observed with Gaussian noise ``label_noise``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, m))
    w1, b1 = 2.0 * rng.normal(size=(8, m)), rng.normal(size=8)
    w2 = 0.1 * rng.normal(size=(d, 8))
    flux = 1.0 + np.tanh(x @ w1.T + b1) @ w2.T
    ferr = np.full((n, d), noise)
    lerr = np.full((n, m), label_noise)
    ds = Dataset.from_arrays(flux=flux + rng.normal(size=flux.shape) * ferr, flux_err=ferr,
                             label=x + rng.normal(size=x.shape) * lerr, label_err=lerr,
                             label_names=["TEFF", "LOGG", "FE_H"][:m], ids=np.arange(n))
    return ds, x


def _perturbed(params, seed=1, size=0.1):
    rng = np.random.default_rng(seed)
    return {k: v + size * jnp.asarray(rng.normal(size=v.shape)) for k, v in params.items()}


def test_mlp_options_parse_as_width_by_depth_with_an_optional_activation():
    assert make_transform("mlp:32x1") == MLPTransform(width=32, depth=1)
    assert make_transform("mlp") == MLPTransform()
    assert make_transform("mlp:16x3:gelu") == MLPTransform(16, 3, activation="gelu")
    with pytest.raises(ValueError, match="WIDTHxDEPTH"):
        make_transform("mlp:wide")
    with pytest.raises(ValueError, match="activation"):
        MLPTransform(activation="swish-ish")
    assert Lux(transforms={"flux": "mlp:32x1"}).transform_for("flux") == MLPTransform(32, 1)


def test_parameters_are_named_arrays_drawn_from_the_seed_with_a_zero_output_layer():
    tr = MLPTransform(width=8, depth=2)
    a = tr.init(np.random.default_rng(3), 4, 30)
    b = tr.init(np.random.default_rng(3), 4, 30)
    assert {k: v.shape for k, v in a.items()} == {
        "W": (30, 4), "b": (30,), "l0_weight": (8, 4), "l0_bias": (8,),
        "l1_weight": (8, 8), "l1_bias": (8,), "l2_weight": (30, 8)}
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.any(a["l2_weight"])
    # the linear part is drawn as the linear map's
    np.testing.assert_array_equal(a["W"], LinearTransform().init(np.random.default_rng(3), 4,
                                                                 30)["W"])


def test_apply_is_the_equinox_perceptron_plus_the_linear_part():
    tr = MLPTransform(width=8, depth=2)
    params = _perturbed(tr.init(np.random.default_rng(0), 3, 12))
    z = jnp.asarray(np.random.default_rng(2).normal(size=(5, 3)))
    expected = jax.vmap(tr.module(params))(z) + z @ params["W"].T + params["b"]
    np.testing.assert_allclose(tr.apply(params, z), expected, rtol=1e-12, atol=1e-12)


def test_the_warm_start_reproduces_a_linear_map_exactly():
    rng = np.random.default_rng(4)
    linear = {"W": jnp.asarray(rng.normal(size=(20, 3))), "b": jnp.asarray(rng.normal(size=20))}
    tr = MLPTransform(width=16, depth=2)
    params = tr.warm_start(_perturbed(tr.init(rng, 3, 20)), linear)
    z = jnp.asarray(rng.normal(size=(7, 3)))
    np.testing.assert_array_equal(tr.apply(params, z), LinearTransform().apply(linear, z))


def test_the_analytic_jacobian_and_latent_system_match_the_generic_autodiff_ones():
    tr = MLPTransform(width=8, depth=2, activation="softplus")
    rng = np.random.default_rng(5)
    params = _perturbed(tr.init(rng, 4, 15), size=0.3)
    z = jnp.asarray(rng.normal(size=(70, 4)))  # more rows than one vectorised sub-block
    y, w = jnp.asarray(rng.normal(size=(70, 15))), jnp.asarray(rng.random((70, 15)))
    np.testing.assert_allclose(tr.jacobian(params, z), Transform.jacobian(tr, params, z),
                               rtol=1e-10, atol=1e-12)
    for a, b in zip(tr.latent_system(params, z, y, w),
                    Transform.latent_system(tr, params, z, y, w), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    cov = jnp.asarray(np.broadcast_to(0.1 * np.eye(4), (70, 4, 4)))
    np.testing.assert_allclose(tr.propagate(params, z, cov),
                               Transform.propagate(tr, params, z, cov), rtol=1e-10)


def test_the_parameter_fit_lowers_chi2_from_the_linear_fit_on_curved_data():
    ds, x = make_nonlinear(n=200, d=20)
    z = jnp.asarray(x)
    y = jnp.asarray(ds["flux"].values)
    w = jnp.asarray(1.0 / ds["flux"].errors ** 2)
    linear, chi_lin = LinearTransform().fit_params(LinearTransform().init(
        np.random.default_rng(0), 2, 20), z, y, w)
    tr = MLPTransform(width=16, depth=1, steps=40)
    params = tr.warm_start(tr.init(np.random.default_rng(0), 2, 20), linear)
    fitted, chi = tr.fit_params(params, z, y, w, chunk_size=64)
    assert chi < 0.05 * chi_lin
    # chi^2 returned is that of the returned parameters
    resid = y - tr.apply(fitted, z)
    np.testing.assert_allclose(chi, float(jnp.sum(w * resid**2)), rtol=1e-6)


@pytest.fixture(scope="module")
def trained():
    """Linear and MLP models (P = M + 2) trained on the same curved data set."""
    ds, x = make_nonlinear(n=360, m=2, d=40, seed=1)
    train, test = ds.take(np.arange(300)), ds.take(np.arange(300, 360))
    settings = dict(latents=4, reg=1.0, progress=False, calibrate=False)
    linear = Lux(**settings).fit(train)
    mlp = Lux(**settings, transforms={"flux": "mlp:32x1", "label": "mlp:8x1"}).fit(train)
    return linear, mlp, train, test, x[300:]


def test_the_mlp_recovers_held_out_labels_far_better_than_the_linear_map(trained):
    linear, mlp, _, test, truth = trained
    flux_only = Dataset(outputs={"flux": test["flux"]}, ids=test.ids)
    rmse = {name: np.sqrt(np.mean((m.predict(flux_only)["label"].values - truth) ** 2, axis=0))
            for name, m in (("linear", linear), ("mlp", mlp))}
    assert np.all(rmse["mlp"] < 0.5 * rmse["linear"]), rmse
    assert np.all(rmse["mlp"] < 0.1), rmse  # labels span [-1, 1]


def test_a_model_with_an_mlp_saves_loads_and_predicts_identically(trained, tmp_path):
    _, mlp, _, test, _ = trained
    path = tmp_path / "mlp.h5"
    mlp.save(path)
    again = LuxModel.load(path)
    assert again.specs["flux"].transform == MLPTransform(32, 1)
    assert set(again.params["flux"]) == set(mlp.params["flux"])
    a, b = mlp.predict(test), again.predict(test)
    for k in ("label",):
        np.testing.assert_array_equal(a[k].values, b[k].values)
        np.testing.assert_array_equal(a[k].errors, b[k].errors)
    np.testing.assert_array_equal(a.z, b.z)


def test_spectra_from_labels_and_derivative_spectra_go_through_the_jacobian(trained):
    from starlux.evaluate.derivatives import derivative_spectra

    _, mlp, _, test, _ = trained
    labels_only = Dataset(outputs={"label": test["label"]}, ids=test.ids)
    pred = mlp.predict(labels_only, inputs=["label"], outputs=["flux"])
    assert pred["flux"].values.shape == (test.n, 40)
    assert np.all(np.isfinite(pred["flux"].errors)) and np.all(pred["flux"].errors > 0)
    # spectra predicted from the labels are close to the observed ones
    assert np.sqrt(np.mean((pred["flux"].values - test["flux"].values) ** 2)) < 0.05
    deriv = derivative_spectra(mlp)
    assert deriv.shape[1] == 40 and np.all(np.isfinite(deriv))


def test_masked_labels_use_only_their_pixels_with_an_mlp(trained):
    from starlux.evaluate.derivatives import derivative_spectra
    from starlux.masking import predict_masked

    _, mlp, _, test, truth = trained
    keep = np.arange(40) < 20
    flux_only = Dataset(outputs={"flux": test["flux"]}, ids=test.ids)
    masked = predict_masked(mlp, flux_only, {"TEFF": keep})
    full = mlp.predict(flux_only)
    assert masked.extras["masked_labels"] == ["TEFF"]
    # the unmasked label is untouched; the masked one comes from half the pixels
    np.testing.assert_array_equal(masked["label"].values[:, 1], full["label"].values[:, 1])
    assert not np.allclose(masked["label"].values[:, 0], full["label"].values[:, 0])
    assert np.sqrt(np.mean((masked["label"].values[:, 0] - truth[:, 0]) ** 2)) < 0.2
    deriv = derivative_spectra(mlp, masks={"TEFF": keep})
    assert np.all(deriv[0, ~keep] == 0.0) and np.any(deriv[0, keep] != 0.0)


def test_mlp_samples_follow_the_laplace_errors_and_nuts_agrees_with_them(trained):
    _, mlp, _, test, _ = trained
    flux_only = Dataset(outputs={"flux": test["flux"]}, ids=test.ids).take(np.arange(10))
    laplace = mlp.predict(flux_only, samples=2000, seed=0)["label"]
    ratio = laplace.samples.std(axis=1) / laplace.errors
    # samples go through the MLP itself, so their spread is the linearised error only
    # approximately: within 10 % for this mildly curved model
    assert np.all((ratio > 0.9) & (ratio < 1.1)), ratio
    nuts = mlp.predict(flux_only, samples=500, sampler="nuts", seed=0)["label"]
    assert np.max(np.abs(nuts.samples.mean(axis=1) - laplace.samples.mean(axis=1))
                  / laplace.errors) < 0.3
    spread = nuts.samples.std(axis=1) / laplace.samples.std(axis=1)
    assert 0.85 < np.median(spread) < 1.15


def test_a_perceptron_label_map_carries_a_map_error_from_its_output_layer(trained):
    _, mlp, _, test, _ = trained
    label = mlp.predict(Dataset(outputs={"flux": test["flux"]}, ids=test.ids))["label"]
    assert np.all(np.isfinite(label.map_errors)) and np.all(label.map_errors > 0)
    # the covariance is that of the output layer [W, V, b]: one row per label
    assert mlp.map_cov["label"].shape == (2, 4 + 8 + 1, 4 + 8 + 1)
