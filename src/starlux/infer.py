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

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .data import DataError, Dataset, Output, is_missing
from .linalg import (
    batched_trace,
    cho_inverse,
    cho_solve_factor,
    packed_outer,
    row_chunks,
    unpack_index,
)
from .model import LuxModel, OutputSpec
from .prediction import OutputPrediction, Prediction, concat_predictions
from .transforms import LinearTransform, offset
from .units import CLIP_SIGMA, screen

__all__ = ["Prediction", "OutputPrediction", "predict", "infer_latents", "prepare_output",
           "Prepared", "solve_latents", "LatentSolution", "effective_weights", "BlockPredictor",
           "concat_predictions", "resolve_precision", "PRECISIONS"]


@dataclass
class Prepared:
    """One output in model units: values (missing -> 0) and inverse variances."""

    y: jax.Array  # (N, D)
    ivar: jax.Array  # (N, D), 0 where missing
    outliers: int = 0  # entries removed by the screening limits

    @property
    def observed(self) -> jax.Array:
        return self.ivar > 0


def prepare_output(o: Output, spec: OutputSpec, dtype: Any = jnp.float64) -> Prepared:
    """Scale an :class:`Output` into model units (labels: (v - c) / d), after the
    model's screening limits (:func:`starlux.units.screen`: gross outliers missing,
    errors floored).

    ``dtype`` is the storage type of the result (training keeps spectra as float32 in
    mixed precision: half the memory; every solve uses them in float64).
    """
    if spec.kind == "label" and tuple(o.names) != spec.names:
        o = o.select(spec.names)
    y = np.empty(o.values.shape, dtype=dtype)
    w = np.empty(o.values.shape, dtype=dtype)
    outliers = 0
    for a in range(0, o.n, 4096):  # by rows: no float64 (N, D) temporaries
        part = o.take(slice(a, a + 4096))
        values = part.values.astype(np.float64)
        errors, missing, out = screen(np, values, part.errors.astype(np.float64),
                                      part.missing, spec.limits)
        outliers += int(out.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            wa = np.where(missing, 0.0, 1.0 / errors**2) * spec.scale**2
        if np.dtype(dtype) == np.float32 and float(np.max(wa, initial=0.0)) > 1e30:
            # inverse variances beyond float32's range: keep this output in float64
            return prepare_output(o, spec, jnp.float64)
        w[a:a + 4096] = wa
        y[a:a + 4096] = np.where(wa > 0, (np.where(missing, 0.0, values) - spec.center)
                                 / spec.scale, 0.0)
    return Prepared(jnp.asarray(y), jnp.asarray(w), outliers)


@jax.jit
def effective_weights(ivar: jax.Array, ln_scatter: jax.Array | np.ndarray | None) -> jax.Array:
    """1 / (sigma^2 + s^2) for observed entries, 0 for missing ones (dtype of ivar)."""
    s2 = jnp.exp(2.0 * jnp.asarray(ln_scatter))
    safe = jnp.where(ivar > 0, ivar, 1.0)
    return jnp.where(ivar > 0, safe / (1.0 + s2 * safe), 0.0).astype(ivar.dtype)


class LatentSolution(NamedTuple):
    """Result of :func:`solve_latents`."""

    z: jax.Array  # (N, P) latents
    cov: jax.Array | None  # (N, P, P) posterior covariance, if requested
    chi2: dict[str, jax.Array]  # per output: (N,) chi^2 sum w (y - f(z))^2 at ``z``


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
    precision: str = "float64",
) -> LatentSolution:
    """Latents (N, P) maximising the penalised likelihood of the given outputs.

    For linear transforms the solve is exact, followed by one step of iterative
    refinement against the exact float64 residual (which also gives each object's
    chi^2 at the refined latents); ``precision="mixed"`` forms the per-object (P, P)
    Gram matrices in float32 (the refinement restores float64 accuracy), ``"float64"``
    uses float64 throughout. Nonlinear transforms take ``n_gauss_newton`` Gauss-Newton
    steps. ``y`` and ``w`` may be stored as float32; they are used in float64.

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
    pars = tuple(params[k] for k in names)
    linear = all(t.is_linear for t in transforms)
    mixed = precision == "mixed" and linear
    caches = tuple(t.precompute(pa, jnp.float32 if mixed else None)
                   for t, pa in zip(transforms, pars, strict=True))
    if z0 is None:
        z0 = jnp.broadcast_to(prior_mean, (n, p))
    prior_shift = prior_precision @ prior_mean
    zs, covs, chis = [], [], []
    size = min(chunk_size, n)
    k = len(names)
    # every block has ``size`` rows (one compilation): the last one is padded by
    # repeating its last object, whose copies are dropped below
    blocks = row_chunks(size, z0, *(data[c][0] for c in names), *(data[c][1] for c in names),
                        pad="edge")
    for a, (z0c, *yw) in zip(range(0, n, size), blocks, strict=True):
        m = min(n, a + size) - a
        z, cov, chi = _latent_chunk(transforms, pars, caches, tuple(yw[:k]), tuple(yw[k:]),
                                    z0c, prior_precision, prior_shift, prox,
                                    1 if linear else n_gauss_newton, want_cov, linear)
        zs.append(np.asarray(z)[:m])
        covs.append(None if cov is None else np.asarray(cov)[:m])
        chis.append(tuple(np.asarray(c)[:m] for c in chi))
    # assembled on the host (no XLA concatenation to compile for every N)
    chi2 = {k: jnp.asarray(np.concatenate([c[i] for c in chis])) for i, k in enumerate(names)}
    return LatentSolution(jnp.asarray(np.concatenate(zs)),
                          jnp.asarray(np.concatenate(covs)) if want_cov else None, chi2)


@partial(jax.jit, static_argnames=("transforms", "n_steps", "want_cov", "refine"))
def _latent_chunk(transforms, params, caches, ys, ws, z0, prior_precision, prior_shift, prox,
                  n_steps, want_cov, refine):
    n, p = z0.shape
    z = z0
    eye = jnp.eye(p, dtype=z0.dtype)
    ys = tuple(y.astype(z0.dtype) for y in ys)
    ws = tuple(w.astype(z0.dtype) for w in ws)
    for _ in range(n_steps):
        h = jnp.broadcast_to(prior_precision, (n, p, p))
        g = jnp.broadcast_to(prior_shift, (n, p))
        hs = []
        for tr, pa, ca, y, w in zip(transforms, params, caches, ys, ws, strict=True):
            hk, gk = tr.latent_system(pa, z, y, w, ca)
            hs.append(hk)
            h, g = h + hk, g + gk
        lam = prox * batched_trace(h) / p
        h = h + lam[:, None, None] * eye
        g = g + lam[:, None] * z0
        c = jax.lax.linalg.cholesky(h, symmetrize_input=False)  # h is exactly symmetric
        z = cho_solve_factor(c, g)
    resid = [y - tr.apply(pa, z) for tr, pa, y in zip(transforms, params, ys, strict=True)]
    chi = [jnp.sum(w * r * r, axis=1) for w, r in zip(ws, resid, strict=True)]
    if refine:
        # one step of iterative refinement against the exact float64 residual of
        # (Lambda + lam + sum_k J^T W J) z = Lambda mu + lam z0 + sum_k J^T W y;
        # chi^2 at z + dz = chi^2(z) - 2 dz.J^T W r + dz^T (J^T W J) dz
        grads = [tr.pullback(pa, z, w * r)
                 for tr, pa, w, r in zip(transforms, params, ws, resid, strict=True)]
        dz = cho_solve_factor(c, prior_shift - z @ prior_precision.T
                              + lam[:, None] * (z0 - z) + sum(grads))
        z = z + dz
        chi = [ck - 2.0 * jnp.sum(dz * gk, axis=1) + jnp.einsum("np,npq,nq->n", dz, hk, dz)
               for ck, gk, hk in zip(chi, grads, hs, strict=True)]
    return z, (cho_inverse(c) if want_cov else None), tuple(chi)


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


def resolve_io(model: LuxModel, dataset: Dataset, inputs: Sequence[str] | None,
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
                  precision: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """(N, P) latents and (N, P, P) covariance from the given input outputs."""
    pred = predict(model, dataset, inputs=inputs, outputs=[], prior=prior,
                   chunk_size=chunk_size, precision=precision)
    return pred.z, pred.z_cov


PRECISIONS = ("auto", "float64", "float32")
"""Choices for ``precision`` in :func:`predict` (see :func:`resolve_precision`)."""


def resolve_precision(precision: str | None) -> str:
    """Check a ``precision`` argument (``"auto"``, ``"float64"``, ``"float32"``).

    It sets the dtype of the per-object Gram products ``sum_d w_nd b_d b_d^T`` (an
    (N, L) x (L, P(P+1)/2) matrix product), which are nearly all the work of inference.
    With ``"float32"`` they run in single precision; everything else (the P x P
    Cholesky solves, chi^2, outputs) stays in float64, and one step of iterative
    refinement with float64 residuals makes the latents and predicted values agree with
    ``"float64"`` to < 1e-7 of their errors (without it: up to 1e-2). Only the
    covariances keep the float32 rounding (~1e-6 relative, far below anything that
    matters for an error).
    ``"auto"`` (the default) uses float32 for inputs of at least
    :data:`AUTO_FLOAT32_MIN_DIM` dimensions (spectra) and float64 for the others
    (labels, where float32 saves nothing); measurements in ``benchmarks/README.md``.
    """
    p = "auto" if precision is None else str(precision)
    if p not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return p


AUTO_FLOAT32_MIN_DIM = 512
"""With ``precision="auto"``, inputs with at least this many dimensions (spectra) get
float32 Gram products; smaller ones (labels), where there is nothing to gain, float64."""


def _gram_dtype(precision: str, dim: int) -> Any:
    p = "auto" if precision is None else str(precision)
    resolve_precision(p)
    if p == "float32" or (p == "auto" and dim >= AUTO_FLOAT32_MIN_DIM):
        return jnp.float32
    return jnp.float64


def predict(
    model: LuxModel,
    dataset: Dataset,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    prior: str | None = None,
    chunk_size: int | None = None,
    precision: str = "auto",
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
        precision: ``"auto"`` / ``"float32"`` / ``"float64"``, see
            :func:`resolve_precision`.

    For files larger than memory use :func:`starlux.stream.predict_file`, which runs
    the same per-block computation (:class:`BlockPredictor`).
    """
    inputs, outputs = resolve_io(model, dataset, inputs, outputs)
    chunk = chunk_size or model.config.chunk_size
    if chunk < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk}")
    bp = BlockPredictor(model, inputs, outputs, prior=prior, precision=precision)
    parts = [bp.predict_dataset_rows(dataset, slice(a, min(a + chunk, dataset.n)), chunk)
             for a in range(0, dataset.n, chunk)]
    if not parts:  # no objects: run one empty block for the shapes
        parts = [bp.predict_dataset_rows(dataset, slice(0, 0), chunk)]
    return concat_predictions(parts, ids=dataset.ids)


