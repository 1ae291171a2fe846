"""Correlated errors: the full Gaussian likelihood of an output with a per-object error
covariance (training, prediction, missing entries, clipping, scatter)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from starlux import Dataset
from starlux.covariance import (
    drop,
    fit_scatter_full,
    precision,
    solve_map,
    standardised,
)
from starlux.data import DataError
from starlux.fit import fit_scatter
from starlux.io.datasets import write_dataset
from starlux.latents import prior_terms
from starlux.model import Lux
from starlux.stream import predict_file
from starlux.transforms import LinearTransform
from starlux.transforms.base import Transform

FAST = dict(progress=False, calibrate=False, precision="float64")


def _ar1(d: int, rho: float) -> np.ndarray:
    i = np.arange(d)
    return rho ** np.abs(i[:, None] - i[None, :])


def correlated_toy(n: int, d: int = 24, rho: float = 0.95, seed: int = 0,
                   missing: float = 0.0) -> tuple[Dataset, dict]:
    """Two labels and a flux linear in three latents; the flux noise is AR(1) across
    pixels with correlation ``rho`` and a per-object level; ``missing`` of the flux
    entries are NaN (their covariance rows and columns 0)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3))
    labels = z[:, :2] * [300.0, 0.5] + [4500.0, 2.5]
    b = 0.05 * rng.normal(size=(d, 3))
    flux = 1.0 + 0.1 * rng.normal(size=d) + z @ b.T
    sig = 0.02 * (1.0 + rng.random(n))[:, None] * np.ones(d)
    cov = sig[:, :, None] * _ar1(d, rho)[None] * sig[:, None, :]
    noise = np.einsum("nde,ne->nd", np.linalg.cholesky(cov), rng.normal(size=(n, d)))
    obs = flux + noise
    if missing:
        gone = rng.random(obs.shape) < missing
        obs[gone] = np.nan
        cov[gone[:, :, None] | gone[:, None, :]] = 0.0
    lerr = np.tile([30.0, 0.05], (n, 1))
    lab = labels + lerr * rng.normal(size=labels.shape)
    ds = Dataset.from_arrays(flux=obs, flux_cov=cov, label=lab, label_err=lerr,
                             label_names=["TEFF", "LOGG"], ids=np.arange(n))
    return ds, {"labels": labels, "cov": cov, "z": z}


def _diagonal(ds: Dataset) -> Dataset:
    """The same data with the flux covariance forgotten (its diagonal errors kept)."""
    o = ds["flux"]
    return Dataset.from_arrays(flux=o.values, flux_err=o.errors, label=ds["label"].values,
                               label_err=ds["label"].errors, label_names=ds["label"].names,
                               ids=ds.ids)


def _gls_latents(model, ds: Dataset, row: int, without: tuple[int, ...] = ()) -> np.ndarray:
    """One object's latents by hand: the generalised least squares of its observed flux
    entries (but ``without``) under (C_oo + S) with the model's prior."""
    o = ds["flux"]
    obs = ~o.missing[row]
    obs[list(without)] = False
    w, b = np.asarray(model.params["flux"]["W"]), np.asarray(model.params["flux"]["b"])
    s2 = np.exp(2 * np.asarray(model.ln_scatter["flux"]))
    k = o.covariance[row][np.ix_(obs, obs)] + np.diag(s2[obs])
    lam = np.linalg.inv(k)
    prec, mean = (np.asarray(a) for a in prior_terms(model))
    h = w[obs].T @ lam @ w[obs] + prec
    g = w[obs].T @ lam @ (o.values[row, obs] - b[obs]) + prec @ mean
    return np.linalg.solve(h, g)


