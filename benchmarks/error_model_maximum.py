"""The previous error-model rule, kept only for the before/after comparison of
``bench_calibration.py`` (``std_prev``, ``unc_prev``): c, sigma_j and the trend at the
maximum of the penalised likelihood (sigma_j raised to the truth equation's root less
its standard error), and the error-bar uncertainty from the Fisher information at that
maximum. starlux itself now reports posterior means (``starlux.error_model``): at the
maximum a model error that the residuals cannot tell from zero lands on zero.

Verbatim from the version before that change (starlux 0.1.0), apart from this docstring;
the original module text follows.

The learned error model of a label output: what held-out residuals add to the
statistical (Fisher and map) errors.

Every labelled training star is predicted by a fold model that saw neither its labels
nor its spectrum (``fit``); here its residual against the catalogue, ``r = pred - obs``,
is modelled as Gaussian with variance

    c^2 var_stat  +  sigma_j^2 exp(phi(u) . beta_j)  +  err_obs^2

* ``var_stat``: the prediction's statistical variance (Fisher + map), times one scale
  ``c^2`` shared by every label of the output, with a prior ``ln c^2 ~ N(0, 1)``
  (:data:`SCALE_PRIOR_SD`). Why the prior: when the held-out stars' statistical
  variances are alike (one SNR), ``c^2 var_stat`` and ``sigma_j^2`` trade off and the
  residuals fix only their sum; without it c wandered between 0.01 and 1.4 over
  random splits of the real 671-star set, leaving a test star of lower SNR with an
  error that ignores its noise. Where c is measured, the likelihood outweighs it;
* ``sigma_j^2 exp(phi . beta_j)``: the model-error term of label j, which depends on
  where the star lies in label space. ``u`` are the star's *predicted* labels of this
  output in model units (centred on the training median, unit robust spread), clipped
  to the range the held-out stars cover, and ``phi(u) = [u, u^2]``. ``sigma_j`` is its
  value at the training median;
* ``err_obs``: the catalogue noise, independent of a prediction the star's labels did
  not enter.

Why a trend in label space: a linear model is not equally wrong everywhere. Where the
spectrum responds to the labels unlike the bulk of the training set (metal-poor stars
whose lines fade, hot stars), its residuals are several times those of the bulk, while
its Fisher errors barely change. One constant model error per label then over-states
the error of most stars and under-states it for the few that carry most of the residual
(measured on the line toy: the 5 % hardest stars, mean [Fe/H] -1.45, carry half the
squared residual). The trend is shared by the labels (``beta_j = b + d_j``: a star hard
for one abundance is usually hard for the others), with Gaussian priors ``b ~ N(0, 1)``
and ``d_j ~ N(0, 0.1^2)`` so a few hundred stars give a smooth, mostly shared shape,
and it is kept only when it raises the log-likelihood of the held-out residuals by more
than the Bayesian information criterion's price of its 2D shared coefficients,
``D ln(entries)``: otherwise the model error is one constant per label.

All parameters maximise the (penalised) likelihood of all residuals together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ErrorModel", "calibrate_errors", "model_error_at", "error_bar_uncertainty",
           "TREND_PRIOR_SD", "TREND_LABEL_PRIOR_SD", "SCALE_PRIOR_SD",
           "MIN_STARS_PER_FEATURE"]

TREND_PRIOR_SD = 1.0
"""Prior sd of the shared trend coefficients b (log-variance per unit of u or u^2)."""
TREND_LABEL_PRIOR_SD = 0.1
"""Prior sd of each label's departure d_j from the shared trend."""
SCALE_PRIOR_SD = 1.0
"""Prior sd of ln c^2 about 0: the statistical errors are taken as right to within a
factor of about 1.6 (1 sigma) until the held-out residuals say otherwise."""
MIN_STARS_PER_FEATURE = 10
"""The trend is fitted only with at least this many held-out stars per feature (2 D);
below that the model error is one constant per label."""


