"""The error model: scale, model error and its trend over label space."""

from __future__ import annotations

import numpy as np
import pytest

from starlux.error_model import MIN_STARS_PER_FEATURE, calibrate_errors, model_error_at


def test_calibration_deconvolves_catalogue_noise():
    rng = np.random.default_rng(1)
    n = 20000
    truth = rng.normal(size=(n, 1))
    pred = truth + rng.normal(size=(n, 1)) * 0.3  # model error 0.3, Fisher 0
    obs_err = np.full((n, 1), 0.5)
    obs = truth + rng.normal(size=(n, 1)) * obs_err
    em = calibrate_errors(pred, np.zeros((n, 1)), obs, obs_err, np.ones((n, 1), bool))
    assert em.trend is None
    assert em.sigma[0] == pytest.approx(0.3, rel=0.1)


def test_calibration_is_honest_when_model_error_grows_with_catalogue_error():
    # model error grows with the catalogue error (hard objects are hard for both):
    # the calibrated errors must be honest against the truth, not against the noisy labels
    rng = np.random.default_rng(2)
    n = 40000
    hard = rng.random(n) < 0.5
    truth = rng.normal(size=(n, 1))
    model_err = np.where(hard, 0.4, 0.1)[:, None]
    pred = truth + rng.normal(size=(n, 1)) * model_err
    fisher_var = np.full((n, 1), 0.05**2)
    obs_err = np.where(hard, 0.5, 0.1)[:, None]
    obs = truth + rng.normal(size=(n, 1)) * obs_err
    em = calibrate_errors(pred, fisher_var, obs, obs_err, np.ones((n, 1), bool))
    z = (pred - truth) / np.sqrt(em.scale**2 * fisher_var + em.sigma**2)
    assert np.std(z) == pytest.approx(1.0, abs=0.05)


def test_calibration_scales_overconfident_statistical_errors_of_every_label():
    # both labels' statistical errors are 2x too small; label 0 has precise catalogue
    # values, label 1 noisy ones: the shared scale comes out near 2 and fixes both
    rng = np.random.default_rng(3)
    n = 20000
    truth = rng.normal(size=(n, 2))
    stat = np.tile([0.1, 0.1], (n, 1)) * rng.uniform(0.5, 1.5, (n, 1))
    pred = truth + rng.normal(size=(n, 2)) * 2.0 * stat
    obs_err = np.tile([0.01, 0.6], (n, 1))
    obs = truth + rng.normal(size=(n, 2)) * obs_err
    em = calibrate_errors(pred, stat**2, obs, obs_err, np.ones((n, 2), bool))
    assert em.scale == pytest.approx(2.0, rel=0.1)
    z = (pred - truth) / np.sqrt(em.scale**2 * stat**2 + em.sigma**2)
    np.testing.assert_allclose(np.std(z, axis=0), 1.0, atol=0.1)




def test_the_error_bar_uncertainty_matches_the_spread_of_its_estimate_over_catalogues():
    # 400 stars, catalogue noise 3x the model error: the error bars cannot be pinned
    # down tightly, and the reported uncertainty says by how much (label 0: model
    # error only; label 1: Fisher errors too)
    n, reps = 400, 60
    rng = np.random.default_rng(5)
    stat = np.column_stack([np.zeros(n), np.full(n, 0.1)]) * rng.uniform(0.5, 1.5, (n, 1))
    sigma = np.array([0.2, 0.1])
    obs_err = np.tile([0.6, 0.3], (n, 1))
    totals, reported = [], []
    for _ in range(reps):
        truth = rng.normal(size=(n, 2))
        pred = truth + rng.normal(size=(n, 2)) * np.sqrt(stat**2 + sigma**2)
        obs = truth + rng.normal(size=(n, 2)) * obs_err
        em = calibrate_errors(pred, stat**2, obs, obs_err, np.ones((n, 2), bool))
        totals.append(np.sqrt(em.scale**2 * np.median(stat**2, 0) + em.sigma**2))
        reported.append(em.uncertainty)
    spread = np.std(totals, axis=0) / np.mean(totals, axis=0)
    reported = np.median(reported, axis=0)  # (infinite where a model error comes out 0)
    assert np.all(reported > 0.1)  # tens of per cent, not a few
    np.testing.assert_allclose(reported, spread, rtol=0.5)