def test_a_diagonal_covariance_gives_exactly_the_diagonal_paths_answer():
    ds, _ = correlated_toy(300, d=16, rho=0.0, seed=3)
    diag = _diagonal(ds)
    m_full = Lux(latents=3, **FAST).fit(ds.take(np.arange(200)))
    m_diag = Lux(latents=3, **FAST).fit(diag.take(np.arange(200)))
    for k in ("W", "b"):
        np.testing.assert_allclose(m_full.params["flux"][k], m_diag.params["flux"][k],
                                   rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(m_full.params["label"][k], m_diag.params["label"][k],
                                   rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m_full.ln_scatter["flux"], m_diag.ln_scatter["flux"], atol=1e-9)
    test = np.arange(200, 300)
    p_full = m_full.predict(ds.take(test), inputs=["flux"])
    p_diag = m_diag.predict(diag.take(test), inputs=["flux"])
    np.testing.assert_allclose(p_full["label"].values, p_diag["label"].values, rtol=1e-9)
    np.testing.assert_allclose(p_full["label"].errors, p_diag["label"].errors, rtol=1e-8)
    np.testing.assert_allclose(p_full.chi2["flux"], p_diag.chi2["flux"], rtol=1e-8)


def test_on_correlated_noise_the_full_likelihood_beats_the_diagonal_one_and_is_calibrated():
    ds, truth = correlated_toy(900, seed=1)
    train, test = np.arange(600), np.arange(600, 900)
    out = {}
    for name, data in (("full", ds), ("diagonal", _diagonal(ds))):
        model = Lux(latents=3, **FAST).fit(data.take(train))
        pred = model.predict(data.take(test), inputs=["flux"])
        resid = pred["label"].values - truth["labels"][test]
        out[name] = (np.sqrt(np.mean(resid**2, axis=0)),
                     np.std(resid / pred["label"].errors, axis=0))
    rmse_full, calib_full = out["full"]
    rmse_diag, calib_diag = out["diagonal"]
    assert np.all(rmse_full < 0.5 * rmse_diag)  # measured: 3.5x smaller
    assert np.all((calib_full > 0.8) & (calib_full < 1.2))
    assert np.max(np.abs(calib_diag - 1)) > 0.25  # measured: 0.78 and 1.33


def test_missing_entries_of_an_output_with_a_covariance_are_marginalised_out():
    ds, truth = correlated_toy(500, seed=2, missing=0.1)
    assert ds["flux"].missing.mean() == pytest.approx(0.1, abs=0.02)
    model = Lux(latents=3, **FAST).fit(ds.take(np.arange(400)))
    test = ds.take(np.arange(400, 500))
    pred = model.predict(test, inputs=["flux"])
    for row in (0, 7, 31):  # each object solved on its own observed block
        np.testing.assert_allclose(pred.z[row], _gls_latents(model, test, row), rtol=1e-7,
                                   atol=1e-9)
    np.testing.assert_array_equal(pred.n_used["flux"], (~test["flux"].missing).sum(axis=1))
    resid = pred["label"].values - truth["labels"][400:]
    assert np.all(np.std(resid / pred["label"].errors, axis=0) < 1.3)


def test_the_precision_of_an_object_is_the_inverse_of_its_observed_block():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 6, 6))
    cov = a @ np.swapaxes(a, 1, 2) + 0.1 * np.eye(6)
    ivar = 1.0 / np.diagonal(cov, axis1=1, axis2=2).copy()
    ivar[1, [2, 4]] = 0.0
    ln_s = np.full(6, -1.0)
    prec = np.asarray(precision(jnp.asarray(cov), jnp.asarray(ivar), jnp.asarray(ln_s)))
    for n in range(3):
        o = ivar[n] > 0
        want = np.zeros((6, 6))
        want[np.ix_(o, o)] = np.linalg.inv(cov[n][np.ix_(o, o)] + np.exp(-2.0) * np.eye(o.sum()))
        np.testing.assert_allclose(prec[n], want, rtol=1e-10, atol=1e-12)
    # an entry removed from a precision (clipping) = the precision of the rest
    bad = np.zeros((3, 6), bool)
    bad[0, 1] = bad[2, [0, 5]] = True
    ivar2 = np.where(bad, 0.0, ivar)
    np.testing.assert_allclose(drop(prec, bad),
                               precision(jnp.asarray(cov), jnp.asarray(ivar2), jnp.asarray(ln_s)),
                               rtol=1e-9, atol=1e-11)


def test_an_outlying_entry_stands_out_given_its_correlated_neighbours():
    cov = 0.01**2 * _ar1(30, 0.95)[None]
    rng = np.random.default_rng(4)
    r = np.linalg.cholesky(cov[0]) @ rng.normal(size=30)
    r[12] += 0.03  # three marginal sigmas: unremarkable alone, glaring given its neighbours
    prec = np.asarray(precision(jnp.asarray(cov), jnp.asarray(np.full((1, 30), 1e4))))
    u = standardised(prec, r[None])[0]
    assert np.argmax(np.abs(u)) == 12 and abs(u[12]) > 6
    assert np.all(np.abs(np.delete(u, [11, 12, 13])) < 4)


def test_the_kronecker_map_solve_is_the_exact_generalised_least_squares():
    rng = np.random.default_rng(5)
    n, d, k = 50, 4, 3
    x = np.concatenate([rng.normal(size=(n, k - 1)), np.ones((n, 1))], axis=1)
    a = rng.normal(size=(n, d, d))
    prec = a @ np.swapaxes(a, 1, 2) + 0.5 * np.eye(d)
    y = rng.normal(size=(n, d))
    sol, chi2 = solve_map(jnp.asarray(x), jnp.asarray(y), jnp.asarray(prec), np.zeros((d, k)),
                          prox=0.0)
    # brute force: whiten each object's rows and solve for vec(Theta) by least squares
    rows, rhs = [], []
    for i in range(n):
        u = np.linalg.cholesky(prec[i]).T  # prec = u^T u
        rows.append(u @ np.kron(np.eye(d), x[i][None]))
        rhs.append(u @ y[i])
    want = np.linalg.lstsq(np.concatenate(rows), np.concatenate(rhs), rcond=None)[0]
    np.testing.assert_allclose(sol.ravel(), want, rtol=1e-8, atol=1e-10)
    r = y - x @ sol.T
    assert chi2 == pytest.approx(np.einsum("nd,nde,ne->", r, prec, r), rel=1e-10)


