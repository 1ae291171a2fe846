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




def _near_zero(n: int, s_true: float, rng: np.random.Generator):
    """Two labels, catalogue noise 3x the first label's model error ``s_true`` (its
    residual variance mostly catalogue noise, as for [Ni/Fe] on a hidden APOGEE-like set);
    statistical errors over a factor-3 range of SNR; the second label fixes the scale."""
    stat = np.full((n, 2), 0.1) * rng.uniform(0.5, 1.5, (n, 1))
    truth = rng.normal(size=(n, 2))
    pred = truth + rng.normal(size=(n, 2)) * np.sqrt(stat**2 + np.array([s_true, 0.1])**2)
    obs_err = np.array([0.3, 0.3]) * rng.uniform(0.6, 1.4, (n, 2))
    obs = truth + rng.normal(size=(n, 2)) * obs_err
    return stat, truth, pred, obs, obs_err


def test_a_model_error_the_residuals_cannot_tell_from_zero_is_not_reported_as_zero():
    # the maximum of the likelihood lands on sigma = 0 for about a third of these
    # catalogues, and the errors of those labels were then too small on every new star
    rng = np.random.default_rng(11)
    for _ in range(8):
        stat, truth, pred, obs, obs_err = _near_zero(1000, 0.05, rng)
        em = calibrate_errors(pred, stat**2, obs, obs_err, np.ones(pred.shape, bool))
        assert em.sigma[0] > 0.02
        stat, truth, pred, _, _ = _near_zero(20000, 0.05, rng)  # fresh stars
        z = np.std((pred - truth) / np.sqrt(em.scale**2 * stat**2 + em.sigma**2), axis=0)
        assert np.all(z < 1.0 + 2.0 * em.uncertainty), (z, em.uncertainty)


@pytest.mark.parametrize("s_true", [0.05, 0.1])
def test_the_error_bar_uncertainty_says_how_far_the_std_of_new_stars_lands_from_one(s_true):
    # 40 re-drawn training catalogues of one set whose model error is near zero against
    # its catalogue noise: the realised std of (pred - truth) / err on fresh stars falls
    # within +-1 claimed uncertainty of 1 about as often as a 1-sigma interval should
    # (a curvature-at-the-maximum figure, +-10 % where the truth was 80 % off, gives ~0)
    rng = np.random.default_rng(5)
    stat_t, truth_t, pred_t, _, _ = _near_zero(20000, s_true, rng)
    inside, claimed = [], []
    for _ in range(40):
        stat, truth, pred, obs, obs_err = _near_zero(1000, s_true, rng)
        em = calibrate_errors(pred, stat**2, obs, obs_err, np.ones(pred.shape, bool))
        err = np.sqrt(em.scale**2 * stat_t**2 + em.sigma**2)
        z = np.std((pred_t - truth_t) / err, axis=0)
        inside.append(np.abs(z - 1.0) < em.uncertainty)
        claimed.append(em.uncertainty)
    share = np.mean(inside, axis=0)
    assert np.all((share >= 0.55) & (share <= 0.85)), share
    assert np.median(claimed, axis=0)[0] > 0.08  # tens of per cent, not a few


def test_the_error_bar_uncertainty_counts_the_trend_it_does_not_know():
    # as above, with a model error that grows towards low first labels (kept as a
    # trend): the trend's coefficients are learned from the same noisy residuals
    rng = np.random.default_rng(2)

    def draw(n: int):
        truth = rng.normal(size=(n, 3))
        stat = np.full((n, 3), 0.05) * rng.uniform(0.5, 1.5, (n, 1))
        model_err = 0.1 * np.exp(-0.5 * truth[:, :1]) * np.ones((1, 3))
        pred = truth + rng.normal(size=(n, 3)) * np.sqrt(model_err**2 + stat**2)
        obs_err = 0.3 * rng.uniform(0.6, 1.4, (n, 3))
        return stat, truth, pred, truth + rng.normal(size=(n, 3)) * obs_err, obs_err

    stat_t, truth_t, pred_t, _, _ = draw(30000)
    inside = []
    for _ in range(40):
        stat, truth, pred, obs, obs_err = draw(2000)
        em = calibrate_errors(pred, stat**2, obs, obs_err, np.ones(pred.shape, bool),
                              position=pred)
        assert em.trend is not None
        err = np.sqrt(em.scale**2 * stat_t**2 + model_error_at(em.sigma, em.trend, pred_t)**2)
        z = np.std((pred_t - truth_t) / err, axis=0)
        inside.append(np.abs(z - 1.0) < em.uncertainty)
    share = np.mean(inside, axis=0)
    assert np.all((share >= 0.55) & (share <= 0.85)), share


def test_the_posterior_grids_integrate_what_a_dense_grid_does():
    # the narrowed grids (a spike or a spread, at the boundary or away from it) against
    # brute force on a fine rectangular grid of (ln c^2, sigma^2)
    from starlux.error_model import SCALE_PRIOR_SD, posterior

    rng = np.random.default_rng(3)
    n = 60
    v = 0.3 * rng.uniform(0.2, 2.0, n)
    e2 = rng.uniform(0.2, 1.0, n)
    r2 = (0.8 * v + 0.1 + e2) * rng.chisquare(1, n)
    post = posterior([r2], [e2], [v], [np.ones(n)], c2=1.0)
    y = np.linspace(-6.0, 6.0, 401)[:, None]  # ln c^2, the range the posterior searches
    x = np.linspace(np.log(0.01), np.log(1000.01), 1001)  # sigma^2 = e^x - 0.01, to 1000
    s2 = np.exp(x)[None, :] - 0.01
    t = np.exp(y)[..., None] * v + s2[..., None] + e2
    log_p = (-0.5 * np.sum(r2 / t + np.log(t), axis=-1) + 0.5 * np.log(np.sum(t**-2, axis=-1))
             - 0.5 * y**2 / SCALE_PRIOR_SD**2 + x)
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    assert post.mean_c2() == pytest.approx(float(np.sum(p * np.exp(y))), rel=2e-3)
    assert post.mean_s2()[0] == pytest.approx(float(np.sum(p * s2)), rel=2e-3)


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
