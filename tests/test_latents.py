"""The one latent solver and the latent priors: exact weighted least squares."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from starlux.latents import (
    drop_entries,
    latent_caches,
    latent_prior,
    prior_terms,
    solve_block,
    solve_latents,
)
from starlux.spec import LuxConfig, ModelState
from starlux.transforms import LinearTransform

P = 4


def _problem(n: int = 37, d: int = 300, seed: int = 0):
    """A linear map y = z W^T + b with uneven weights, some entries missing (w = 0)."""
    rng = np.random.default_rng(seed)
    w_map = rng.normal(size=(d, P))
    b = rng.normal(size=d)
    z_true = rng.normal(size=(n, P))
    y = z_true @ w_map.T + b + 0.01 * rng.normal(size=(n, d))
    w = rng.uniform(0.5, 2.0, size=(n, d)) * 1e4
    w[rng.random((n, d)) < 0.1] = 0.0
    prec = np.diag([0.5, 1.0, 2.0, 4.0])
    mean = np.array([0.1, -0.2, 0.3, 0.0])
    params = {"W": jnp.asarray(w_map), "b": jnp.asarray(b)}
    return params, y, w, prec, mean


def _exact(params, y, w, prec, mean):
    """(z, cov, chi2) of the penalised weighted least-squares problem, in NumPy."""
    wm, b = np.asarray(params["W"]), np.asarray(params["b"])
    zs, covs, chis = [], [], []
    for yn, wn in zip(y, w, strict=True):
        h = wm.T @ (wn[:, None] * wm) + prec
        g = wm.T @ (wn * (yn - b)) + prec @ mean
        z = np.linalg.solve(h, g)
        zs.append(z)
        covs.append(np.linalg.inv(h))
        chis.append(np.sum(wn * (yn - wm @ z - b) ** 2))
    return np.array(zs), np.array(covs), np.array(chis)


def test_a_block_solve_is_the_exact_weighted_least_squares_solution_with_the_prior():
    params, y, w, prec, mean = _problem()
    tr = LinearTransform()
    caches = latent_caches([tr], [params], [y.shape[1]], "float64")
    z, chol, chi = solve_block([tr], [params], caches, [(jnp.asarray(y), jnp.asarray(w))],
                               jnp.zeros((y.shape[0], P)), jnp.asarray(prec),
                               jnp.asarray(mean))
    z_ref, cov_ref, chi_ref = _exact(params, y, w, prec, mean)
    np.testing.assert_allclose(np.asarray(z), z_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(chi[0]), chi_ref, rtol=1e-8)
    chol = np.asarray(chol)
    np.testing.assert_allclose(np.linalg.inv(chol @ np.swapaxes(chol, 1, 2)), cov_ref,
                               rtol=1e-8, atol=1e-14)


def test_blocks_of_any_size_give_the_one_solution_and_its_covariance():
    params, y, w, prec, mean = _problem(n=37)
    z_ref, cov_ref, chi_ref = _exact(params, y, w, prec, mean)
    for chunk in (37, 10, 1000):
        sol = solve_latents({"flux": LinearTransform()}, {"flux": params},
                            {"flux": (jnp.asarray(y), jnp.asarray(w))}, jnp.asarray(prec),
                            jnp.asarray(mean), chunk_size=chunk, want_cov=True)
        assert sol.z.shape == (37, P) and sol.cov.shape == (37, P, P)
        np.testing.assert_allclose(np.asarray(sol.z), z_ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(sol.cov), cov_ref, rtol=1e-8, atol=1e-14)
        np.testing.assert_allclose(np.asarray(sol.chi2["flux"]), chi_ref, rtol=1e-8)


def test_two_outputs_add_their_normal_equations():
    params, y, w, prec, mean = _problem(n=12, d=60)
    half = 25
    pa = {"W": params["W"][:half], "b": params["b"][:half]}
    pb = {"W": params["W"][half:], "b": params["b"][half:]}
    tr = LinearTransform()
    sol = solve_latents({"a": tr, "b": tr}, {"a": pa, "b": pb},
                        {"a": (jnp.asarray(y[:, :half]), jnp.asarray(w[:, :half])),
                         "b": (jnp.asarray(y[:, half:]), jnp.asarray(w[:, half:]))},
                        jnp.asarray(prec), jnp.asarray(mean))
    z_ref, _, chi_ref = _exact(params, y, w, prec, mean)
    np.testing.assert_allclose(np.asarray(sol.z), z_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(sol.chi2["a"] + sol.chi2["b"]), chi_ref, rtol=1e-8)


def test_float32_gram_products_refined_once_agree_with_float64_far_below_the_errors():
    params, y, w, prec, mean = _problem(n=40, d=3000, seed=1)
    data = {"flux": (jnp.asarray(y), jnp.asarray(w))}
    args = ({"flux": LinearTransform()}, {"flux": params}, data, jnp.asarray(prec),
            jnp.asarray(mean))
    ref = solve_latents(*args, precision="float64", want_cov=True)
    sigma = np.sqrt(np.diagonal(np.asarray(ref.cov), axis1=1, axis2=2))
    for precision in ("float32", "auto"):
        low = solve_latents(*args, precision=precision)
        err = np.abs(np.asarray(low.z) - np.asarray(ref.z)) / sigma
        assert err.max() < 1e-6, (precision, err.max())
        np.testing.assert_allclose(np.asarray(low.chi2["flux"]), np.asarray(ref.chi2["flux"]),
                                   rtol=1e-6)
    # without the refinement step the float32 solution is visibly worse
    tr = LinearTransform()
    caches = latent_caches([tr], [params], [3000], "float32")
    assert caches[0].dtype == jnp.float32
    z0, _, _ = solve_block([tr], [params], caches, [data["flux"]], jnp.zeros((40, P)),
                           jnp.asarray(prec), jnp.asarray(mean), n_refine=0)
    raw = np.abs(np.asarray(z0) - np.asarray(ref.z)) / sigma
    assert raw.max() > 10 * err.max()


def test_a_proximal_weight_pulls_the_latents_towards_the_start():
    params, y, w, prec, mean = _problem(n=8, d=40)
    tr = LinearTransform()
    caches = latent_caches([tr], [params], [40], "float64")
    z_ref, _, _ = _exact(params, y, w, prec, mean)
    start = jnp.asarray(z_ref + 1.0)
    moved = []
    for prox in (0.0, 1e-3, 1.0):
        z, _, _ = solve_block([tr], [params], caches, [(jnp.asarray(y), jnp.asarray(w))],
                              start, jnp.asarray(prec), jnp.asarray(mean), prox=prox)
        moved.append(np.abs(np.asarray(z) - z_ref).max())
    assert moved[0] < 1e-9 and moved[0] < moved[1] < moved[2] < 1.0


def _dropped(n: int, d: int, seed: int, counts: dict[int, int]) -> np.ndarray:
    """(n, d) True at ``counts[i]`` random entries of object i."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, d), bool)
    for i, k in counts.items():
        out[i, rng.choice(d, k, replace=False)] = True
    return out