@pytest.mark.parametrize("seed", range(6))
def test_a_scale_the_residuals_cannot_fix_stays_near_one_so_noisier_stars_keep_their_noise(
        seed):
    # the model error dominates and the held-out stars span a narrow SNR range: the
    # residuals barely tell c (without a prior it fell to 0.01 for half the seeds,
    # and a star of lower SNR then got an error that ignores its noise)
    rng = np.random.default_rng(seed)
    n = 500
    stat = np.tile(rng.uniform(0.01, 0.03, (n, 1)), (1, 2))
    truth = rng.normal(size=(n, 2))
    pred = truth + rng.normal(size=(n, 2)) * np.sqrt(stat**2 + 0.1**2)
    obs_err = np.full((n, 2), 0.05)
    obs = truth + rng.normal(size=(n, 2)) * obs_err
    em = calibrate_errors(pred, stat**2, obs, obs_err, np.ones((n, 2), bool))
    assert 0.5 < em.scale < 2.0
    noisy = 0.3  # a star at a tenth of the bulk's SNR: true error sqrt(0.3^2 + 0.1^2)
    ratio = np.sqrt(em.scale**2 * noisy**2 + em.sigma**2) / np.hypot(noisy, 0.1)
    assert np.all((ratio > 0.6) & (ratio < 2.0)), ratio  # c = 0.01 gives 0.35


def _hard_corner(n: int, seed: int):
    """Two labels; the model error grows towards a low first label (metal-poor, say),
    3.3x from the median to 2 sigma below it, and the catalogue noise is twice the
    median star's model error."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(n, 2))
    hard = truth[:, :1] < -1.0
    model_err = 0.1 * np.exp(-0.6 * truth[:, :1]) * np.ones((1, 2))
    pred = truth + rng.normal(size=(n, 2)) * model_err
    obs_err = np.full((n, 2), 0.2)
    obs = truth + rng.normal(size=(n, 2)) * obs_err
    return truth, pred, obs, obs_err, hard[:, 0]


def test_model_error_grows_where_the_held_out_residuals_do():
    truth, pred, obs, obs_err, hard = _hard_corner(8000, 4)
    em = calibrate_errors(pred, np.zeros_like(pred), obs, obs_err, np.ones(pred.shape, bool),
                          position=pred)
    assert em.trend is not None
    # fresh stars from the same population: honest in the hard corner and in the bulk
    truth, pred, _, _, hard = _hard_corner(8000, 5)
    err = model_error_at(em.sigma, em.trend, pred)
    z = (pred - truth) / err
    for group in (hard, ~hard):
        np.testing.assert_allclose(np.std(z[group], axis=0), 1.0, atol=0.15)
    assert np.all(np.median(err[hard], axis=0) > 2.0 * np.median(err[~hard], axis=0))
    # and most stars are no longer inside 1 sigma by a wide margin (a constant model
    # error puts ~80 % of them there)
    assert np.mean(np.abs(z) < 1) == pytest.approx(0.68, abs=0.04)


def test_model_error_is_constant_without_enough_held_out_stars():
    truth, pred, obs, obs_err, _ = _hard_corner(MIN_STARS_PER_FEATURE * 4 - 1, 6)
    em = calibrate_errors(pred, np.zeros_like(pred), obs, obs_err, np.ones(pred.shape, bool),
                          position=pred)
    assert em.trend is None
    err = model_error_at(em.sigma, em.trend, pred)
    np.testing.assert_array_equal(err, np.broadcast_to(em.sigma, pred.shape))


def test_model_error_is_held_at_its_edge_outside_the_training_range():
    truth, pred, obs, obs_err, _ = _hard_corner(4000, 7)
    em = calibrate_errors(pred, np.zeros_like(pred), obs, obs_err, np.ones(pred.shape, bool),
                          position=pred)
    far = np.array([[-50.0, 0.0], [em.trend["lo"][0], 0.0]])
    err = model_error_at(em.sigma, em.trend, far)
    np.testing.assert_allclose(err[0], err[1])
    assert np.all(np.isfinite(err))


def test_no_trend_is_kept_where_the_model_error_is_the_same_everywhere():
    rng = np.random.default_rng(8)
    n = 4000
    truth = rng.normal(size=(n, 3))
    pred = truth + rng.normal(size=(n, 3)) * 0.1
    obs_err = np.full((n, 3), 0.25)
    obs = truth + rng.normal(size=(n, 3)) * obs_err
    em = calibrate_errors(pred, np.zeros_like(pred), obs, obs_err, np.ones(pred.shape, bool),
                          position=pred)
    assert em.trend is None
    np.testing.assert_allclose(em.sigma, 0.1, rtol=0.15)