# --- per-block prediction ------------------------------------------------------------


def _prepare(values, errors, missing, center, scale, ln_scatter, limits, spectrum,
             identity=False):
    """Values and weights in model units for one block: :func:`prepare_output` followed by
    :func:`effective_weights`. With ``missing=None`` the missing-entry rule of
    :mod:`starlux.data` is applied here to raw (float32 or float64) arrays, in the same
    pass; then the model's screening limits (:mod:`starlux.units`). ``identity``: the
    output's centre is 0 and scale 1 (as for spectra), so the values are kept in their
    own dtype (exactly; half the memory traffic for float32 data); the weights are
    always float64. Returns ``(y, w, outliers)``: w > 0 exactly where the entry is used,
    ``outliers`` (n,) the entries per object removed by the screening."""
    v = values.astype(jnp.float64)
    e = errors.astype(jnp.float64)
    if missing is None:
        missing = is_missing(jnp, values, errors, spectrum)
    e, missing, outlier = screen(jnp, v, e, missing, limits)
    inv = 1.0 / jnp.where(missing, 1.0, e) ** 2
    w = jnp.where(missing, 0.0, inv) * scale**2
    if identity:
        y = jnp.where(w > 0, values, jnp.zeros((), values.dtype))
    else:
        y = jnp.where(w > 0, (v - center) / scale, 0.0)
    if ln_scatter is not None:
        w = effective_weights(w, ln_scatter)
    return y, w, jnp.sum(outlier, axis=1, dtype=jnp.int32)