@pytest.mark.parametrize("precision", ["float64", "auto"])
@pytest.mark.parametrize("share", ["a few objects", "most objects"])
def test_dropping_entries_gives_the_exact_solution_without_them(precision, share):
    """A rank update for objects that lose few entries (gathered when they are few, the
    whole block otherwise), a new solve for one that loses many: each equals the exact
    solution of the reduced problem; objects that lose nothing keep theirs exactly."""
    n, d = 48, 2000
    params, y, w, prec, mean = _problem(n=n, d=d, seed=4)
    counts = ({0: 1, 3: 5, 7: 40} if share == "a few objects"
              else {i: 1 + i % 6 for i in range(0, n, 2)} | {5: 40})
    drop = _dropped(n, d, 7, counts) & (w > 0)
    tr = LinearTransform()
    caches = latent_caches([tr], [params], [d], precision)
    n_refine = int(caches[0].dtype == jnp.float32)
    args = ([tr], [params], caches)
    data = [(jnp.asarray(y, jnp.float32), jnp.asarray(w))]
    z0 = jnp.broadcast_to(jnp.asarray(mean), (n, P))
    before = solve_block(*args, data, z0, jnp.asarray(prec), jnp.asarray(mean),
                         n_refine=n_refine)
    resid = data[0][0].astype(jnp.float64) - tr.apply(params, before[0])
    z, chol, chi = drop_entries(*args, data, [jnp.asarray(drop)], [resid], before, z0,
                                jnp.asarray(prec), jnp.asarray(mean), n_refine=n_refine,
                                max_dropped=8)
    y32 = np.asarray(data[0][0], np.float64)
    z_ref, cov_ref, chi_ref = _exact(params, y32, np.where(drop, 0.0, w), prec, mean)
    sigma = np.sqrt(np.diagonal(cov_ref, axis1=1, axis2=2))
    err = np.abs(np.asarray(z) - z_ref) / sigma
    hit = drop.any(1)
    assert err[hit].max() < 1e-9, err[hit].max()
    np.testing.assert_allclose(np.asarray(chi[0])[hit], chi_ref[hit], rtol=1e-9)
    chol = np.asarray(chol)
    cov = np.linalg.inv(chol @ np.swapaxes(chol, 1, 2))
    np.testing.assert_allclose(cov[hit], cov_ref[hit], rtol=1e-5 if n_refine else 1e-8,
                               atol=1e-14)
    for new, old in zip((z, chol, chi[0]), before[:2] + (before[2][0],), strict=True):
        np.testing.assert_array_equal(np.asarray(new)[~hit], np.asarray(old)[~hit])


def _state(reg: float = 2.0, prior: str = "empirical") -> ModelState:
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    return ModelState(config=LuxConfig(reg=reg, prior=prior), specs={}, params={},
                      ln_scatter={}, z_train=np.zeros((5, 2)), prior_mean=np.array([1.0, -1.0]),
                      prior_cov=cov)


def test_each_prior_kind_gives_its_precision_and_mean():
    model = _state()
    prec, mean = prior_terms(model)
    np.testing.assert_allclose(np.asarray(prec), np.linalg.inv(model.prior_cov), rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(mean), [1.0, -1.0])
    prec, mean = prior_terms(model, "l2")
    np.testing.assert_array_equal(np.asarray(prec), 4.0 * np.eye(2))  # 2 Omega I
    np.testing.assert_array_equal(np.asarray(mean), [0.0, 0.0])
    prec, _ = prior_terms(_state(prior="none"))
    assert 0 < float(np.asarray(prec).max()) <= 1e-10
    with pytest.raises(ValueError, match="unknown prior 'flat'"):
        prior_terms(model, "flat")


def test_the_empirical_prior_is_the_latents_mean_and_covariance_with_a_small_ridge():
    z = np.random.default_rng(3).normal(size=(500, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, 2.0]
    mean, cov = latent_prior(z)
    np.testing.assert_allclose(mean, z.mean(0))
    ridge = cov - np.cov(z, rowvar=False)
    np.testing.assert_allclose(ridge, np.eye(3) * ridge[0, 0], atol=1e-15)
    assert 0 < ridge[0, 0] < 1e-7
    one_mean, one_cov = latent_prior(z[:1])
    np.testing.assert_allclose(one_cov, np.eye(3) * (1 + 3e-8), rtol=1e-6)
    np.testing.assert_array_equal(one_mean, z[0])
