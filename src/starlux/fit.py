"""Training (paper §4.1–4.2, appendix A) with exact batched solves.

Agenda 1 (``n_iter`` rounds, no scatter, no penalty): for every output k solve its map
at fixed latents (exact weighted least squares per output dimension), then solve all
latents at fixed maps. Agenda 2: fit the extra scatter s per dimension by maximum
likelihood at fixed maps and latents; re-solve the maps of outputs with scatter; re-solve
the latents with scatter and the L2 penalty Omega (loss = chi^2/2 + Omega sum z^2).

Every map and latent update is a min-norm (proximal) update from the current value, so
latent dimensions that start at zero are not killed by the exact solves.

Every solve streams over blocks of objects; the chi^2 recorded after each step is a
by-product of the step's own passes over the data.

Outputs with nonlinear transforms (e.g. ``Lux(transforms={"flux": "mlp"})``) change only
agenda 1, which becomes (:func:`fit_core`):

1. labels-as-latents initialisation, as for linear models;
2. a linear warm start: agenda 1 with a linear map for every output (``n_iter`` rounds
   of exact solves);
3. label-aligned latents: the first M coordinates are set to the (rescaled) labels,
   missing ones imputed by the warm start's label maps, the others to the
   standardised principal components of what the warm-start latents hold beyond the
   labels (:func:`_aligned_latents`); every output's linear map is solved at these
   latents and each nonlinear transform starts from it
   (:meth:`~starlux.transforms.Transform.warm_start`; an MLP reproduces it exactly).
   Why: started from the warm start's own latents (the directions a linear map of the
   spectra needs) an MLP describes the spectra as well, but the labels are then a
   curved function of the latents: measured on the emulator benchmark (2,000 stars,
   P = 7), labels from spectra were 47 K in TEFF with those latents, 20 K from
   label-aligned ones with a linear label map;
4. ``n_iter`` nonlinear refinement rounds: every map by its transform's
   :meth:`~starlux.transforms.Transform.fit_params` (exact for linear outputs, optax
   for the nonlinear parameters, streamed over blocks of objects), then the latents by
   the Gauss–Newton block solver (:func:`starlux.latents.solve_block`) from their
   current values;
5. clipping and agenda 2 exactly as for linear models (scatter, penalty, map refit,
   discriminative label maps), with the configured transforms.

Models whose transforms are all linear take the original agenda, step for step.

Around this core, :func:`train` splits the labelled training objects into K folds to
(a) choose the transform family, P and Omega when they are not given (cold fits scored
on held-out folds of nested subsamples, :func:`_select`),
then fits all objects, and (b) learns the per-label model-error term that makes the
reported uncertainties honest: every labelled object gets a prediction from a fold
model that did not see it (started from the final fit, see ``Lux.fold_rounds``), and
:func:`starlux.error_model.calibrate_errors` turns the held-out residuals into the
error scale c and the model-error terms sigma_m (with their trend in label space).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from . import covariance
from .data import DataError, Dataset, Output, label_folds
from .error_model import ErrorModel, calibrate_errors
from .infer import predict_prepared, single_threaded_blas
from .latents import latent_prior, solve_latents
from .linalg import gram_dtype, row_chunks
from .spec import (
    LuxConfig,
    ModelState,
    OutputSpec,
    family_transforms,
    latent_grid,
    outputs_of_kind,
    resolve_latents,
)
from .transforms import LinearTransform
from .units import (
    Prepared,
    column_limits,
    column_quantiles,
    effective_weights,
    label_scaling,
    prepare_output,
    sample_rows,
    screen,
)

__all__ = ["train", "fit_core", "make_specs", "fit_scatter", "FitResult", "NumericalError"]

log = logging.getLogger(__name__)

LN_SCATTER_INIT = -8.0
"""Initial ln s (paper Table 1)."""


def make_specs(dataset: Dataset, config: LuxConfig) -> dict[str, OutputSpec]:
    """Output specifications (scalings, transforms, scatter flags) from training data."""
    scatter = config.scatter
    if scatter is None:
        scatter = tuple(k for k, o in dataset.outputs.items() if o.kind == "spectrum")
    unknown = [k for k in scatter if k not in dataset]
    if unknown:
        raise DataError(f"scatter requested for unknown output(s) {unknown}")
    specs = {}
    for k, o in dataset.outputs.items():
        observed = ~o.missing
        empty_cols = np.flatnonzero(~observed.any(axis=0))
        limits = column_limits(o.values, o.errors, o.missing, o.kind)
        if o.kind == "label":
            if empty_cols.size:
                raise DataError(f"{k}: label column(s) {[o.names[i] for i in empty_cols]} "
                                "have no observed value in the training set")
            # centre and scale from the entries that pass the screening (a few
            # sentinels must not set the model units)
            _, _, outlier = screen(np, o.values, o.errors, o.missing, limits)
            center, scale = label_scaling(o.values, observed & ~outlier)
        else:
            center, scale = np.zeros(o.dim), np.ones(o.dim)
        specs[k] = OutputSpec(name=k, kind=o.kind, names=o.names, wavelength=o.wavelength,
                              center=center, scale=scale, transform=config.transform_for(k),
                              has_scatter=k in scatter, limits=limits)
    return specs


@dataclass
class FitResult:
    params: dict[str, dict[str, jax.Array]]
    z: jax.Array
    ln_scatter: dict[str, jax.Array]
    history: list[tuple[str, float]] = field(default_factory=list)
    map_cov: dict[str, np.ndarray] = field(default_factory=dict)
    weights: dict[str, jax.Array] = field(default_factory=dict)  # after clipping
    clipped: dict[str, int] = field(default_factory=dict)


def map_covariances(specs: dict[str, OutputSpec], params: dict[str, Any],
                    data: dict[str, tuple[jax.Array, jax.Array]], z: jax.Array,
                    prox: float) -> dict[str, np.ndarray]:
    """Parameter covariances of the label outputs whose transform provides one
    (:meth:`~starlux.transforms.Transform.param_covariance`)."""
    out = {}
    for k, (_, w) in data.items():
        if specs[k].kind == "label":
            cov = specs[k].transform.param_covariance(params[k], z, w, prox)
            if cov is not None:
                out[k] = np.asarray(cov)
    return out


@partial(jax.jit, static_argnames=("n_iter",))
def fit_scatter(resid: jax.Array, ivar: jax.Array, n_iter: int = 10) -> jax.Array:
    """Maximum-likelihood extra scatter per column.

    Maximises ``sum_n -0.5 [r^2 / (sigma^2 + s^2) + ln(sigma^2 + s^2)]`` over ``v = s^2 >=
    s_min^2`` for each column independently (observed entries only), by Fisher scoring:
    ``v <- v + sum (r^2 - t) / t^2 / sum 1 / t^2`` with ``t = sigma^2 + v``.

    Args:
        resid: (N, D) residuals data - model (model units).
        ivar: (N, D) inverse variances 1/sigma^2 (0 = missing).

    Returns:
        (D,) ln s, floored at the paper's initial value ln s = -8.
    """
    obs = ivar > 0
    var = jnp.where(obs, 1.0 / jnp.where(obs, ivar, 1.0), 0.0)
    r2 = jnp.where(obs, resid**2, 0.0)
    v_min = jnp.exp(jnp.asarray(2.0 * LN_SCATTER_INIT, resid.dtype))
    nobs = jnp.maximum(jnp.sum(obs, axis=0), 1)
    v0 = jnp.maximum(jnp.sum(r2 - var, axis=0) / nobs, v_min)

    def step(_, v):
        t = var + v[None, :]
        inv_t2 = jnp.where(obs, 1.0 / t**2, 0.0)
        score = jnp.sum(inv_t2 * (r2 - jnp.where(obs, t, 0.0)), axis=0)
        info = jnp.maximum(jnp.sum(inv_t2, axis=0), jnp.finfo(resid.dtype).tiny)
        return jnp.maximum(v + score / info, v_min)

    v = jax.lax.fori_loop(0, n_iter, step, v0)
    return 0.5 * jnp.log(v)


def scatter_step(transform: Any, params: dict[str, jax.Array], z: jax.Array, y: jax.Array,
                 ivar: jax.Array, chunk_size: int = 1024, block: int = 512,
                 cov: jax.Array | None = None) -> tuple[jax.Array, jax.Array, float]:
    """Fit the extra scatter of one output at fixed maps and latents.

    Residuals are computed by chunks of objects and kept in the dtype of ``y`` (float32
    residuals are ample for a noise estimate); :func:`fit_scatter` then runs on blocks
    of ``block`` columns, so no float64 (N, D) temporary is formed. An output with
    correlated errors (``cov`` (N, D, D) in model units, ``ivar`` its precisions) gets
    the maximum likelihood under its full covariance
    (:func:`starlux.covariance.fit_scatter_full`).

    Returns ``(ln_s (D,), effective weights (N, D) in the dtype of ivar, chi^2 with them)``
    (the precisions (N, D, D) with ``cov``).
    """
    d = y.shape[1]
    resid = residuals(transform, params, z, y, chunk_size)
    if cov is not None:
        diag = jnp.diagonal(cov, axis1=1, axis2=2)
        ivar_d = jnp.where(covariance.observed(ivar) & (diag > 0),
                           1.0 / jnp.where(diag > 0, diag, 1.0), 0.0)
        return covariance.fit_scatter_full(resid, cov, ivar_d, LN_SCATTER_INIT)
    ivar_host = np.asarray(ivar)
    ln_s, weights, chi2 = [], [], 0.0
    for a in range(0, d, block):
        ln_b, w_b, c_b = _scatter_block(resid[:, a:a + block], ivar_host[:, a:a + block])
        ln_s.append(ln_b)
        weights.append(w_b)
        chi2 += float(c_b)
    return (jnp.asarray(np.concatenate([np.asarray(x) for x in ln_s])),
            jnp.asarray(np.concatenate([np.asarray(x) for x in weights], axis=1)), chi2)


def residuals(transform: Any, params: dict[str, jax.Array], z: jax.Array, y: jax.Array,
              chunk_size: int = 1024) -> np.ndarray:
    """(N, D) residuals ``y - f(z)`` on the host, computed by chunks of objects and kept
    in the dtype of ``y`` (float32 residuals are ample for noise estimates and
    clipping; no float64 (N, D) temporary is formed)."""
    n, d = y.shape
    size = min(chunk_size, n)
    resid = np.empty((n, d), dtype=y.dtype)
    for i, (zc, yc) in enumerate(row_chunks(size, z, y)):
        part = np.asarray(_residual_chunk(transform, params, zc, yc))
        resid[i * size:(i + 1) * size] = part[:n - i * size]
    return resid


@partial(jax.jit, static_argnames=("transform",))
def _residual_chunk(transform: Any, params: dict[str, jax.Array], z: jax.Array,
                    y: jax.Array) -> jax.Array:
    return (y.astype(jnp.float64) - transform.apply(params, z)).astype(y.dtype)


@jax.jit
def _scatter_block(resid: jax.Array, ivar: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    # the scoring iterations run in the storage dtype (float32 in mixed precision)
    # 6 scoring steps from the moment estimate converge ln s to ~1e-8 (measured; the
    # statistical error of ln s is ~1e-2), 10 are the default for general use
    ln_s = fit_scatter(resid, ivar.astype(resid.dtype), n_iter=6).astype(jnp.float64)
    w = effective_weights(ivar, ln_s)
    r = resid.astype(jnp.float64)
    return ln_s, w, jnp.sum(w.astype(jnp.float64) * r * r)


def initial_latents(prepared: dict[str, Prepared], specs: dict[str, OutputSpec],
                    n_latents: int) -> jax.Array:
    """Paper eq. 9 without its constant: z_n = [rescaled labels (0 = centre where
    missing), 0, ..., 0].

    The paper's leading 1 carried each output's constant part; every map now has its
    own offset (:class:`~starlux.transforms.LinearTransform`), and a constant latent
    would be exactly collinear with it (a singular first map solve). The dimensions
    that start at 0 come alive at the first latent solve against the random maps.
    """
    n = next(iter(prepared.values())).y.shape[0]
    cols = [jnp.zeros((n, 0))]
    for k, s in specs.items():
        if s.kind == "label" and k in prepared:
            cols.append(jnp.where(prepared[k].ivar > 0, prepared[k].y, 0.0))
    z = jnp.concatenate(cols, axis=1)
    if z.shape[1] + 1 > n_latents:
        raise ValueError(f"P={n_latents} < M+1={z.shape[1] + 1}: the initialisation needs "
                         "at least one latent per label plus one")
    return jnp.concatenate([z, jnp.zeros((n, n_latents - z.shape[1]))], axis=1)


def _nonlinear(specs: dict[str, OutputSpec], names: list[str]) -> bool:
    """Whether some output's transform is not linear in the latents."""
    return any(not specs[k].transform.exact_latents for k in names)