def _outputs(z, cov, out_params, out_tr, out_full):
    outs = []
    for tr, pa, full in zip(out_tr, out_params, out_full, strict=True):
        vals = tr.apply(pa, z)
        if full:
            fc = tr.propagate(pa, z, cov, full=True)
            outs.append((vals, jnp.diagonal(fc, axis1=1, axis2=2), fc))
        else:
            outs.append((vals, tr.propagate(pa, z, cov), None))
    return tuple(outs)


@partial(jax.jit, static_argnames=("spectra", "out_tr", "out_full", "n_refine", "want_cov",
                                   "clip"))
def _linear_block(in_w, in_b, packed_t, raws, consts, prec, mean, out_params, *, spectra,
                  out_tr, out_full, n_refine, want_cov, clip):
    """Everything for one block of objects when every input transform is linear.

    ``raws[k]`` = (values, errors, missing or None) of input k, ``consts[k]`` = (centre,
    scale, ln scatter or None, screening limits or None), ``packed_t[k]`` =
    ``packed_outer(W_k).T`` (P(P+1)/2, D_k) in the dtype its Gram product runs in.
    With ``clip``, pixels of spectral inputs whose residual at the solution exceeds
    ``clip`` times the calibrated noise (times the object's own rms residual when that
    is larger than 1) get zero weight and the latents are solved again (cosmic rays,
    bad pixels with ordinary errors). Returns latents, their covariances (``None``
    unless ``want_cov``), chi^2, used and rejected counts per input, and the outputs in
    model units.
    """
    prepared = [_prepare(*r, *c, *sp) for r, c, sp in zip(raws, consts, spectra, strict=True)]
    # the maps' offsets are taken off the data once: y - b = W z
    data = [(y - bk, w) for bk, (y, w, _) in zip(in_b, prepared, strict=True)]
    n = data[0][0].shape[0]
    z, c, chi = _solve_linear(in_w, packed_t, data, prec, mean, n_refine)
    rejected = [o for _, _, o in prepared]
    if clip is not None and any(sp[0] for sp in spectra):
        clipped = []
        for wk, (y, w), ck, sp in zip(in_w, data, chi, spectra, strict=True):
            if not sp[0]:
                clipped.append((y, w))
                continue
            used_k = jnp.maximum(jnp.sum(w > 0, axis=1), 1)
            level = clip**2 * jnp.maximum(1.0, ck / used_k)
            r = y - z @ wk.T
            bad = w * r**2 > level[:, None]
            clipped.append((y, jnp.where(bad, 0.0, w)))
        rejected = [rk + jnp.sum((w > 0) & (wc == 0), axis=1, dtype=jnp.int32)
                    for rk, (_, w), (_, wc) in zip(rejected, data, clipped, strict=True)]
        data = clipped
        z, c, chi = _solve_linear(in_w, packed_t, data, prec, mean, n_refine)
    # observed entries per object (an int32 sum: int64 made XLA materialise an (n, D)
    # int64 array first, 10x slower)
    used = tuple(jnp.sum(w > 0, axis=1, dtype=jnp.int32) for _, w in data)
    # label covariances W C W^T = V^T V with V = c^-1 W^T (no full inverse needed)
    cheap = [isinstance(tr, LinearTransform) and full for tr, full in zip(out_tr, out_full,
                                                                          strict=True)]
    cov = cho_inverse(c) if want_cov or not all(cheap) else None
    outs = []
    for tr, pa, full, ch in zip(out_tr, out_params, out_full, cheap, strict=True):
        vals = tr.apply(pa, z)
        if ch:
            v = jax.scipy.linalg.solve_triangular(
                c, jnp.broadcast_to(pa["W"].T, (n,) + pa["W"].T.shape), lower=True)
            fc = jnp.einsum("npm,npk->nmk", v, v)
            outs.append((vals, jnp.diagonal(fc, axis1=1, axis2=2), fc))
        else:
            outs.append(_outputs(z, cov, (pa,), (tr,), (full,))[0])
    return (z, (cov if want_cov else None), tuple(chi), used, tuple(rejected), tuple(outs))