@dataclass
class ErrorModel:
    """The error model of one label output (natural units).

    Attributes:
        scale: the factor c on the statistical (Fisher and map) errors.
        sigma: (D,) model error of each label at the training median.
        trend: ``{"lo": (D,), "hi": (D,), "coef": (2D, D)}``: the clip range of ``u``
            and the coefficients ``beta`` (columns: labels); ``None`` for a constant
            model error (too few held-out stars, or a trend the data do not ask for).
        uncertainty: (D,) how well each label's error bar is known: the relative
            1-sigma uncertainty of the total error (statistical and model parts) of the
            median held-out star, from :func:`error_bar_uncertainty`; NaN for a label
            with too few held-out entries.
    """

    scale: float
    sigma: np.ndarray
    trend: dict[str, np.ndarray] | None = None
    uncertainty: np.ndarray | None = None


def _features(u: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(N, D) predicted labels in model units -> (N, 2D) features [u, u^2], u clipped."""
    u = np.clip(np.nan_to_num(u), lo, hi)
    return np.concatenate([u, u**2], axis=1)


MAX_EXPONENT = 20.0
"""The trend's log-variance factor is clamped to +-this (a factor e^10 in the error)."""


def _exponent(phi: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """phi . coef, clamped: the trend's log-variance factor, while fitting (a matrix
    product; :func:`model_error_at` sums row by row instead)."""
    return np.clip(phi @ coef, -MAX_EXPONENT, MAX_EXPONENT)


def model_error_at(sigma: np.ndarray, trend: dict[str, np.ndarray] | None,
                   u: np.ndarray) -> np.ndarray:
    """(N, D) model error of each star (natural units) from its predicted labels ``u``
    (N, D) in model units; ``sigma`` (D,) alone when there is no trend."""
    sigma = np.asarray(sigma, np.float64)
    n = np.shape(u)[0]
    if trend is None:
        return np.broadcast_to(sigma, (n, sigma.size)).copy()
    # the model error is a smooth function of where the star lies: its place to
    # float32 precision is plenty, and makes the error independent of the last-bit
    # differences that block shapes leave in the predicted labels (same seed, same
    # samples whatever the block size)
    phi = _features(np.asarray(u, np.float32).astype(np.float64), trend["lo"], trend["hi"])
    # a row-by-row sum, not a matrix product: a star's error must not depend on which
    # other stars share its block (BLAS kernels differ by block shape in the last bit)
    g = np.clip(np.sum(phi[:, :, None] * trend["coef"][None], axis=1),
                -MAX_EXPONENT, MAX_EXPONENT)
    return sigma[None, :] * np.exp(0.5 * g)


def calibrate_errors(pred_values: np.ndarray, pred_var: np.ndarray, obs: np.ndarray,
                     obs_err: np.ndarray, mask: np.ndarray,
                     position: np.ndarray | None = None) -> ErrorModel:
    """The error model of one label output, learned from held-out predictions.

    Args:
        pred_values, pred_var: (N, D) held-out predictions and their statistical
            variance (natural units).
        obs, obs_err: (N, D) catalogue labels and errors; ``mask`` (N, D) the observed
            entries.
        position: (N, D) the predicted labels in model units (the trend's ``u``);
            ``None`` for a constant model error.

    ``sigma_j`` is the maximum-likelihood value, or the root of the unbiased truth
    equation ``mean[(r^2 - err_obs^2) / (c^2 var_stat + sigma_j^2 g)] = 1`` (``g`` the
    trend factor) lowered by its standard error, whichever is larger: the likelihood is
    pulled towards the stars with precise catalogue values when the model error grows
    with the catalogue error; the truth equation is unbiased whatever the mix, but noisy.
    With fewer than 5 held-out entries of a label its sigma is 0; with no usable label
    at all, ``c = 1`` and zeros.
    """
    d = pred_values.shape[1]
    cols = [j for j in range(d) if mask[:, j].sum() >= 5]
    if not cols:
        return ErrorModel(1.0, np.zeros(d))
    r2 = [(pred_values[mask[:, j], j] - obs[mask[:, j], j]) ** 2 for j in cols]
    e2 = [obs_err[mask[:, j], j] ** 2 for j in cols]
    v = [np.maximum(pred_var[mask[:, j], j], 0.0) for j in cols]
    # each label in units of its typical residual (the likelihood is unit-free, this
    # only conditions the optimiser)
    unit = [max(float(np.mean(a)), 1e-300) for a in r2]
    r2 = [a / u for a, u in zip(r2, unit, strict=True)]
    e2 = [a / u for a, u in zip(e2, unit, strict=True)]
    v = [a / u for a, u in zip(v, unit, strict=True)]

    n_feat = 2 * d
    constant = _maximise(r2, e2, v, [np.zeros((a.size, 0)) for a in r2])
    best, lo, hi = constant, None, None
    if (position is not None and np.isfinite(position).all()
            and position.shape[0] >= MIN_STARS_PER_FEATURE * n_feat):
        lo, hi = position.min(axis=0), position.max(axis=0)
        full = _features(position, lo, hi)
        trended = _maximise(r2, e2, v, [full[mask[:, j]] for j in cols], start=constant)
        # keep the trend only where the data ask for it: its gain in log-likelihood
        # must beat the Bayesian information criterion's price of its shared
        # coefficients, (2D / 2) ln(entries); with a few hundred stars and catalogue
        # noise several times the model error, a trend fitted to noise costs more
        # calibration than it buys (measured on the 600-star emulator set)
        n_entries = sum(a.size for a in r2)
        if constant.nll - trended.nll > 0.5 * n_feat * math.log(n_entries):
            best = trended
    sigma = np.zeros(d)
    coef = np.zeros((best.k, d))
    factors, s2s = [], []  # per label: the trend factor g (N_j,) and sigma_j^2
    for j, col in enumerate(cols):
        g = np.exp(_exponent(best.phi[j], best.coef[:, j]))
        s2_ml = best.s2[j]
        s2_ml = 0.0 if s2_ml <= 1.01e-8 else s2_ml
        s2_truth, se = _truth_root(r2[j] - e2[j], best.c2 * v[j], g)
        s2 = max(s2_ml, s2_truth - se)
        sigma[col] = math.sqrt(s2 * unit[j])
        coef[:, col] = best.coef[:, j]
        factors.append(g)
        s2s.append(s2)
    trend = None if not best.k else {"lo": lo, "hi": hi, "coef": coef}
    uncertainty = np.full(d, np.nan)
    uncertainty[cols] = error_bar_uncertainty(best.c2, s2s, v, factors, e2)
    return ErrorModel(math.sqrt(best.c2), sigma, trend, uncertainty)


def error_bar_uncertainty(c2: float, s2: list[float], v: list[np.ndarray],
                          g: list[np.ndarray], e2: list[np.ndarray]) -> np.ndarray:
    """(J,) relative 1-sigma uncertainty of each label's total error at its median
    held-out star, ``sqrt(c^2 median(v) + s_j^2 median(g))``, from the Fisher
    information of the held-out residuals about ``c^2`` (shared) and each ``s_j^2``.

    Why: the model error is learned from residuals against noisy catalogue values;
    when the catalogue noise is several times the model's error, a few hundred stars
    fix it only to tens of per cent, however it is estimated, and an astronomer
    quoting the error bars should know that. It is a lower bound: the trend's own
    coefficients and tails heavier than Gaussian add to it.
    """
    n_lab = len(v)
    info = np.zeros((n_lab + 1, n_lab + 1))
    at = np.zeros((n_lab, n_lab + 1))
    tau = np.zeros(n_lab)
    for j in range(n_lab):
        t2 = (c2 * v[j] + s2[j] * g[j] + e2[j]) ** 2
        t2 = np.maximum(t2, 1e-300)
        info[0, 0] += 0.5 * float(np.sum(v[j] ** 2 / t2))
        info[0, j + 1] = info[j + 1, 0] = 0.5 * float(np.sum(v[j] * g[j] / t2))
        info[j + 1, j + 1] = 0.5 * float(np.sum(g[j] ** 2 / t2))
        at[j, 0], at[j, j + 1] = np.median(v[j]), np.median(g[j])
        tau[j] = c2 * at[j, 0] + s2[j] * at[j, j + 1]
    cov = np.linalg.pinv(info)
    var_tau = np.maximum(np.einsum("ja,ab,jb->j", at, cov, at), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tau > 0, 0.5 * np.sqrt(var_tau) / tau, np.nan)


@dataclass
class _Fit:
    """A maximum of the penalised likelihood (labels in their own units)."""

    nll: float
    c2: float
    s2: np.ndarray        # (J,)
    coef: np.ndarray      # (K, J)
    phi: list[np.ndarray]
    theta: np.ndarray

    @property
    def k(self) -> int:
        return self.coef.shape[0]


def _maximise(r2: list[np.ndarray], e2: list[np.ndarray], v: list[np.ndarray],
              phi: list[np.ndarray], start: _Fit | None = None) -> _Fit:
    """Fit c^2, sigma_j^2 and (with K > 0 features ``phi``) the trend b + d_j."""
    from scipy.optimize import minimize

    n_lab, k = len(r2), phi[0].shape[1]
    lam_b = 1.0 / TREND_PRIOR_SD**2
    lam_d = 1.0 / TREND_LABEL_PRIOR_SD**2

    def unpack(theta: np.ndarray):
        b = theta[1 + n_lab:1 + n_lab + k]
        dev = theta[1 + n_lab + k:].reshape(k, n_lab)
        return math.exp(theta[0]), theta[1:1 + n_lab], b, dev

    lam_c = 1.0 / SCALE_PRIOR_SD**2

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        c2, ls, b, dev = unpack(theta)
        total = 0.5 * (lam_b * float(b @ b) + lam_d * float(np.sum(dev**2))
                       + lam_c * theta[0] ** 2)
        g_c, g_ls = lam_c * theta[0], np.zeros(n_lab)
        g_b, g_dev = lam_b * b, lam_d * dev.copy()
        for j in range(n_lab):
            sm = np.exp(ls[j] + _exponent(phi[j], b + dev[:, j]))
            t = c2 * v[j] + sm + e2[j]
            q = r2[j] / t
            total += 0.5 * float(np.sum(q + np.log(t)))
            dt = 0.5 * (1.0 - q) / t  # d/dt of (r^2/t + ln t) / 2
            g_c += float(np.sum(dt * v[j])) * c2
            g_ls[j] = float(np.sum(dt * sm))
            if k:
                gj = phi[j].T @ (dt * sm)
                g_b = g_b + gj
                g_dev[:, j] += gj
        return total, np.concatenate([[g_c], g_ls, g_b, g_dev.ravel()])

    theta0 = np.concatenate([[0.0], np.full(n_lab, math.log(0.1)), np.zeros(k + k * n_lab)])
    if start is not None:
        theta0[:1 + n_lab] = start.theta[:1 + n_lab]
    bounds = ([(math.log(1e-4), math.log(1e4))] + [(math.log(1e-8), math.log(10.0))] * n_lab
              + [(-20.0, 20.0)] * (k + k * n_lab))
    res = minimize(nll, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
    c2, ls, b, dev = unpack(res.x)
    return _Fit(float(res.fun), c2, np.exp(ls), b[:, None] + dev, phi, res.x)


def _truth_root(a: np.ndarray, v: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """Root s2 >= 0 of mean(a / (v + s2 g)) = 1 (0 when mean(a / v) <= 1 already), and
    its delta-method standard error."""
    v = np.maximum(v, 1e-12 * max(float(np.mean(np.abs(a))), 1e-300))
    excess = lambda s2: float(np.mean(a / (v + s2 * g))) - 1.0  # noqa: E731
    if excess(0.0) <= 0:
        return 0.0, 0.0
    lo, hi = 0.0, max(float(np.mean(a)) / max(float(np.min(g)), 1e-300), 1e-300)
    while excess(hi) > 0:
        hi *= 4.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    s2 = 0.5 * (lo + hi)
    terms = a / (v + s2 * g)
    slope = max(float(np.mean(a * g / (v + s2 * g) ** 2)), 1e-300)
    return s2, float(np.std(terms)) / math.sqrt(terms.size) / slope
