"""The learned error model of a label output: what held-out residuals add to the
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

The trend's shape and ``c^2`` maximise the (penalised) likelihood of all residuals
together; each ``sigma_j^2`` is then the *mean of its posterior* given the residuals and
that ``c^2`` (:func:`posterior`), not its maximum: the model-error variance of a new
star is averaged over what the residuals leave open. Why: when the catalogue noise
dominates a label's residuals, its maximum-likelihood ``sigma_j^2`` lands on zero in a
large share of catalogues although the data cannot exclude a model error several times
what that leaves; the errors of such a label were then up to 3x too small on new
stars. The posterior mean is never zero and, when the data do fix ``sigma_j``, equals
the maximum to within ``1 / N``. How well the error bars are known
(:func:`error_bar_uncertainty`) comes from the posterior of ``c^2``, every
``sigma_j^2`` and the trend together.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["ErrorModel", "Posterior", "calibrate_errors", "model_error_at", "posterior",
           "error_bar_uncertainty", "TREND_PRIOR_SD", "TREND_LABEL_PRIOR_SD", "SCALE_PRIOR_SD",
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
        uncertainty: (D,) how well each label's error bars are known: the posterior
            root-mean-square distance from 1 of the std of (pred - truth) / error over
            stars like the held-out ones (:func:`error_bar_uncertainty`); NaN for a
            label with too few held-out entries.
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

    The trend's shape and ``c^2`` are their penalised maximum-likelihood fit; every
    ``sigma_j^2`` is then the mean of its posterior given the held-out residuals and
    that ``c^2`` (:func:`posterior`), so that the reported model-error variance is
    averaged over what the residuals leave open: a model error they cannot tell from
    zero contributes what they cannot exclude, not zero. ``sigma_j^2`` is raised, where
    that is larger, to the root of the unbiased truth equation ``mean[(r^2 - err_obs^2) /
    (c^2 var_stat + sigma_j^2 g)] = 1`` (``g`` the trend factor) lowered by its standard
    error: a guard for the case the Gaussian likelihood gets wrong, a model error that
    grows with the catalogue error (the likelihood is pulled towards the stars with
    precise catalogue values; the truth equation is unbiased whatever the mix, but
    noisy).
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
    # only conditions the optimiser and the integration grids)
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
    factors = [np.exp(_exponent(best.phi[j], best.coef[:, j])) for j in range(len(cols))]
    # sigma_j^2: its posterior mean given c^2 at the mode (c^2 is the shared scale of the
    # statistical errors of stars of every SNR; integrating it too lets the zero bound
    # of every label's sigma_j^2 pull it down: 0.66 instead of 1.16 on pollux's data,
    # where the model errors are zero). Its uncertainty enters ``uncertainty``.
    c2 = best.c2
    post = posterior(r2, e2, v, factors, c2=c2)
    s2s = []
    for j, s2_post in enumerate(posterior(r2, e2, v, factors, c2=c2, fixed=True).mean_s2()):
        s2_truth, se = _truth_root(r2[j] - e2[j], c2 * v[j], factors[j])
        s2s.append(max(s2_post, s2_truth - se))
    sigma = np.zeros(d)
    coef = np.zeros((best.k, d))
    for j, col in enumerate(cols):
        sigma[col] = math.sqrt(s2s[j] * unit[j])
        coef[:, col] = best.coef[:, j]
    trend = None if not best.k else {"lo": lo, "hi": hi, "coef": coef}
    trend_cov = None if not best.k else _trend_covariance(c2, s2s, v, e2, factors, best.phi)
    uncertainty = np.full(d, np.nan)
    uncertainty[cols] = error_bar_uncertainty(post, c2, np.array(s2s), v, factors,
                                              trend_cov, best.phi)
    return ErrorModel(math.sqrt(c2), sigma, trend, uncertainty)


POSTERIOR_DROP = 25.0
"""The integration grids cover where the log posterior is within this of its peak."""
GRID_INNER, GRID_OUTER = 32, 21
"""Points of the grids over each ``ln(sigma_j^2 + f)`` and over ``ln c^2``."""


@dataclass
class Posterior:
    """The posterior of ``c^2`` and each ``sigma_j^2`` given the held-out residuals, on
    grids (labels in the units of their mean squared residual).

    Attributes:
        c2: (K,) grid of ``c^2``; ``w`` (K,) its posterior weights (sum 1).
        s2: per label, (K, L) grid of ``sigma_j^2`` given each ``c2[k]``; ``ws`` the
            conditional weights (each row sums to 1).
    """

    c2: np.ndarray
    w: np.ndarray
    s2: list[np.ndarray]
    ws: list[np.ndarray]

    def mean_c2(self) -> float:
        """Posterior mean of c^2."""
        return float(self.w @ self.c2)

    def mean_s2(self) -> list[float]:
        """Posterior mean of each sigma_j^2 (c^2 integrated out)."""
        return [float(self.w @ np.sum(ws * s2, axis=1))
                for s2, ws in zip(self.s2, self.ws, strict=True)]


def _trapezoid_log_weights(x: np.ndarray, h: np.ndarray) -> tuple[float, np.ndarray]:
    """ln of the trapezoid integral of exp(h) over the grid x, and the normalised
    weights of the grid points."""
    dx = np.diff(x)
    q = np.zeros_like(x)
    q[:-1] += 0.5 * dx
    q[1:] += 0.5 * dx
    a = h + np.log(np.maximum(q, 1e-300))
    top = float(np.max(a))
    w = np.exp(a - top)
    total = float(np.sum(w))
    return top + math.log(total), w / total


def _zoom(log_f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float,
          n: int) -> tuple[np.ndarray, np.ndarray]:
    """A grid of ``n`` points over [lo, hi] narrowed (at most 8 times) to where
    ``log_f`` is within :data:`POSTERIOR_DROP` of its largest value, until that region
    spans at least half of the grid: the returned grid resolves the mass of exp(log_f)
    whether it is spread over the whole range or a spike a thousandth of it wide."""
    for _ in range(8):
        x = np.linspace(lo, hi, n)
        h = log_f(x)
        keep = np.flatnonzero(h > np.max(h) - POSTERIOR_DROP)
        a, b = max(int(keep[0]) - 1, 0), min(int(keep[-1]) + 1, n - 1)
        if b - a >= n // 2:
            break
        lo, hi = float(x[a]), float(x[b])
    return x, h


def _log_s2_integrand(c2: float, r2: np.ndarray, e2: np.ndarray, v: np.ndarray,
                      g: np.ndarray, floor: float) -> Callable[[np.ndarray], np.ndarray]:
    """x -> ln[likelihood * Jeffreys prior * Jacobian] of ``sigma^2 = e^x - floor``
    for one label at a given c^2 (a vectorised function of the grid x)."""
    base = c2 * v + e2

    def log_f(x: np.ndarray) -> np.ndarray:
        s2 = np.maximum(np.exp(x) - floor, 0.0)
        t = np.maximum(base[None, :] + s2[:, None] * g[None, :], 1e-300)
        ll = -0.5 * np.sum(r2[None, :] / t + np.log(t), axis=1)
        jeffreys = 0.5 * np.log(np.maximum(np.sum((g[None, :] / t) ** 2, axis=1), 1e-300))
        return ll + jeffreys + x
    return log_f


def posterior(r2: list[np.ndarray], e2: list[np.ndarray], v: list[np.ndarray],
              g: list[np.ndarray], c2: float = 1.0, fixed: bool = False) -> Posterior:
    """The posterior of ``c^2`` and ``sigma_j^2`` given squared held-out residuals
    ``r2`` (per label (N_j,)), catalogue variances ``e2``, statistical variances ``v``
    and trend factors ``g``, each residual Gaussian with variance
    ``c^2 v + sigma_j^2 g + e2``.

    Priors: ``ln c^2 ~ N(0, SCALE_PRIOR_SD^2)``; for each ``sigma_j^2`` given c^2 the
    Jeffreys prior of a variance component, ``sqrt(sum g^2 / t^2) / sqrt(2)``: flat in
    ``sigma_j^2`` where the catalogue noise dominates the residuals (there the data
    alone say how far from zero the model error may be, with no preference for zero),
    ``1 / sigma_j^2`` where the model error dominates (a scale, as for any variance).
    Given c^2 the labels are independent, so the posterior is computed exactly on
    grids: over ``ln c^2`` the log marginal ``ln N(ln c^2) + sum_j ln int L_j``, and for
    each label over ``x = ln(sigma_j^2 + f_j)`` (``f_j`` the standard error of
    ``sigma_j^2`` at zero: linear near the boundary, logarithmic far from it). Both
    grids are narrowed to where the posterior lives (:func:`_zoom`). ``c2`` (the
    penalised maximum) centres the search over ``c^2``; with ``fixed`` the posterior of
    each ``sigma_j^2`` is given ``c^2 = c2`` instead (a one-point grid).
    """
    floors = []
    for j in range(len(r2)):
        t0 = np.maximum(c2 * v[j] + e2[j], 1e-300)
        info = 0.5 * float(np.sum((g[j] / t0) ** 2))
        floors.append(max(1.0 / math.sqrt(max(info, 1e-300)), 1e-12))
    tops = [math.log(floors[j] + 1e3 / max(float(np.median(g[j])), 1e-300))
            for j in range(len(r2))]
    lam_c = 1.0 / SCALE_PRIOR_SD**2

    def inner(c2: float, j: int) -> tuple[float, np.ndarray, np.ndarray]:
        log_f = _log_s2_integrand(c2, r2[j], e2[j], v[j], g[j], floors[j])
        x, h = _zoom(log_f, math.log(floors[j]), tops[j], GRID_INNER)
        log_z, w = _trapezoid_log_weights(x, h)
        return log_z, np.maximum(np.exp(x) - floors[j], 0.0), w

    last: list[list[tuple[float, np.ndarray, np.ndarray]]] = []

    def log_marginal(y: np.ndarray) -> np.ndarray:
        last[:] = [[inner(math.exp(yk), j) for j in range(len(r2))] for yk in y]
        return np.array([-0.5 * lam_c * yk**2 + sum(r[0] for r in rows)
                         for yk, rows in zip(y, last, strict=True)])

    y0 = math.log(max(c2, 1e-4))
    if fixed:
        y = np.array([y0])
        log_marginal(y)
        w = np.ones(1)
    else:
        lo, hi = max(y0 - 6.0, math.log(1e-4)), min(y0 + 6.0, math.log(1e4))
        y, h = _zoom(log_marginal, lo, hi, GRID_OUTER)  # ``last`` holds this grid's rows
        _, w = _trapezoid_log_weights(y, h)
    s2 = [np.stack([rows[j][1] for rows in last]) for j in range(len(r2))]
    ws = [np.stack([rows[j][2] for rows in last]) for j in range(len(r2))]
    return Posterior(np.exp(y), w, s2, ws)


def error_bar_uncertainty(post: Posterior, c2: float, s2: np.ndarray, v: list[np.ndarray],
                          g: list[np.ndarray], trend_cov: list[np.ndarray] | None = None,
                          phi: list[np.ndarray] | None = None) -> np.ndarray:
    """(J,) how well each label's error bars are known: the root-mean-square of
    ``sqrt(R) - 1``, ``R = mean_i t_i / t_rep,i`` over the held-out stars i, with
    ``t = c^2 v + sigma_j^2 g`` the true error variance and ``t_rep`` the reported one
    (``c2``, ``s2``), over the posterior of c^2 and sigma_j^2 (``post``) and, with
    ``trend_cov`` (per label (K, K), :func:`_trend_covariance`) and the features
    ``phi``, of the trend's coefficients (delta method), added in quadrature.

    ``sqrt(R)`` is the std of (pred - truth) / error that a test set like the held-out
    stars would show, were the error model's parameters at each place the posterior
    allows: the number to read a calibration miss against. Why from the posterior, not
    the curvature of the likelihood at its maximum: where a model error cannot be told
    from zero the maximum sits on the boundary, and the curvature there says nothing
    about how far up the residuals allow it to be (it claimed +-10 % where the truth
    was 80-90 % off). It leaves out tails heavier than Gaussian and the test set's own
    sampling noise (about ``1 / sqrt(2 N_test)`` on a measured std).
    """
    out = np.full(len(v), np.nan)
    for j in range(len(v)):
        rep = c2 * v[j] + s2[j] * g[j]
        if not np.all(rep > 0):
            continue
        a, b = float(np.mean(v[j] / rep)), float(np.mean(g[j] / rep))
        ratio = post.c2[:, None] * a + post.s2[j] * b  # (K, L) mean_i t_i / t_rep,i
        dev2 = float(post.w @ np.sum(post.ws[j] * (np.sqrt(ratio) - 1.0) ** 2, axis=1))
        if trend_cov is not None and phi is not None:
            grad = np.mean((s2[j] * g[j] / rep)[:, None] * phi[j], axis=0)  # dR/d beta_j
            dev2 += 0.25 * float(grad @ trend_cov[j] @ grad)
        out[j] = math.sqrt(dev2)
    return out


def _trend_covariance(c2: float, s2: list[float], v: list[np.ndarray], e2: list[np.ndarray],
                      g: list[np.ndarray], phi: list[np.ndarray]) -> list[np.ndarray]:
    """Per label, the (K, K) covariance of its trend coefficients ``beta_j = b + d_j``:
    the inverse of the expected Fisher information of the held-out residuals about
    ``(c^2, sigma_1^2 .. sigma_J^2, b, d)`` at the reported values, with the priors of
    ``ln c^2``, ``b`` and ``d`` (a Laplace approximation; c^2 and the sigma_j^2 are
    integrated out with it). The trend has 2D shared and 2D^2 per-label coefficients,
    too many for the exact grids of :func:`posterior`."""
    n_lab, k = len(v), phi[0].shape[1]
    n = 1 + n_lab + k + k * n_lab
    info = np.zeros((n, n))
    shared = np.arange(1 + n_lab, 1 + n_lab + k)
    for j in range(n_lab):
        sm = s2[j] * g[j]
        t = np.maximum(c2 * v[j] + sm + e2[j], 1e-300)
        grad = np.column_stack([v[j], g[j], sm[:, None] * phi[j], sm[:, None] * phi[j]])
        own = np.arange(1 + n_lab + k + j, n, n_lab)
        idx = np.concatenate([[0, 1 + j], shared, own])
        info[np.ix_(idx, idx)] += grad.T @ (grad * (0.5 / t**2)[:, None])
    info[0, 0] += 1.0 / (SCALE_PRIOR_SD**2 * c2**2)  # ln c^2 ~ N(0, sd^2), locally in c^2
    info[shared, shared] += 1.0 / TREND_PRIOR_SD**2
    dev = np.arange(1 + n_lab + k, n)
    info[dev, dev] += 1.0 / TREND_LABEL_PRIOR_SD**2
    cov = np.linalg.pinv(info, hermitian=True)
    out = []
    for j in range(n_lab):
        own = np.arange(1 + n_lab + k + j, n, n_lab)
        out.append(cov[np.ix_(shared, shared)] + cov[np.ix_(own, own)]
                   + cov[np.ix_(shared, own)] + cov[np.ix_(own, shared)])
    return out


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