def _solve_linear(in_w, packed_t, data, prec, mean, n_refine):
    """Exact latents for linear inputs: Gram products in the dtype of ``packed_t``,
    Cholesky, then ``n_refine`` steps of float64 iterative refinement. Returns the
    latents, the Cholesky factor of the posterior precision and chi^2 per input."""
    n, p = data[0][0].shape[0], prec.shape[0]
    idx = unpack_index(p)
    shift = prec @ mean
    packed, grams = [], []
    g = jnp.broadcast_to(shift, (n, p))
    for wk, pk, (y, w) in zip(in_w, packed_t, data, strict=True):
        gram = jax.lax.dot_general(w.astype(pk.dtype), pk, (((1,), (1,)), ((), ())),
                                   precision=jax.lax.Precision.HIGHEST,
                                   preferred_element_type=pk.dtype).astype(prec.dtype)
        packed.append(gram)
        grams.append(gram[:, idx])
        # the right-hand side in the Gram dtype too: the refinement below corrects both
        g = g + jnp.matmul((w * y).astype(pk.dtype), wk.astype(pk.dtype),
                           precision=jax.lax.Precision.HIGHEST).astype(prec.dtype)
    c = jnp.linalg.cholesky(prec + sum(grams))
    z = cho_solve_factor(c, g)
    resid = [y - z @ wk.T for wk, (y, _) in zip(in_w, data, strict=True)]
    chi = [jnp.sum(w * r**2, axis=1) for r, (_, w) in zip(resid, data, strict=True)]
    iu, ju = np.triu_indices(p)
    twice = np.where(iu == ju, 1.0, 2.0)
    for it in range(n_refine):
        # iterative refinement: float64 residual of the exact normal equations
        # (Lambda + sum_k W_k^T diag(w) W_k) z = Lambda mu + sum_k W_k^T diag(w) y
        grads = [(w * r) @ wk for wk, r, (_, w) in zip(in_w, resid, data, strict=True)]
        dz = cho_solve_factor(c, shift - z @ prec + sum(grads))
        z = z + dz
        # chi^2 at the refined z without another pass over the data:
        # |y - W(z + dz)|^2_w = |y - W z|^2_w - 2 dz.W^T w (y - W z) + dz^T (W^T w W) dz,
        # the last term from the packed Gram triangle
        dz2 = dz[:, iu] * dz[:, ju] * twice
        chi = [jnp.maximum(ck - 2.0 * jnp.sum(dz * gk, axis=1) + jnp.sum(pk * dz2, axis=1),
                           0.0)
               for ck, gk, pk in zip(chi, grads, packed, strict=True)]
        if it < n_refine - 1:
            resid = [y - z @ wk.T for wk, (y, _) in zip(in_w, data, strict=True)]
    return z, c, chi