def steps_per_fit(config: LuxConfig, names: list[str], specs: dict[str, OutputSpec]) -> int:
    """Number of progress steps (chi^2 evaluations) in one :func:`fit_core` call."""
    n_scatter = sum(specs[k].has_scatter for k in names)
    rounds = config.n_iter + (config.clip is not None)
    if _nonlinear(specs, names):
        # the linear warm start, the maps at the aligned latents, the nonlinear rounds
        rounds += config.n_iter
        extra = len(names)
    else:
        extra = 0
    return (rounds * (len(names) + 1) + 2 * n_scatter + 1 + extra
            + (len(names) if config.refit_maps else 0) + _n_discriminative(config, names, specs))


def _n_discriminative(config: LuxConfig, names: list[str], specs: dict[str, OutputSpec]) -> int:
    """Progress steps of :func:`_discriminative_maps` (one per label output)."""
    labels = sum(specs[k].kind == "label" for k in names)
    spectral = len(names) - labels
    return 2 * labels if config.discriminative and spectral else 0


def steps_per_refit(config: LuxConfig, names: list[str], specs: dict[str, OutputSpec]) -> int:
    """Number of progress steps in one :func:`refit_core` call."""
    return ((config.fold_rounds or 0) * (len(names) + 1) + len(names)
            + _n_discriminative(config, names, specs))


