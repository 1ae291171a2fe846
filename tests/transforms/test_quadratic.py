"""The quadratic transform: exact parameter solves, analytic derivatives, the linear warm
start, and a model that saves, loads and predicts like the one trained."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from starlux import Dataset
from starlux.model import Lux, LuxModel
from starlux.transforms import LinearTransform, Transform, make_transform
from starlux.transforms.quadratic import QuadraticTransform, pair_products


def make_quadratic(n: int = 300, m: int = 2, d: int = 30, noise: float = 1e-3,
                   seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """Labels x ~ U(-1, 1)^m; flux quadratic in x (the Cannon's model)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, m))
    feats = np.concatenate([x, np.asarray(pair_products(jnp.asarray(x)))], axis=1)
    flux = 1.0 + feats @ (0.1 * rng.normal(size=(d, feats.shape[1]))).T
    ferr, lerr = np.full((n, d), noise), np.full((n, m), 0.01)
    ds = Dataset.from_arrays(flux=flux + rng.normal(size=flux.shape) * ferr, flux_err=ferr,
                             label=x + rng.normal(size=x.shape) * lerr, label_err=lerr,
                             label_names=["TEFF", "LOGG", "FE_H"][:m], ids=np.arange(n))
    return ds, x


def test_the_name_makes_the_quadratic_transform():
    assert make_transform("quadratic") == QuadraticTransform()
    assert not QuadraticTransform.exact_latents


def test_the_parameter_fit_is_exact_weighted_least_squares_on_quadratic_data():
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.normal(size=(200, 3)))
    tr = QuadraticTransform()
    truth = {"W": jnp.asarray(rng.normal(size=(7, 3))), "Q": jnp.asarray(rng.normal(size=(7, 6))),
             "b": jnp.asarray(rng.normal(size=7))}
    y = tr.apply(truth, z)
    w = jnp.asarray(rng.uniform(0.5, 2.0, size=y.shape))
    fitted, chi2 = tr.fit_params(tr.init(np.random.default_rng(1), 3, 7), z, y, w,
                                 prox=0.0, precision="float64")
    for k in truth:
        np.testing.assert_allclose(fitted[k], truth[k], atol=1e-8)
    assert chi2 < 1e-12


def test_the_analytic_jacobian_and_latent_system_match_the_generic_autodiff_ones():
    rng = np.random.default_rng(2)
    tr = QuadraticTransform()
    params = {"W": jnp.asarray(rng.normal(size=(9, 4))),
              "Q": jnp.asarray(rng.normal(size=(9, 10))), "b": jnp.asarray(rng.normal(size=9))}
    z = jnp.asarray(rng.normal(size=(5, 4)))
    y = jnp.asarray(rng.normal(size=(5, 9)))
    w = jnp.asarray(rng.uniform(0.5, 2.0, size=(5, 9)))
    np.testing.assert_allclose(tr.jacobian(params, z), Transform.jacobian(tr, params, z),
                               rtol=1e-12, atol=1e-12)
    for a, b in zip(tr.latent_system(params, z, y, w), Transform.latent_system(
            tr, params, z, y, w), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    v = jnp.asarray(rng.normal(size=(5, 9)))
    np.testing.assert_allclose(tr.pullback(params, z, v), Transform.pullback(tr, params, z, v),
                               rtol=1e-12, atol=1e-12)
    # the Jacobian of the apply function itself
    jac = jax.vmap(jax.jacfwd(lambda zz: tr.apply(params, zz[None])[0]))(z)
    np.testing.assert_allclose(tr.jacobian(params, z), jac, rtol=1e-12, atol=1e-12)


def test_the_warm_start_reproduces_a_linear_map_exactly():
    rng = np.random.default_rng(3)
    linear = {"W": jnp.asarray(rng.normal(size=(6, 3))), "b": jnp.asarray(rng.normal(size=6))}
    tr = QuadraticTransform()
    params = tr.warm_start(tr.init(np.random.default_rng(0), 3, 6), linear)
    z = jnp.asarray(rng.normal(size=(8, 3)))
    np.testing.assert_array_equal(tr.apply(params, z), LinearTransform().apply(linear, z))


@pytest.fixture(scope="module")
def trained():
    ds, x = make_quadratic(n=360, seed=1)
    train, test = ds.take(np.arange(300)), ds.take(np.arange(300, 360))
    settings = dict(latents=3, reg=1.0, progress=False, calibrate=False)
    linear = Lux(**settings).fit(train)
    quad = Lux(**settings, transforms={"flux": "quadratic"}).fit(train)
    return linear, quad, test, x[300:]


def test_a_quadratic_flux_map_recovers_labels_of_curved_spectra_better_than_linear(trained):
    linear, quad, test, truth = trained
    flux_only = test.with_outputs(["flux"])
    rmse = {name: np.sqrt(np.mean((m.predict(flux_only)["label"].values - truth) ** 2, axis=0))
            for name, m in (("linear", linear), ("quadratic", quad))}
    assert np.all(rmse["quadratic"] < 0.5 * rmse["linear"]), rmse


def test_a_quadratic_model_saves_loads_and_predicts_identically(trained, tmp_path):
    _, quad, test, _ = trained
    path = tmp_path / "quad.h5"
    quad.save(path)
    again = LuxModel.load(path)
    assert again.specs["flux"].transform == QuadraticTransform()
    a, b = quad.predict(test.with_outputs(["flux"])), again.predict(test.with_outputs(["flux"]))
    np.testing.assert_array_equal(a["label"].values, b["label"].values)
    np.testing.assert_array_equal(a["label"].errors, b["label"].errors)


def test_spectra_from_labels_and_derivative_spectra_work_with_a_quadratic_map(trained):
    from starlux.evaluate.derivatives import derivative_spectra

    linear, quad, test, _ = trained
    rms = {}
    for name, model in (("linear", linear), ("quadratic", quad)):
        pred = model.predict(test.with_outputs(["label"]), inputs=["label"], outputs=["flux"])
        assert np.all(np.isfinite(pred["flux"].errors)) and np.all(pred["flux"].errors > 0)
        rms[name] = np.sqrt(np.mean((pred["flux"].values - test["flux"].values) ** 2))
    # the spectra emulated from the labels follow the curve
    assert rms["quadratic"] < 0.5 * rms["linear"], rms
    deriv = derivative_spectra(quad)
    assert deriv.shape[1] == 30 and np.all(np.isfinite(deriv))