@partial(jax.jit, static_argnames=("out_tr", "out_full"))
def _outputs_block(z, cov, out_params, *, out_tr, out_full):
    return _outputs(z, cov, out_params, out_tr, out_full)


@partial(jax.jit, static_argnames=("spectrum",))
def _prepare_block(values, errors, missing, center, scale, ln_scatter, limits, spectrum):
    return _prepare(values, errors, missing, center, scale, ln_scatter, limits, spectrum)


_BLAS_CONTROLLER: Any = None


def single_threaded_blas() -> Any:
    """A context in which OpenBLAS (which JAX's CPU LAPACK kernels — Cholesky, triangular
    solves — call once per small matrix of a batch) runs single-threaded.

    Its threads help nothing at P x P = 48 x 48 and, when the cores are busy, their
    spin-waiting made a batch of 1,024 Cholesky inverses 50-100x slower (8 s instead of
    0.1 s) on the 2-core development machine. XLA's own matrix products are unaffected.
    """
    global _BLAS_CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: without it the work is the same, only slower
        return contextlib.nullcontext()
    if _BLAS_CONTROLLER is None:
        import scipy.linalg.cython_lapack  # noqa: F401  (what JAX loads on first use)

        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


def _padded_rows(n: int, chunk: int) -> int:
    """Rows a block of ``n`` objects is padded to (fewer distinct shapes to compile)."""
    if n >= chunk:
        return n
    return min(chunk, max(8, 1 << max(n - 1, 0).bit_length()))