def chi2_total(transform: Any, params: dict[str, jax.Array], z: jax.Array, y: jax.Array,
               w: jax.Array, chunk_size: int = 1024) -> float:
    """``sum w (y - f(z))^2`` over all entries, by chunks of objects."""
    # zero-padded rows of the last block have zero weight
    return float(sum(_chi2_chunk(transform, params, zc, yc, wc)
                     for zc, yc, wc in row_chunks(chunk_size, z, y, w)))


@partial(jax.jit, static_argnames=("transform",))
def _chi2_chunk(transform, params, z, y, w) -> jax.Array:
    r = y.astype(jnp.float64) - transform.apply(params, z)
    return covariance.chi2(w.astype(jnp.float64), r)


class _Tracker:
    """chi^2 per output, the history of the total, and the progress bar."""

    def __init__(self, names: list[str], desc: str, bar: Any, total: int, progress: bool):
        self.chi = dict.fromkeys(names, math.nan)
        self.history: list[tuple[str, float]] = []
        self.desc = desc
        self.own = bar is None
        self.bar = tqdm(total=total, desc=desc, disable=None if progress else True,
                        leave=False) if bar is None else bar

    def record(self, step: str, **chi2: float) -> None:
        self.chi.update(chi2)
        total = float(sum(self.chi.values()))
        self.history.append((step, total))
        # chi^2 is shown once every output has one (a fold's first step knows only
        # the first output's): the bar never prints a NaN
        shown = f" chi2={total:.4g}" if math.isfinite(total) else ""
        self.bar.set_postfix_str(f"{self.desc}: {step}{shown}")
        self.bar.update(1)

    def close(self) -> None:
        if self.own:
            self.bar.close()


class NumericalError(DataError):
    """A training step produced non-finite numbers; the message names the step and the
    star, pixel or label responsible (no model is ever written with them)."""


def _check_finite(step: str, what: str, array: Any, names: Any = None) -> None:
    """Raise :class:`NumericalError` naming the first non-finite row of ``array``."""
    a = np.asarray(array)
    bad = ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        first = rows[0] if names is None else names[rows[0]]
        raise NumericalError(f"training step '{step}' gave non-finite values for "
                             f"{rows.size} {what}(s), first: {first}; check that entry's "
                             "values and errors")


def _solve_maps(specs, params, data, z, config, names, track: _Tracker, step: str) -> None:
    for k in names:
        y, w = data[k]
        params[k], chi2 = specs[k].transform.fit_params(
            params[k], z, y, w, prox=config.prox, precision=config.precision,
            chunk_size=config.chunk_size)
        label = step.format(k=k)
        for a in params[k].values():
            if np.ndim(a) and np.shape(a)[0] == specs[k].dim:
                what = "label" if specs[k].kind == "label" else "pixel"
                _check_finite(label, f"{k} {what}", a, specs[k].names)
        track.record(label, **{k: chi2})


def _solve_z(specs, params, data, z, reg, config, track: _Tracker, step: str) -> jax.Array:
    p = z.shape[1]
    sol = solve_latents(_transforms(specs), params, data, 2.0 * reg * jnp.eye(p),
                        jnp.zeros(p), z0=z, prox=config.prox, chunk_size=config.chunk_size,
                        precision=config.precision)
    _check_finite(step, "star", sol.z)
    track.record(step, **{k: float(jnp.sum(c)) for k, c in sol.chi2.items()})
    return sol.z


def clip_outliers(specs: dict[str, OutputSpec], params: dict[str, Any],
                  data: dict[str, tuple[jax.Array, jax.Array]], z: jax.Array,
                  clip: float, chunk_size: int = 1024) -> tuple[dict[str, Any], dict[str, int]]:
    """Zero the weight of entries whose normalised residual ``(y - f(z)) sqrt(w)`` is
    more than ``clip`` robust standard deviations (1.4826 MAD, at least 1) from 0 in
    its column: cosmic rays, bad pixels, wrong catalogue values with ordinary errors.

    The robust scale is per column because, before the extra scatter is fitted, the
    residuals of high-SNR pixels are dominated by model misfit; measuring in units of
    each column's own spread clips only what stands out of it. Returns the new
    ``{output: (y, w)}`` and the number of entries clipped per output.

    With correlated errors (full precisions ``w``) an entry's residual is taken given
    the object's other entries, and a clipped entry is marginalised out
    (:func:`starlux.covariance.standardised`, :func:`~starlux.covariance.drop`).
    """
    out, counts = {}, {}
    for k, (y, w) in data.items():
        w_host = np.asarray(w)
        r = residuals(specs[k].transform, params[k], z, y, chunk_size)
        u = covariance.standardised(w_host, r).astype(np.float32)
        obs = covariance.observed(w_host)
        rows = sample_rows(y.shape[0])
        sample = np.where(obs[rows], np.abs(u[rows]), np.nan)
        scale = 1.4826 * column_quantiles(sample, 0.5)[0]  # NaN: a column with no entry
        scale = np.where(np.isfinite(scale), np.maximum(scale, 1.0), 1.0)
        bad = obs & (np.abs(u) > clip * scale[None, :])
        counts[k] = int(bad.sum())
        out[k] = (y, jnp.asarray(covariance.drop(w_host, bad).astype(w_host.dtype))
                  if counts[k] else w)
    return out, counts


