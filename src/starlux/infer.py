"""Inference: latents for objects from any subset of outputs, then predictions.

For object n and the chosen input outputs k, the latents solve the penalised weighted
least-squares problem (exact for linear transforms, Gauss–Newton otherwise)

    (sum_k J_k^T W_nk J_k + Lambda) z_n = sum_k J_k^T W_nk y_nk + Lambda mu,

where W_nk = 1 / (sigma_nk^2 + s_k^2) with zero for missing entries and (Lambda, mu)
is the latent prior (the training penalty 2 Omega I with mu = 0, or a Gaussian fitted
to the training latents). The left-hand matrix is the posterior precision (Fisher
information plus prior); its inverse, propagated through each transform, gives the
predicted outputs' covariances. A per-label model-error term learned during training
is added in quadrature (kept separately in :class:`OutputPrediction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .data import DataError, Dataset, Output
from .linalg import cho_solve_batched, inv_spd_batched
from .model import LuxModel, OutputSpec

__all__ = ["Prediction", "OutputPrediction", "predict", "infer_latents", "prepare_output",
           "Prepared", "solve_latents", "effective_weights"]


@dataclass
class Prepared:
    """One output in model units: values (missing -> 0) and inverse variances."""

    y: jax.Array  # (N, D)
    ivar: jax.Array  # (N, D), 0 where missing

    @property
    def observed(self) -> jax.Array:
        return self.ivar > 0


def prepare_output(o: Output, spec: OutputSpec) -> Prepared:
    """Scale an :class:`Output` into model units (labels: (v - c) / d)."""
    if spec.kind == "label" and tuple(o.names) != spec.names:
        o = o.select(spec.names)
    y = (o.clean_values() - spec.center) / spec.scale
    w = o.ivar() * spec.scale**2
    y = np.where(w > 0, y, 0.0)
    return Prepared(jnp.asarray(y, dtype=jnp.float64), jnp.asarray(w, dtype=jnp.float64))


@jax.jit
def effective_weights(ivar: jax.Array, ln_scatter: jax.Array | np.ndarray | None) -> jax.Array:
    """1 / (sigma^2 + s^2) for observed entries, 0 for missing ones."""
    s2 = jnp.exp(2.0 * jnp.asarray(ln_scatter))
    safe = jnp.where(ivar > 0, ivar, 1.0)
    return jnp.where(ivar > 0, safe / (1.0 + s2 * safe), 0.0)


def solve_latents(
    specs: dict[str, OutputSpec],
    params: dict[str, Any],
    data: dict[str, tuple[jax.Array, jax.Array]],
    prior_precision: jax.Array,
    prior_mean: jax.Array,
    z0: jax.Array | None = None,
    prox: float = 0.0,
    chunk_size: int = 1024,
    want_cov: bool = False,
    n_gauss_newton: int = 8,
) -> tuple[jax.Array, jax.Array | None]:
    """Latents (N, P) maximising the penalised likelihood of the given outputs.

    Args:
        data: per output name, ``(y, w)`` in model units, each (N, D_k).
        prior_precision: (P, P) Lambda; prior_mean: (P,) mu.
        z0: (N, P) starting latents (needed for nonlinear transforms or ``prox``).
        prox: relative weight of a proximal pull toward ``z0`` (min-norm updates).
        want_cov: also return the (N, P, P) posterior covariance.
    """
    names = list(data)
    n = next(iter(data.values()))[0].shape[0]
    p = prior_precision.shape[0]
    transforms = tuple(specs[k].transform for k in names)
    caches = tuple(specs[k].transform.precompute(params[k]) for k in names)
    pars = tuple(params[k] for k in names)
    linear = all(t.is_linear for t in transforms)
    if z0 is None:
        z0 = jnp.broadcast_to(prior_mean, (n, p))
    prior_shift = prior_precision @ prior_mean
    zs, covs = [], []
    for a in range(0, n, chunk_size):
        b = min(n, a + chunk_size)
        ys = tuple(data[k][0][a:b] for k in names)
        ws = tuple(data[k][1][a:b] for k in names)
        z, cov = _latent_chunk(transforms, pars, caches, ys, ws, z0[a:b], prior_precision,
                               prior_shift, prox, 1 if linear else n_gauss_newton, want_cov)
        zs.append(z)
        covs.append(cov)
    z_all = jnp.concatenate(zs)
    return z_all, (jnp.concatenate(covs) if want_cov else None)


@partial(jax.jit, static_argnames=("transforms", "n_steps", "want_cov"))
def _latent_chunk(transforms, params, caches, ys, ws, z0, prior_precision, prior_shift, prox,
                  n_steps, want_cov):
    n, p = z0.shape
    z = z0
    eye = jnp.eye(p, dtype=z0.dtype)
    for _ in range(n_steps):
        h = jnp.broadcast_to(prior_precision, (n, p, p))
        g = jnp.broadcast_to(prior_shift, (n, p))
        for tr, pa, ca, y, w in zip(transforms, params, caches, ys, ws, strict=True):
            hk, gk = tr.latent_system(pa, z, y, w, ca)
            h, g = h + hk, g + gk
        lam = prox * jnp.trace(h, axis1=1, axis2=2) / p
        h = h + lam[:, None, None] * eye
        g = g + lam[:, None] * z0
        z = cho_solve_batched(h, g)
    return z, (inv_spd_batched(h) if want_cov else None)


@dataclass
class OutputPrediction:
    """Predicted values of one output for N objects, in natural units.

    ``errors`` = sqrt(fisher_errors^2 + model_error^2); ``cov`` is the full (N, D, D)
    covariance (Fisher part plus the diagonal model-error term) for label outputs.
    """

    values: np.ndarray
    errors: np.ndarray
    fisher_errors: np.ndarray
    model_error: np.ndarray
    cov: np.ndarray | None
    names: tuple[str, ...]
    wavelength: np.ndarray | None = None


@dataclass
class Prediction:
    """Result of :func:`predict`.

    Attributes:
        z: (N, P) inferred latents; z_cov: (N, P, P) their posterior covariance.
        outputs: per predicted output, an :class:`OutputPrediction`.
        chi2: per input output, (N,) reduced chi^2 (chi^2 / number of observed
            entries, with the model's extra scatter included).
        n_used: per input output, (N,) number of observed entries used.
        inputs: names of the outputs the latents were inferred from.
    """

    z: np.ndarray
    z_cov: np.ndarray
    outputs: dict[str, OutputPrediction]
    chi2: dict[str, np.ndarray]
    n_used: dict[str, np.ndarray]
    inputs: tuple[str, ...]
    ids: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> OutputPrediction:
        return self.outputs[name]


def prior_terms(model: LuxModel, kind: str | None = None) -> tuple[jax.Array, jax.Array]:
    """(P, P) precision and (P,) mean of the latent prior used at inference."""
    p = model.n_latents
    kind = kind or model.config.prior
    if kind == "empirical":
        prec = np.linalg.inv(model.prior_cov)
        prec = 0.5 * (prec + prec.T)
        return jnp.asarray(prec), jnp.asarray(model.prior_mean)
    if kind == "l2":
        return 2.0 * model.reg * jnp.eye(p), jnp.zeros(p)
    if kind == "none":
        return 1e-10 * jnp.eye(p), jnp.zeros(p)
    raise ValueError(f"unknown prior {kind!r}; use 'empirical', 'l2' or 'none'")


def _resolve_io(model: LuxModel, dataset: Dataset, inputs: Sequence[str] | None,
                outputs: Sequence[str] | None) -> tuple[list[str], list[str]]:
    if inputs is None:
        inputs = [k for k in model.spectral_outputs if k in dataset]
        if not inputs:
            inputs = [k for k in model.output_names if k in dataset]
    inputs = list(inputs)
    if not inputs:
        raise DataError("no input outputs to infer latents from")
    for k in inputs:
        if k not in model.specs:
            raise DataError(f"unknown input {k!r}; the model's outputs are {model.output_names}")
        if k not in dataset:
            raise DataError(f"dataset has no output {k!r} to infer latents from")
    if outputs is None:
        outputs = model.label_outputs + [k for k in model.spectral_outputs if k not in inputs]
    outputs = list(outputs)
    for k in outputs:
        if k not in model.specs:
            raise DataError(f"unknown output {k!r}; the model's outputs are {model.output_names}")
    model.check_compatible(dataset, inputs)
    return inputs, outputs


def infer_latents(model: LuxModel, dataset: Dataset, inputs: Sequence[str] | None = None,
                  prior: str | None = None, chunk_size: int | None = None,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(N, P) latents and (N, P, P) covariance from the given input outputs."""
    pred = predict(model, dataset, inputs=inputs, outputs=[], prior=prior,
                   chunk_size=chunk_size)
    return pred.z, pred.z_cov


def predict(
    model: LuxModel,
    dataset: Dataset,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    prior: str | None = None,
    chunk_size: int | None = None,
) -> Prediction:
    """Infer latents from ``inputs`` (default: the spectra) and predict ``outputs``.

    Args:
        model: a trained :class:`LuxModel`.
        dataset: objects to process; must contain the ``inputs`` outputs.
        inputs: output names to infer latents from (``["flux"]``, ``["label"]``, both).
        outputs: output names to predict (default: every label output, plus spectra
            not used as inputs).
        prior: latent prior at inference (default: the model's ``config.prior``).
        chunk_size: objects per block (bounds memory).
    """
    inputs, outputs = _resolve_io(model, dataset, inputs, outputs)
    chunk = chunk_size or model.config.chunk_size
    data, used = {}, {}
    for k in inputs:
        prep = prepare_output(dataset[k], model.specs[k])
        ln_s = model.ln_scatter.get(k)
        w = prep.ivar if ln_s is None else effective_weights(prep.ivar, ln_s)
        data[k] = (prep.y, w)
        used[k] = np.asarray(jnp.sum(prep.ivar > 0, axis=1))
    params = {k: {a: jnp.asarray(v) for a, v in model.params[k].items()} for k in model.specs}
    prec, mean = prior_terms(model, prior)
    z, cov = solve_latents(model.specs, params, data, prec, mean, chunk_size=chunk,
                           want_cov=True)
    chi2 = {}
    for k in inputs:
        y, w = data[k]
        model_k = model.specs[k].transform.apply(params[k], z)
        chi = np.asarray(jnp.sum(w * (y - model_k) ** 2, axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            chi2[k] = np.where(used[k] > 0, chi / np.maximum(used[k], 1), np.nan)
    preds = {k: _predict_output(model, k, params[k], z, cov, chunk) for k in outputs}
    return Prediction(z=np.asarray(z), z_cov=np.asarray(cov), outputs=preds, chi2=chi2,
                      n_used=used, inputs=tuple(inputs), ids=dataset.ids)


def _predict_output(model: LuxModel, name: str, params: dict[str, jax.Array], z: jax.Array,
                    cov: jax.Array, chunk: int) -> OutputPrediction:
    spec = model.specs[name]
    tr = spec.transform
    vals, fvar, fcov = [], [], []
    full_cov = spec.kind == "label"
    for a in range(0, z.shape[0], chunk):
        zc, cc = z[a:a + chunk], cov[a:a + chunk]
        vals.append(np.asarray(tr.apply(params, zc)))
        if full_cov:
            c = tr.propagate(params, zc, cc, full=True)
            fcov.append(np.asarray(c))
            fvar.append(np.asarray(jnp.diagonal(c, axis1=1, axis2=2)))
        else:
            fvar.append(np.asarray(tr.propagate(params, zc, cc)))
    scale = spec.scale
    values = np.concatenate(vals) * scale + spec.center
    fisher_var = np.concatenate(fvar) * scale**2
    model_err = model.model_error.get(name, np.zeros(spec.dim))
    if spec.has_scatter and name in model.ln_scatter and name not in model.model_error:
        # a predicted spectrum's error includes the fitted per-pixel scatter
        model_err = np.exp(model.ln_scatter[name]) * scale
    cov_out = None
    if full_cov:
        cov_out = np.concatenate(fcov) * np.outer(scale, scale)
        cov_out = cov_out + np.diag(model_err**2)[None]
    return OutputPrediction(
        values=values,
        errors=np.sqrt(np.maximum(fisher_var, 0) + model_err**2),
        fisher_errors=np.sqrt(np.maximum(fisher_var, 0)),
        model_error=model_err,
        cov=cov_out,
        names=spec.names,
        wavelength=spec.wavelength,
    )