Raw = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]
"""One input for one block: (values, errors, missing mask or None to apply the rules)."""


class BlockPredictor:
    """The per-block prediction of one model with fixed inputs, outputs, prior and
    precision. Built once and applied to any number of blocks of objects (the model's
    constants stay on the JAX device); :func:`predict` and
    :func:`starlux.stream.predict_file` both use it, serially or on Dask workers.

    Args:
        model: the trained model.
        inputs, outputs: resolved output names (see :func:`predict`).
        prior: latent prior (default: the model's).
        precision: ``"auto"`` / ``"float32"`` / ``"float64"`` (:func:`resolve_precision`).
        want_cov: compute the (n, P, P) latent covariances ``Prediction.z_cov`` (``False``:
            ``z_cov`` is ``None``; the outputs' covariances are computed either way).
        clip: reject pixels of spectral inputs whose residual exceeds this many times
            the calibrated noise, then solve again (``None``: keep every pixel);
            default: the model's ``config.clip``. ``Prediction.n_rejected`` counts the
            pixels rejected per object (clipped or screened as gross outliers).
    """

    def __init__(self, model: LuxModel, inputs: Sequence[str], outputs: Sequence[str],
                 prior: str | None = None, precision: str = "auto", want_cov: bool = True,
                 clip: float | None | str = "model"):
        self.model = model
        # residual clipping of spectral inputs: the model's setting unless given
        self.clip = getattr(model.config, "clip", CLIP_SIGMA) if clip == "model" else clip
        self.want_cov = want_cov
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.precision = resolve_precision(precision)
        self.params = {k: {a: jnp.asarray(v) for a, v in model.params[k].items()}
                       for k in model.specs}
        self.prec, self.mean = prior_terms(model, prior)
        self.linear = all(isinstance(model.specs[k].transform, LinearTransform)
                          for k in self.inputs)
        self.gram_dtypes = {k: _gram_dtype(precision, model.specs[k].dim) for k in self.inputs}
        # one float64 refinement step makes float32 Gram products exact for the latents
        self.n_refine = int(any(d == jnp.float32 for d in self.gram_dtypes.values()))
        self._packed_t = None
        if self.linear:
            self._packed_t = tuple(
                packed_outer(self.params[k]["W"]).T.astype(self.gram_dtypes[k])
                for k in self.inputs)
        self._consts = {}
        for k in self.inputs:
            spec = model.specs[k]
            ln_s = model.ln_scatter.get(k)
            limits = None if spec.limits is None else tuple(
                jnp.asarray(x, dtype=jnp.float64) for x in spec.limits)
            self._consts[k] = (jnp.asarray(spec.center, dtype=jnp.float64),
                               jnp.asarray(spec.scale, dtype=jnp.float64),
                               None if ln_s is None else jnp.asarray(ln_s, dtype=jnp.float64),
                               limits)
        # per input: (spectrum-kind missing rules, centre 0 and scale 1)
        self._spectra = tuple(
            (model.specs[k].kind != "label",
             bool(np.all(model.specs[k].center == 0) and np.all(model.specs[k].scale == 1)))
            for k in self.inputs)
        self._out_tr = tuple(model.specs[k].transform for k in self.outputs)
        self._out_full = tuple(model.specs[k].kind == "label" for k in self.outputs)
        self._out_params = tuple(self.params[k] for k in self.outputs)

    def raw_from_dataset(self, dataset: Dataset, rows: slice) -> dict[str, Raw]:
        """``{input: (values, errors, missing)}`` for rows of an in-memory dataset
        (label columns put in the model's order)."""
        raws = {}
        for k in self.inputs:
            o = dataset[k]
            spec = self.model.specs[k]
            if spec.kind == "label" and tuple(o.names) != spec.names:
                o = o.select(spec.names)
            raws[k] = (o.values[rows], o.errors[rows], o.missing[rows])
        return raws

    def predict_dataset_rows(self, dataset: Dataset, rows: slice, chunk: int) -> Prediction:
        ids = None if dataset.ids is None else dataset.ids[rows]
        return self.run(self.raw_from_dataset(dataset, rows), ids=ids, chunk=chunk)

    def run(self, raws: dict[str, Raw], ids: np.ndarray | None = None,
            chunk: int | None = None) -> Prediction:
        with single_threaded_blas():
            return self._run(raws, ids, chunk)

    def _run(self, raws: dict[str, Raw], ids: np.ndarray | None = None,
             chunk: int | None = None) -> Prediction:
        """Predict one block from ``{input: (values, errors, missing or None)}``.

        Values and errors are raw arrays (n, D_k) in natural units (float32 from a file
        is fine); with ``missing=None`` the missing-entry rules of
        :meth:`starlux.data.Output.create` are applied (identically). Label-kind inputs
        must be in the model's column order. ``chunk``: rows the block is padded to
        when shorter (so that the last block of a file reuses the compiled kernel).
        """
        n = next(iter(raws.values()))[0].shape[0]
        m = _padded_rows(n, chunk or n)
        padded = tuple(_pad_raw(raws[k], m) for k in self.inputs)
        consts = tuple(self._consts[k] for k in self.inputs)
        if self.linear:
            in_w = tuple(self.params[k]["W"] for k in self.inputs)
            in_b = tuple(jnp.asarray(offset(self.params[k])) for k in self.inputs)
            z, cov, chi, used, rejected, outs = _linear_block(
                in_w, in_b, self._packed_t, padded, consts, self.prec, self.mean,
                self._out_params, spectra=self._spectra, out_tr=self._out_tr,
                out_full=self._out_full, n_refine=self.n_refine, want_cov=self.want_cov,
                clip=self.clip)
        else:  # nonlinear transforms: Gauss-Newton (solve_latents), no residual clipping
            prepared = {k: _prepare_block(*r, *c, sp[0]) for k, r, c, sp
                        in zip(self.inputs, padded, consts, self._spectra, strict=True)}
            data = {k: (y, w) for k, (y, w, _) in prepared.items()}
            rejected = [o for _, _, o in prepared.values()]
            z, cov, chi2 = solve_latents(self.model.specs, self.params, data, self.prec,
                                         self.mean, chunk_size=m, want_cov=True)
            chi = [chi2[k] for k in data]
            used = [jnp.sum(w > 0, axis=1) for _, w in data.values()]
            outs = _outputs_block(z, cov, self._out_params, out_tr=self._out_tr,
                                  out_full=self._out_full)
            if not self.want_cov:
                cov = None
        z, cov, chi, used, rejected, outs = jax.device_get((z, cov, chi, used, rejected,
                                                             outs))
        chi2, n_used, n_rejected = {}, {}, {}
        for k, c, u, rj in zip(self.inputs, chi, used, rejected, strict=True):
            u = np.asarray(u[:n], dtype=np.int64)
            n_used[k] = u
            n_rejected[k] = np.asarray(rj[:n], dtype=np.int64)
            with np.errstate(invalid="ignore", divide="ignore"):
                chi2[k] = np.where(u > 0, c[:n] / np.maximum(u, 1), np.nan)
        preds = {k: _natural_output(self.model, k, v[:n], fv[:n],
                                    None if fc is None else fc[:n], np.asarray(z[:n]))
                 for k, (v, fv, fc) in zip(self.outputs, outs, strict=True)}
        return Prediction(z=np.asarray(z[:n]), z_cov=None if cov is None else cov[:n],
                          outputs=preds, chi2=chi2, n_used=n_used, inputs=self.inputs,
                          ids=ids, n_rejected=n_rejected)