def _discriminative_maps(specs, params, data, z, config: LuxConfig, track: _Tracker,
                         covs: dict[str, jax.Array] | None = None,
                         ) -> tuple[jax.Array, dict[str, tuple[jax.Array, jax.Array]]]:
    """Re-solve the label maps on the latents the training objects get from their
    spectra alone (with the inference prior), as every new object's latents will be.

    Why: the maps fitted jointly with the labels suit latents that saw the labels; a
    star inferred from its spectrum has latents shrunk towards the prior along the
    directions its spectrum constrains poorly, and the best map for those latents is
    the regression of the labels on them (regression calibration). Measured on the
    671-star real set, this is what brings the labels from spectra to ridge
    regression's accuracy.

    The regression is weighted by ``1 / (err^2 + s^2)``, with ``s`` the maximum-
    likelihood scatter of the labels about it (:func:`fit_scatter`): its noise is the
    catalogue error *and* what the spectra cannot say about the label. Weighted by the
    catalogue errors alone, a few stars with tiny catalogue errors (APOGEE's internal
    Teff errors run from 3 K to 2,000 K) would set the map, and hot stars, whose
    errors are larger, would hardly count: on 5,000 Gaia XP spectra this took the
    TEFF RMSE from 250 K to 220 K and the bias of 6,000-6,500 K stars from -299 K to
    -128 K.

    Returns the latents the label maps were solved at and the label outputs' data with
    those weights (for the map covariances); ``z`` and ``{}`` when nothing is
    re-solved.
    """
    spectral = [k for k in data if specs[k].kind != "label"]
    labels = [k for k in data if specs[k].kind == "label"]
    if not (config.discriminative and spectral and labels):
        return z, {}
    mean, cov = latent_prior(np.asarray(z))
    prec = np.linalg.inv(cov)
    sol = solve_latents(_transforms(specs), params, {k: data[k] for k in spectral},
                        jnp.asarray(0.5 * (prec + prec.T)), jnp.asarray(mean),
                        chunk_size=config.chunk_size, precision=config.precision)
    _solve_maps(specs, params, data, sol.z, config, labels, track,
                "label maps from spectra-only latents ({k})")
    tempered = {}
    for k in labels:
        y, w = data[k]
        _, w_eff, _ = scatter_step(specs[k].transform, params[k], sol.z, y, w,
                                   chunk_size=config.chunk_size, cov=(covs or {}).get(k))
        tempered[k] = (y, w_eff)
    _solve_maps(specs, params, tempered, sol.z, config, labels, track,
                "label maps with their scatter ({k})")
    return sol.z, tempered


def _transforms(specs: dict[str, OutputSpec]) -> dict[str, Any]:
    return {k: s.transform for k, s in specs.items()}


def _linear_specs(specs: dict[str, OutputSpec]) -> dict[str, OutputSpec]:
    """``specs`` with a linear map for every output (the warm start of nonlinear ones)."""
    return {k: s if isinstance(s.transform, LinearTransform)
            else replace(s, transform=LinearTransform()) for k, s in specs.items()}


def _aligned_latents(specs: dict[str, OutputSpec], params: dict[str, Any],
                     data: dict[str, tuple[jax.Array, jax.Array]], z: jax.Array) -> jax.Array:
    """Latents whose first M coordinates are the (rescaled) labels, the rest the
    standardised principal components of what the warm-start latents hold beyond them.

    Missing labels are imputed by the warm start's label maps. Why: a nonlinear
    transform fitted on the warm start's latents (the directions a linear map of the
    spectra needs) describes the spectra as well, but the labels are then a nonlinear
    function of the latents, which a linear label map cannot follow; starting the
    nonlinear fit from label coordinates keeps the labels linear in z.
    """
    zh = np.asarray(z, np.float64)
    cols = []
    for k, s in specs.items():
        if s.kind == "label" and k in data:
            y, w = (np.asarray(a, np.float64) for a in data[k])
            pred = np.asarray(s.transform.apply(params[k], jnp.asarray(zh)))
            cols.append(np.where(covariance.observed(w), y, pred))
    lab = np.concatenate(cols, axis=1) if cols else np.zeros((zh.shape[0], 0))
    extra = zh.shape[1] - lab.shape[1]
    if extra <= 0:
        return jnp.asarray(lab[:, :zh.shape[1]])
    x = np.concatenate([lab, np.ones((zh.shape[0], 1))], axis=1)
    resid = zh - x @ np.linalg.lstsq(x, zh, rcond=None)[0]
    u, sv, _ = np.linalg.svd(resid - resid.mean(axis=0), full_matrices=False)
    scores = u[:, :extra] * np.sqrt(zh.shape[0])  # unit variance per component
    scores = np.where(sv[None, :extra] > 1e-12 * max(sv[0], 1e-300), scores, 0.0)
    return jnp.asarray(np.concatenate([lab, scores], axis=1))


def fit_core(
    prepared: dict[str, Prepared],
    specs: dict[str, OutputSpec],
    n_latents: int,
    reg: float,
    config: LuxConfig,
    seed: int,
    desc: str = "train",
    bar: Any = None,
) -> FitResult:
    """Agendas 1 and 2 on prepared arrays (model units). Returns maps, latents, scatter.

    The chi^2 recorded after each step is a by-product of the step's own passes over
    the data (no separate evaluation).
    """
    names = list(prepared)
    # one independent stream per output, in output order (same seed, same maps)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(names))]
    nonlinear = _nonlinear(specs, names)
    # a nonlinear model starts as a linear one (the warm start); its own transforms'
    # initial parameters are drawn from the same streams afterwards
    agenda1 = _linear_specs(specs) if nonlinear else specs
    params = {k: agenda1[k].transform.init(r, n_latents, specs[k].dim)
              for k, r in zip(names, rngs, strict=True)}
    z = initial_latents(prepared, specs, n_latents)
    raw = {k: covariance.solve_data(prepared[k]) for k in names}
    covs = {k: prepared[k].cov for k in names if prepared[k].cov is not None}
    track = _Tracker(names, desc, bar, steps_per_fit(config, names, specs), config.progress)
    track.chi.update({k: chi2_total(agenda1[k].transform, params[k], z, *raw[k],
                                    chunk_size=config.chunk_size) for k in names})

    warm = " (linear warm start)" if nonlinear else ""
    for it in range(config.n_iter):
        _solve_maps(agenda1, params, raw, z, config, names, track,
                    f"maps, round {it + 1}{warm} ({{k}})")
        z = _solve_z(agenda1, params, raw, z, 0.0, config, track,
                     f"latents, round {it + 1}{warm}")
    if nonlinear:
        z = _aligned_latents(agenda1, params, raw, z)
        params = {k: {"W": jnp.zeros_like(p["W"]), "b": jnp.zeros_like(p["b"])}
                  for k, p in params.items()}
        _solve_maps(agenda1, params, raw, z, config, names, track,
                    "linear maps at label-aligned latents ({k})")
        params = {k: specs[k].transform.warm_start(specs[k].transform.init(
                      r, n_latents, specs[k].dim), params[k])
                  for k, r in zip(names, rngs, strict=True)}
        for it in range(config.n_iter):
            _solve_maps(specs, params, raw, z, config, names, track,
                        f"maps, nonlinear round {it + 1} ({{k}})")
            z = _solve_z(specs, params, raw, z, 0.0, config, track,
                         f"latents, nonlinear round {it + 1}")
    clipped: dict[str, int] = {}
    if config.clip is not None:
        # robust fitting: outlying entries lose their weight, then one more round
        raw, clipped = clip_outliers(specs, params, raw, z, config.clip, config.chunk_size)
        _solve_maps(specs, params, raw, z, config, names, track, "maps after clipping ({k})")
        z = _solve_z(specs, params, raw, z, 0.0, config, track, "latents after clipping")

    ln_s = {}
    data = dict(raw)
    scatter_outputs = [k for k in names if specs[k].has_scatter]
    for k in scatter_outputs:
        y, w = raw[k]
        ln_s[k], w_eff, chi2 = scatter_step(specs[k].transform, params[k], z, y, w,
                                            chunk_size=config.chunk_size, cov=covs.get(k))
        data[k] = (y, w_eff)
        track.record(f"extra scatter ({k})", **{k: chi2})
    _solve_maps(specs, params, data, z, config, scatter_outputs, track,
                "maps with scatter ({k})")
    z = _solve_z(specs, params, data, z, reg, config, track, "latents with scatter and penalty")
    if config.refit_maps:
        _solve_maps(specs, params, data, z, config, names, track, "final maps ({k})")
    z_maps, tempered = _discriminative_maps(specs, params, data, z, config, track, covs)
    track.close()
    return FitResult(params=params, z=z, ln_scatter=ln_s, history=track.history,
                     map_cov=map_covariances(specs, params, {**data, **tempered}, z_maps,
                                             config.prox),
                     weights={k: covariance.diagonal_weights(w, prepared[k].ivar)
                              for k, (_, w) in raw.items()}, clipped=clipped)


