"""The linear map with its offset."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from starlux.transforms import LinearTransform, design, offset


def test_linear_map_solve_recovers_weights_and_offset_of_noise_free_data():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 3))
    w_true, b_true = rng.normal(size=(6, 3)), rng.normal(size=6) + 5.0
    y = z @ w_true.T + b_true
    tr = LinearTransform()
    params = tr.init(np.random.default_rng(1), 3, 6)
    params, chi2 = tr.fit_params(params, jnp.asarray(z), jnp.asarray(y),
                                 jnp.ones_like(jnp.asarray(y)), precision="float64")
    np.testing.assert_allclose(np.asarray(params["W"]), w_true, atol=1e-6)
    np.testing.assert_allclose(np.asarray(params["b"]), b_true, atol=1e-6)
    assert chi2 < 1e-8
    np.testing.assert_allclose(np.asarray(tr.apply(params, jnp.asarray(z))), y, atol=1e-6)


def test_maps_stored_without_an_offset_still_apply():
    w = jnp.asarray(np.arange(6.0).reshape(3, 2))
    z = jnp.ones((4, 2))
    assert offset({"W": w}) == 0.0
    np.testing.assert_allclose(np.asarray(LinearTransform().apply({"W": w}, z)),
                               np.asarray(z @ w.T))
    assert design(z).shape == (4, 3)


def test_map_variance_grows_away_from_the_training_latents():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(300, 2))
    tr = LinearTransform()
    params = tr.init(np.random.default_rng(0), 2, 1)
    cov = np.asarray(tr.param_covariance(params, jnp.asarray(z), jnp.ones((300, 1))))
    near = tr.param_variance(params, cov, np.zeros((1, 2)))
    far = tr.param_variance(params, cov, np.full((1, 2), 5.0))
    assert far[0, 0] > 10 * near[0, 0] > 0