def aligned_empty(shape: tuple[int, ...], dtype: Any, align: int = 64) -> np.ndarray:
    """An uninitialised array whose data start on an ``align``-byte boundary: JAX's CPU
    backend then uses it in place instead of copying it (saves a copy per block)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + align, dtype=np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start:start + size].view(dtype).reshape(shape)


def _pad_raw(raw: Raw, m: int) -> Raw:
    """Pad a block to ``m`` rows with entries that are missing under every rule."""
    values, errors, missing = raw
    n = values.shape[0]
    if n != m:
        def pad(a: np.ndarray, fill: Any) -> np.ndarray:
            out = aligned_empty((m,) + a.shape[1:], a.dtype)
            out[:n] = a
            out[n:] = fill
            return out

        values, errors = pad(values, 0), pad(errors, np.inf)
        if missing is not None:
            missing = pad(missing, True)
    return (jax.device_put(values), jax.device_put(errors),
            None if missing is None else jax.device_put(missing))


def _natural_output(model: LuxModel, name: str, vals: np.ndarray, fvar: np.ndarray,
                    fcov: np.ndarray | None, z: np.ndarray) -> OutputPrediction:
    """Model-unit predictions of one output -> :class:`OutputPrediction` (natural units,
    map and model errors added)."""
    spec = model.specs[name]
    scale = spec.scale
    values = np.asarray(vals) * scale + spec.center
    # the calibrated scale of the statistical parts (1 for uncalibrated outputs)
    c2 = float(model.error_scale.get(name, 1.0)) ** 2
    fisher_var = np.maximum(np.asarray(fvar) * scale**2, 0.0) * c2
    map_var = None
    if name in model.map_cov:
        map_var = spec.transform.map_variance(model.map_cov[name], z) * scale**2 * c2
    model_err = model.model_error.get(name, np.zeros(spec.dim))
    if spec.has_scatter and name in model.ln_scatter and name not in model.model_error:
        # a predicted spectrum's error includes the fitted per-pixel scatter
        model_err = np.exp(model.ln_scatter[name]) * scale
    extra = model_err**2 + (0.0 if map_var is None else map_var)
    cov_out = None
    if fcov is not None:
        cov_out = np.asarray(fcov) * np.outer(scale, scale) * c2
        idx = np.arange(spec.dim)
        cov_out[:, idx, idx] += extra
    return OutputPrediction(
        values=values,
        errors=np.sqrt(fisher_var + extra),
        fisher_errors=np.sqrt(fisher_var),
        model_error=model_err,
        cov=cov_out,
        names=spec.names,
        wavelength=spec.wavelength,
        map_errors=None if map_var is None else np.sqrt(map_var),
    )