def refit_core(
    prepared: dict[str, Prepared],
    specs: dict[str, OutputSpec],
    start: FitResult,
    rows: np.ndarray,
    reg: float,
    config: LuxConfig,
    desc: str = "refit",
    bar: Any = None,
) -> FitResult:
    """A model for the objects ``rows`` only, started from a fit to all objects.

    Keeps ``start``'s extra scatter; re-solves the maps at the latents of ``rows``, then
    ``config.fold_rounds`` times the latents (with the penalty) and the maps again.
    Used for the calibration folds: the objects outside ``rows`` influence the result
    only through the starting point.
    """
    names = list(prepared)
    params = dict(start.params)
    z = start.z[rows]
    parts = _rows(prepared, rows)
    data = {k: covariance.solve_data(part, start.ln_scatter.get(k)) for k, part in parts.items()}
    covs = {k: part.cov for k, part in parts.items() if part.cov is not None}
    track = _Tracker(names, desc, bar, steps_per_refit(config, names, specs), config.progress)
    _solve_maps(specs, params, data, z, config, names, track, "maps on the fold ({k})")
    for it in range(config.fold_rounds or 0):
        z = _solve_z(specs, params, data, z, reg, config, track, f"fold latents, round {it + 1}")
        _solve_maps(specs, params, data, z, config, names, track,
                    f"fold maps, round {it + 1} ({{k}})")
    z_maps, tempered = _discriminative_maps(specs, params, data, z, config, track, covs)
    track.close()
    return FitResult(params=params, z=z, ln_scatter=dict(start.ln_scatter),
                     history=track.history,
                     map_cov=map_covariances(specs, params, {**data, **tempered}, z_maps,
                                             config.prox))


def _model_from_fit(config: LuxConfig, specs, res: FitResult, ids=None) -> ModelState:
    from . import __version__

    z = np.asarray(res.z)
    mean, cov = latent_prior(z)
    return ModelState(
        config=config,
        specs=specs,
        params={k: {a: np.asarray(v) for a, v in p.items()} for k, p in res.params.items()},
        ln_scatter={k: np.asarray(v) for k, v in res.ln_scatter.items()},
        z_train=z,
        prior_mean=mean,
        prior_cov=cov,
        history=list(res.history),
        map_cov=dict(res.map_cov),
        train_ids=ids,
        version=__version__,
    )


def _error_model(spec: OutputSpec, labels: Output, held: dict[str, np.ndarray],
                 rows: np.ndarray) -> ErrorModel:
    """The error model of one label output from its held-out predictions ``held``
    (:func:`_held_out`) of the objects ``rows`` (every fold's, in fold order) against
    the catalogue ``labels`` (columns in model order)."""
    values, used = held["values"][rows], held["used"][rows]
    return calibrate_errors(values, held["statistical_var"][rows], labels.values[rows],
                            np.where(used, labels.errors[rows], 0.0), used,
                            (values - spec.center) / spec.scale)


def _score(pred, dataset: Dataset, specs) -> float:
    """Mean held-out squared error over label columns, in rescaled units."""
    errs = []
    for k, s in specs.items():
        if s.kind != "label" or k not in pred.outputs:
            continue
        o = dataset[k].select(s.names)
        r = (pred[k].values - o.values) / s.scale
        for j in range(o.dim):
            m = ~o.missing[:, j]
            if m.any():
                errs.append(float(np.mean(r[m, j] ** 2)))
    return float(np.mean(errs)) if errs else math.inf