def test_the_linear_maps_exact_latent_system_equals_the_generic_one():
    rng = np.random.default_rng(6)
    tr = LinearTransform()
    params = tr.init(rng, 4, 7)
    params["b"] = jnp.asarray(rng.normal(size=7))
    z, y = jnp.asarray(rng.normal(size=(5, 4))), jnp.asarray(rng.normal(size=(5, 7)))
    a = rng.normal(size=(5, 7, 7))
    prec = jnp.asarray(a @ np.swapaxes(a, 1, 2))
    h, g = tr.latent_system_full(params, z, y, prec)
    h0, g0 = Transform.latent_system_full(tr, params, z, y, prec)
    np.testing.assert_allclose(h, h0, rtol=1e-10)
    np.testing.assert_allclose(g, g0, rtol=1e-10)


def test_the_scatter_under_a_full_covariance_is_its_maximum_likelihood():
    rng = np.random.default_rng(7)
    n, d = 4000, 5
    cov = (0.1 * _ar1(d, 0.8))[None] * rng.uniform(0.5, 2.0, size=(n, 1, 1))
    s_true = np.array([0.0, 0.05, 0.1, 0.2, 0.0])
    resid = np.einsum("nde,ne->nd", np.linalg.cholesky(cov + np.diag(s_true**2)),
                      rng.normal(size=(n, d)))
    ivar = 1.0 / np.diagonal(cov, axis1=1, axis2=2)
    ln_s, _, _ = fit_scatter_full(resid, jnp.asarray(cov), jnp.asarray(ivar), -8.0)
    s = np.exp(np.asarray(ln_s))
    assert np.all(np.abs(s - s_true) < 0.03)
    # with a diagonal covariance it is the diagonal path's Fisher scoring
    diag = np.zeros_like(cov)
    diag[:, np.arange(d), np.arange(d)] = 1.0 / ivar
    ln_full, _, _ = fit_scatter_full(resid, jnp.asarray(diag), jnp.asarray(ivar), -8.0)
    np.testing.assert_allclose(ln_full, fit_scatter(jnp.asarray(resid), jnp.asarray(ivar)),
                               atol=1e-4)


def test_a_covariance_that_is_not_positive_definite_is_refused_with_a_one_line_error():
    ds, truth = correlated_toy(20, d=6, seed=8)
    cov = truth["cov"].copy()
    cov[5, 0, 1] = cov[5, 1, 0] = 1.5 * np.sqrt(cov[5, 0, 0] * cov[5, 1, 1])  # |rho| > 1
    with pytest.raises(DataError, match="row 5 is not positive definite") as err:
        Dataset.from_arrays(flux=ds["flux"].values, flux_cov=cov)
    assert "\n" not in str(err.value)


def test_a_model_predicts_from_a_dataset_with_a_covariance():
    ds, truth = correlated_toy(400, d=48, seed=9)
    model = Lux(latents=3, **FAST).fit(ds.take(np.arange(300)))
    test = ds.take(np.arange(300, 400))
    pred = model.predict(test, inputs=["flux"])
    for row in (0, 50):
        np.testing.assert_allclose(pred.z[row], _gls_latents(model, test, row), rtol=1e-7,
                                   atol=1e-9)
    assert np.all(np.isfinite(pred.chi2["flux"]))
    assert 0.5 < np.median(pred.chi2["flux"]) < 2.0
    # the same spectra without their covariance give the diagonal answer
    plain = model.predict(_diagonal(test), inputs=["flux"])
    assert not np.allclose(plain.z, pred.z)
    # and the spectra are predicted from the labels
    back = model.predict(test, inputs=["label"], outputs=["flux"])
    assert back["flux"].values.shape == (100, 48)
    # a cosmic ray is rejected (one outlier among D > clip^2 entries: the rejection
    # level scales with the star's own chi^2): the star is solved again without it
    hit = test["flux"].values.copy()
    hit[3, 5] += 0.5
    bad = Dataset.from_arrays(flux=hit, flux_cov=test["flux"].covariance)
    again = model.predict(bad, inputs=["flux"])
    assert again.n_rejected["flux"][3] == 1 and again.n_used["flux"][3] == 47
    np.testing.assert_allclose(again.z[3], _gls_latents(model, bad, 3, without=(5,)),
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(again.z[:3], pred.z[:3])


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_a_file_with_a_covariance_streams_to_the_in_memory_prediction(tmp_path, suffix):
    ds, _ = correlated_toy(260, d=12, seed=10)
    model = Lux(latents=3, **FAST).fit(ds.take(np.arange(200)))
    test = ds.take(np.arange(200, 260))
    data, out = tmp_path / f"test{suffix}", tmp_path / "pred.npz"
    write_dataset(data, test)
    predict_file(model, data, out, chunk_size=32, progress=False)
    ref = model.predict(test, inputs=["flux"], chunk_size=32)
    with np.load(out) as got:
        np.testing.assert_allclose(got["z"], ref.z, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got["label"], ref["label"].values, rtol=1e-10)