def _latent_cap(n_labels: int, n_dims: int, n_fit: int) -> int:
    """The largest P the automatic choice tries: the smaller of the output dimensions
    and half the objects a fold model is fitted on (at least M + 1)."""
    return max(n_labels + 1, min(n_dims, n_fit // 2))


def _latent_candidates(config: LuxConfig, n_labels: int, n_dims: int, n_fit: int) -> list[int]:
    """Latent sizes to try: the configured one, or ``latent_grid`` capped by
    :func:`_latent_cap`."""
    if config.latents is not None:
        return [resolve_latents(config.latents, n_labels)]
    cap = _latent_cap(n_labels, n_dims, n_fit)
    return [p for _, p in latent_grid(config.latent_grid, n_labels, cap)]


def _families(config: LuxConfig, specs: dict[str, OutputSpec]
              ) -> list[tuple[str, dict[str, OutputSpec]]]:
    """The transform families to compare, each with its output specifications: the
    configured transforms alone when given, every ``config.families`` when P is
    chosen too, else the first family."""
    if config.transforms is not None:
        return [("as configured", specs)]
    fams = config.families if config.latents is None else config.families[:1]
    kinds = {k: s.kind for k, s in specs.items()}
    out = []
    for fam in fams:
        chosen = family_transforms(fam, kinds)
        out.append((fam, {k: replace(s, transform=chosen.get(k, LinearTransform()))
                          for k, s in specs.items()}))
    return out


REFERENCE_REG = 10.0
"""Omega used while P is being chosen, when Omega is chosen too."""


def train(config: LuxConfig, dataset: Dataset) -> ModelState:
    """Train a Lux model; see the module docstring for the procedure."""
    with single_threaded_blas():  # batched small LAPACK calls: OpenBLAS threads only hurt
        return _train(config, dataset)


def _rows(prepared: dict[str, Prepared], rows: np.ndarray) -> dict[str, Prepared]:
    # rows gathered on the host (a NumPy view of a CPU array; 4x faster than XLA's gather)
    return {k: Prepared(jnp.asarray(np.asarray(p.y)[rows]), jnp.asarray(np.asarray(p.ivar)[rows]),
                        cov=None if p.cov is None else jnp.asarray(np.asarray(p.cov)[rows]))
            for k, p in prepared.items()}


def usable_objects(dataset: Dataset) -> np.ndarray:
    """(N,) True for objects with at least one observed entry in any output."""
    keep = np.zeros(dataset.n, bool)
    for o in dataset.outputs.values():
        keep |= (~o.missing).any(axis=1)
    return keep


def _usable_training_set(dataset: Dataset) -> Dataset:
    """The training objects that have data; errors for a set nothing can be fitted on."""
    keep = usable_objects(dataset)
    if not keep.all():
        log.warning("dropped %d training object(s) with no usable data (every value "
                    "missing)", int((~keep).sum()))
        dataset = dataset.take(np.flatnonzero(keep))
    if dataset.n < 2:
        raise DataError(f"need at least 2 training objects with data, got {dataset.n}")
    for k, o in dataset.outputs.items():
        if not (~o.missing).any():
            raise DataError(f"{k}: no observed entry in the training set")
    return dataset


@dataclass
class _Folds:
    """The held-out folds of one training run: each fold's model (fitted cold, or
    re-fitted from the final fit) and its predictions of the fold's labels from
    spectra alone."""

    dataset: Dataset
    prep: dict[str, Prepared]
    specs: dict[str, OutputSpec]
    rows: list[np.ndarray]  # the held-out objects of each fold
    config: LuxConfig
    bar: Any
    # label entries the screening set aside, (N, D) per label output (from ``prep`` as
    # prepared, before the final fit's clipping replaces its weights)
    screened: dict[str, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        self.screened = {name: ~np.asarray(self.prep[name].observed) & ~self.dataset[name]
                         .select(self.specs[name].names).missing for name in self.labels}

    @property
    def spectral(self) -> list[str]:
        return outputs_of_kind(self.specs, "spectrum")

    @property
    def labels(self) -> list[str]:
        return outputs_of_kind(self.specs, "label")

    def fitted_on(self, i: int) -> np.ndarray:
        return np.setdiff1d(np.arange(self.dataset.n), self.rows[i])

    def held_out_labels(self, i: int) -> Dataset:
        """Fold ``i``'s catalogue labels (columns in model order) without the entries
        the screening set aside: sentinels and fill values are no evidence of the
        model's error. (Entries clipped by the robust fit stay: a star far off the
        training fit is often a hard star, and its residual is what the model error
        must cover.)"""
        rows = self.rows[i]
        outputs = {}
        for name in self.labels:
            o = self.dataset[name].select(self.specs[name].names).take(rows)
            outputs[name] = replace(o, missing=o.missing | self.screened[name][rows])
        return Dataset(outputs=outputs, ids=None if self.dataset.ids is None
                       else self.dataset.ids[rows])

    def predict(self, i: int, res: FitResult, cfg: LuxConfig) -> tuple[Dataset, Any]:
        """(held-out objects' labels, their prediction by the model ``res``)."""
        hold_ds = self.held_out_labels(i)
        sub = _model_from_fit(cfg, self.specs, res)
        return hold_ds, predict_prepared(sub, _rows(self.prep, self.rows[i]), self.spectral,
                                         self.labels)

    def cold(self, i: int, p: int, reg: float, specs: dict[str, OutputSpec] | None = None,
             n_iter: int | None = None) -> tuple[Dataset, Any]:
        """Fold ``i`` fitted from scratch at P = ``p``, Omega = ``reg`` (with the
        transforms of ``specs``, default this run's; ``n_iter`` agenda-1 rounds, default
        the configured ones)."""
        cfg = replace(self.config, latents=p, reg=reg,
                      n_iter=self.config.n_iter if n_iter is None else n_iter)
        specs = self.specs if specs is None else specs
        res = fit_core(_rows(self.prep, self.fitted_on(i)), specs, p, reg, cfg,
                       self.config.seed, bar=self.bar,
                       desc=f"fold {i + 1}/{len(self.rows)} P={p} reg={reg:g}")
        hold_ds = self.held_out_labels(i)
        sub = _model_from_fit(cfg, specs, res)
        return hold_ds, predict_prepared(sub, _rows(self.prep, self.rows[i]), self.spectral,
                                         self.labels)

    def warm(self, i: int, start: FitResult, reg: float, cfg: LuxConfig) -> tuple[Dataset, Any]:
        """Fold ``i`` re-fitted from the final fit ``start`` (``Lux.fold_rounds``)."""
        sub = refit_core(self.prep, self.specs, start, self.fitted_on(i), reg, cfg,
                         desc=f"fold {i + 1}/{len(self.rows)}", bar=self.bar)
        return self.predict(i, sub, cfg)


MIN_RUNG = 2000
"""Objects in the smallest subsample of the successive halving that chooses the
family and P: candidates are scored on nested subsamples that double up to the
whole training set, and half of them are dropped at each step."""
SELECT_ITERS = 2
"""Agenda-1 rounds of the cold fits that score the candidates of the automatic choice
(the final fit has ``Lux.n_iter``). Why fewer: the candidates differ by far more than
the last rounds change (on 5,000 Gaia XP stars 2 rounds instead of 5 moved the labels by
1-5 %, the families by 30 %), and a fit costs its rounds."""
MIN_HELD_OUT = 600
"""Held-out objects each candidate is scored on at least (as many folds as that takes,
up to K): one fold of a few hundred stars was too noisy a judge on the 671-star set."""


def rung_sizes(n: int) -> list[int]:
    """Subsample sizes of the successive halving: ``n``, ``n/2``, ... down to no fewer
    than :data:`MIN_RUNG` objects, smallest first."""
    sizes = [int(n)]
    while sizes[-1] // 2 >= MIN_RUNG:
        sizes.append(sizes[-1] // 2)
    return sizes[::-1]


@dataclass
class _Candidate:
    """One (family, P) of the automatic choice and its scores."""

    family: str
    specs: dict[str, OutputSpec]
    latents: int
    order: int  # family index: lower is simpler
    score: float = math.inf  # on the last subsample scored
    per_object: np.ndarray | None = None  # held-out squared error per object, last rung
    by_rung: dict[int, tuple[float, np.ndarray]] = field(default_factory=dict)


def _score_rows(pred, dataset: Dataset, specs) -> tuple[float, np.ndarray]:
    """Mean held-out squared error over label columns (rescaled units) and, per
    held-out object, the mean of its squared errors over its observed labels (NaN for
    none): what the one-standard-error rule between families compares, pair by pair."""
    total, count = np.zeros(dataset.n), np.zeros(dataset.n)
    errs = []
    for k, s in specs.items():
        if s.kind != "label" or k not in pred.outputs:
            continue
        o = dataset[k].select(s.names)
        r2 = ((pred[k].values - o.values) / s.scale) ** 2
        for j in range(o.dim):
            m = ~o.missing[:, j]
            if m.any():
                errs.append(float(np.mean(r2[m, j])))
                total[m] += r2[m, j]
                count[m] += 1
    with np.errstate(invalid="ignore"):
        per = total / count
    return (float(np.mean(errs)) if errs else math.inf), per


def _better(a: _Candidate, b: _Candidate) -> bool:
    """Whether candidate ``a`` beats ``b`` by more than one standard error of the
    difference of their held-out squared errors, paired over the same objects (the
    one-standard-error rule: more complexity must earn its place)."""
    d = b.per_object - a.per_object
    d = d[np.isfinite(d)]
    if d.size < 2:
        return a.score < b.score
    return b.score - a.score > float(np.std(d) / math.sqrt(d.size))


def _select(folds: _Folds, cands: list[_Candidate], regs: list[float], reg0: float,
            ) -> tuple[_Candidate, float, list[dict[str, Any]]]:
    """Choose the family and P by successive halving, then Omega.

    Every candidate is scored at :data:`REFERENCE_REG` on the smallest subsample
    (mean held-out squared label error over at least :data:`MIN_HELD_OUT` held-out
    objects, by fits of :data:`SELECT_ITERS` agenda-1 rounds). The better half, and
    the next larger P of the leader's family, go on to a subsample twice as large, and
    so on up to all objects. On the last subsample the minimum wins, except that a
    simpler family (earlier in ``Lux.families``) is kept when the winner does not beat
    its best by more than one standard error of the paired held-out errors
    (:func:`_better`): a nonlinear family must earn its place. Omega is then chosen
    among ``regs`` for the winner on the last-but-one subsample, by the same rule
    against the reference value. Returns the winner, Omega and the selection table.

    Why subsamples: a fit costs about N D P^2 and the candidates differ clearly long
    before N is the whole set; the whole set is fitted only for the two or three
    candidates still close.
    """
    ds = folds.dataset
    perm = np.random.default_rng([folds.config.seed, 7]).permutation(ds.n)
    sizes = rung_sizes(ds.n)
    table: list[dict[str, Any]] = []

    def rung_folds(size: int) -> _Folds:
        if size >= ds.n:
            return folds
        idx = np.sort(perm[:size])
        sub = ds.take(idx)
        rows = label_folds(sub, len(folds.rows), np.random.default_rng(folds.config.seed))
        return _Folds(sub, _rows(folds.prep, idx), folds.specs, rows, folds.config, folds.bar)

    def n_folds(f: _Folds) -> int:
        per = max(1, min(len(r) for r in f.rows))
        return min(len(f.rows), -(-MIN_HELD_OUT // per))

    def score(f: _Folds, c: _Candidate, reg: float, size: int) -> tuple[float, np.ndarray]:
        parts, mses = [], []
        for i in range(n_folds(f)):
            hold_ds, pred = f.cold(i, c.latents, reg, c.specs,
                                   n_iter=min(SELECT_ITERS, f.config.n_iter))
            mse, per = _score_rows(pred, hold_ds, f.specs)
            mses.append((mse, len(f.rows[i])))
            parts.append(per)
        mean = float(sum(m * w for m, w in mses) / sum(w for _, w in mses))
        table.append({"family": c.family, "latents": c.latents, "reg": reg, "objects": size,
                      "folds": len(mses), "holdout_mse": mean})
        return mean, np.concatenate(parts)

    alive = list(cands)
    scored: dict[int, tuple[_Folds, int]] = {}  # rung index -> (its folds, its size)
    for r, size in enumerate(sizes):
        if r:
            ranked = sorted(alive, key=lambda c: c.score)
            keep = ranked[:-(-len(ranked) // 2)]
            # the next larger P of the leader's family goes on too: the best P grows
            # with the training set, so a small subsample favours small P
            lead = ranked[0]
            larger = [c for c in alive if c.order == lead.order and c.latents > lead.latents]
            if larger:
                nxt = min(larger, key=lambda c: c.latents)
                if nxt not in keep:
                    keep.append(nxt)
            alive = keep
        f = rung_folds(size)
        scored[r] = (f, size)
        for c in alive:
            c.score, c.per_object = score(f, c, reg0, size)
            c.by_rung[r] = (c.score, c.per_object)
        if len(alive) == 1:
            break
    win = min(alive, key=lambda c: c.score)
    for fam in sorted({c.order for c in alive}):
        if fam >= win.order:
            break
        simple = min((c for c in alive if c.order == fam), key=lambda c: c.score)
        if not _better(win, simple):
            win = simple
            break
    # Omega for the winner on the last-but-one subsample scored (half the objects of the
    # last, half the cost), at the reference value unless another beats it by more
    # than one standard error: Omega mostly rescales the latents
    r_reg = max(0, max(r for r in win.by_rung) - 1)
    f_reg, size_reg = scored[r_reg]
    ref = _Candidate(win.family, win.specs, win.latents, win.order, *win.by_rung[r_reg])
    reg_best, best = reg0, ref
    for reg in sorted(set(regs) - {reg0}):
        other = _Candidate(win.family, win.specs, win.latents, win.order)
        other.score, other.per_object = score(f_reg, win, reg, size_reg)
        if _better(other, ref) and other.score < best.score:
            reg_best, best = reg, other
    return win, reg_best, table


def _held_out(folds: _Folds, name: str, per_fold: list[tuple[Dataset, Any]]
              ) -> dict[str, np.ndarray]:
    """Label output ``name``'s held-out predictions in training-set order:
    ``values`` and ``statistical_var`` (N_train, D), NaN for objects in no fold, and
    ``used`` (N_train, D), the catalogue entries the error model learned from."""
    n, d = folds.dataset.n, folds.specs[name].dim
    out = {"values": np.full((n, d), np.nan), "statistical_var": np.full((n, d), np.nan),
           "used": np.zeros((n, d), bool)}
    for rows, (hold_ds, pred) in zip(folds.rows, per_fold, strict=True):
        out["values"][rows] = pred[name].values
        out["statistical_var"][rows] = pred[name].statistical_var
        out["used"][rows] = ~hold_ds[name].missing
    return out


def _calibrate(folds: _Folds, res: FitResult, cfg: LuxConfig,
               ) -> tuple[dict[str, ErrorModel], dict[str, dict[str, np.ndarray]]]:
    """The error model of every label output, from a prediction of each labelled
    object by a fold model that saw neither its labels nor its spectrum; and those
    predictions (:func:`_held_out`)."""
    p, reg = int(cfg.latents), float(cfg.reg)
    per_fold = []
    for i in range(len(folds.rows)):
        if cfg.fold_rounds is None:
            per_fold.append(folds.cold(i, p, reg))
        else:
            per_fold.append(folds.warm(i, res, reg, cfg))
    held = {name: _held_out(folds, name, per_fold) for name in folds.labels}
    rows = np.concatenate(folds.rows)
    return ({name: _error_model(folds.specs[name],
                                folds.dataset[name].select(folds.specs[name].names),
                                held[name], rows) for name in folds.labels}, held)


def _train(config: LuxConfig, dataset: Dataset) -> ModelState:
    dataset = _usable_training_set(dataset)
    specs = make_specs(dataset, config)
    names = list(specs)
    n_labels = sum(s.dim for s in specs.values() if s.kind == "label")
    n_dims = sum(s.dim for s in specs.values())
    has_spectra = any(s.kind == "spectrum" for s in specs.values())
    prep = {k: prepare_output(dataset[k], specs[k], gram_dtype(config.precision, specs[k].dim))
            for k in specs}
    auto = config.latents is None or config.reg is None
    k = config.folds
    wants_folds = (config.calibrate or auto) and has_spectra and n_labels and k >= 2
    rows = label_folds(dataset, k, np.random.default_rng(config.seed)) if wants_folds else []
    if rows and min(len(f) for f in rows) < 1:
        raise DataError(f"folds={k} is more than the {sum(len(f) for f in rows)} objects "
                        "with labels; use fewer folds")
    use_folds = bool(rows) and min(len(f) for f in rows) >= 5
    if config.calibrate and rows and not use_folds:
        log.warning("only %d objects with labels: too few for the calibration's %d "
                    "held-out folds of at least 5, so no model-error term is learned and "
                    "the errors (Fisher and map parts only) are likely too small",
                    sum(len(f) for f in rows), k)

    # what will be fitted, for the progress bar
    n_fit = dataset.n - (len(rows[0]) if use_folds else 0)
    lat = _latent_candidates(config, n_labels, n_dims, n_fit)
    if config.latents is not None and lat[0] > n_fit // 2:
        # the automatic grid stops at half the objects a fold model is fitted on
        log.warning("P = %d latents for %d objects (%d in a calibration fold model): "
                    "the latents are barely constrained, and the errors are likely too "
                    "large; the automatic choice would stay at or below %d",
                    lat[0], dataset.n, n_fit, max(n_labels + 1, n_fit // 2))
    if config.reg is not None:
        regs = [float(config.reg)]
    elif config.latents is None:
        # Omega is chosen from the data only when P is too (both left to the data);
        # with P fixed it defaults to REFERENCE_REG (Omega barely matters once the
        # maps are re-solved after the penalised step: see `starlux cv`)
        regs = list(config.reg_grid)
    else:
        regs = [REFERENCE_REG]
    reg0 = float(config.reg) if config.reg is not None else REFERENCE_REG
    families = _families(config, specs)
    cands = [_Candidate(fam, fspecs, p, order)
             for order, (fam, fspecs) in enumerate(families) for p in lat]
    select = use_folds and (len(cands) > 1 or set(regs) != {reg0})
    calibrate = use_folds and config.calibrate
    fit_steps = steps_per_fit(config, names, specs)
    # cold fits of the choice: every candidate on the smallest subsample, then half as
    # many on each larger one, with fewer rounds (the bar's total is an estimate: the
    # halving may stop early; shorter fits count in proportion)
    n_cold = len(cands) + (len(cands) + 1) // 2 * (len(rung_sizes(dataset.n)) > 1)
    short = min(1.0, SELECT_ITERS / config.n_iter)
    total = fit_steps + (int(short * fit_steps * (n_cold + len(set(regs) - {reg0})))
                         if select else 0)
    if calibrate:
        total += k * (fit_steps if config.fold_rounds is None
                      else steps_per_refit(config, names, specs))
    bar = tqdm(total=total, desc="training", unit="step", disable=None if config.progress else True)
    folds = _Folds(dataset, prep, specs, rows, config, bar)

    selection: list[dict[str, Any]] = []
    win, reg_best = cands[0], reg0
    if select:
        win, reg_best, selection = _select(folds, cands, regs, reg0)
    specs = folds.specs = win.specs
    p_best = win.latents
    chosen = {k: s.transform for k, s in specs.items()
              if not isinstance(s.transform, LinearTransform)}
    final_cfg = replace(config, latents=p_best, reg=reg_best,
                        transforms=chosen or None)
    if select and len(families) > 1:
        log.info("chosen on held-out folds: family %r, P = %d, Omega = %g",
                 win.family, p_best, reg_best)
    res = fit_core(prep, specs, p_best, reg_best, final_cfg, config.seed,
                   desc=f"final P={p_best} reg={reg_best:g}", bar=bar)

    robust = {k: {"gross outliers": prep[k].outliers, "clipped": res.clipped.get(k, 0)}
              for k in names}
    for name, counts in robust.items():
        if any(counts.values()):
            log.info("%s: %d gross outliers screened, %d entries clipped by the robust fit",
                     name, counts["gross outliers"], counts["clipped"])
    if res.weights:  # the calibration folds see the entries the final fit kept
        folds.prep = {name: replace(p, ivar=res.weights.get(name, p.ivar))
                      for name, p in prep.items()}
    errors, held_out = _calibrate(folds, res, final_cfg) if calibrate else ({}, {})
    bar.close()
    model = _model_from_fit(final_cfg, specs, res, ids=dataset.ids)
    model.model_error = {name: em.sigma for name, em in errors.items()}
    model.error_scale = {name: em.scale for name, em in errors.items()}
    model.error_uncertainty = {name: em.uncertainty for name, em in errors.items()
                               if em.uncertainty is not None}
    model.model_error_trend = {name: em.trend for name, em in errors.items()
                               if em.trend is not None}
    model.held_out = held_out
    model.robust = robust
    model.selection = selection
    return model
