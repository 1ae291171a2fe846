"""The one latent solver, and the latent priors.

For object n and the chosen outputs k, the latents solve the penalised weighted
least-squares problem (exact for transforms with ``exact_latents``, Gauss–Newton
otherwise)

    (sum_k J_k^T W_nk J_k + Lambda) z_n = sum_k J_k^T W_nk (y_nk - b_k) + Lambda mu,

with W_nk = 1 / (sigma_nk^2 + s_k^2) (zero for missing entries) and (Lambda, mu) the
latent prior. :func:`solve_block` does this for one block of objects inside jitted
code; training (:mod:`starlux.fit`), prediction (:mod:`starlux.infer`), masking and the
derivative spectra all call it, directly or through :func:`solve_latents`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .covariance import chi2_rows, drop, is_full, latent_system, weigh
from .linalg import batched_trace, cho_inverse, cho_solve_factor, gram_dtype, row_chunks
from .transforms import Transform

if TYPE_CHECKING:
    from .spec import ModelState

__all__ = ["solve_block", "drop_entries", "solve_latents", "LatentSolution", "prior_terms",
           "latent_prior", "latent_caches", "N_GAUSS_NEWTON", "GN_TOLERANCE", "MAX_DROPPED"]

N_GAUSS_NEWTON = 12
"""At most this many Gauss–Newton steps for the latents of objects whose inputs are not
all exact (they stop earlier once every object's step is below :data:`GN_TOLERANCE`)."""
GN_TOLERANCE = 1e-7
"""A Gauss–Newton step smaller than this in every latent (latents are of order one)
ends an object's iterations."""

MAX_DROPPED = 32
"""Per object and input, entries dropped by :func:`drop_entries` through a rank update
of the posterior precision; an object that loses more is solved again."""

GATHER_SHARE = 8
""":func:`drop_entries` works on the updated objects alone (gathered) when they are at
most 1 / GATHER_SHARE of the block, else on the whole block."""


def solve_block(transforms: Sequence[Transform], params: Sequence[Any], caches: Sequence[Any],
                data: Sequence[tuple[jax.Array, jax.Array]], z0: jax.Array,
                prior_precision: jax.Array, prior_mean: jax.Array, prox: float = 0.0,
                n_refine: int = 1) -> tuple[jax.Array, jax.Array, list[jax.Array]]:
    """Latents of one block of objects (call inside jitted code).

    Args:
        transforms, params, caches: per input output, its transform, parameters and
            :meth:`~starlux.transforms.Transform.precompute` result.
        data: per input, ``(y, w)`` (n, D_k) in model units (any float dtype).
        z0: (n, P) starting latents (the linearisation point and the proximal anchor).
        prior_precision: (P, P) Lambda; prior_mean: (P,) mu.
        prox: relative weight of a proximal pull towards ``z0`` (min-norm updates).
        n_refine: float64 iterative-refinement steps after an exact solve (corrects
            float32 Gram products); ignored when some transform is not exact, which
            takes :data:`N_GAUSS_NEWTON` Gauss–Newton steps instead.

    Returns:
        ``(z, chol, chi2)``: the (n, P) latents, the lower Cholesky factor (n, P, P) of
        the posterior precision, and per input the (n,) chi^2 ``sum w (y - f(z))^2``.
    """
    n, p = z0.shape
    exact = all(t.exact_latents for t in transforms)
    ys = [y.astype(z0.dtype) for y, _ in data]
    ws = [w.astype(z0.dtype) for _, w in data]
    prior_shift = prior_precision @ prior_mean
    eye = jnp.eye(p, dtype=z0.dtype)
    # the normal equations of an input linear in z do not depend on z: formed once,
    # not at every Gauss–Newton step (with a linear spectrum and a nonlinear label map
    # the steps then cost only the small nonlinear part)
    fixed = [latent_system(tr, pa, z0, y, w, ca) if tr.exact_latents and not exact else None
             for tr, pa, ca, y, w in zip(transforms, params, caches, ys, ws, strict=True)]

    def step(z: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, list[jax.Array]]:
        h = jnp.broadcast_to(prior_precision, (n, p, p))
        g = jnp.broadcast_to(prior_shift, (n, p))
        hs = []
        for tr, pa, ca, y, w, fx in zip(transforms, params, caches, ys, ws, fixed,
                                        strict=True):
            hk, gk = latent_system(tr, pa, z, y, w, ca) if fx is None else fx
            hs.append(hk)
            h, g = h + hk, g + gk
        lam = prox * batched_trace(h) / p
        h = h + lam[:, None, None] * eye
        g = g + lam[:, None] * z0
        chol = jax.lax.linalg.cholesky(h, symmetrize_input=False)  # h is exactly symmetric
        return cho_solve_factor(chol, g), chol, lam, hs

    if exact:
        z, chol, lam, hs = step(z0)
    else:
        # Gauss–Newton until every object's step is below GN_TOLERANCE (an object
        # that has converged keeps its latents, so its result does not depend on the
        # other objects of its block) or N_GAUSS_NEWTON steps
        def body(state):
            z, _, _, it, done = state
            z_new, chol, lam, _ = step(z)
            small = jnp.max(jnp.abs(z_new - z), axis=1) < GN_TOLERANCE
            z_new = jnp.where(done[:, None], z, z_new)
            return z_new, chol, lam, it + 1, done | small

        def cond(state):
            return (state[3] < N_GAUSS_NEWTON) & ~jnp.all(state[4])

        # the posterior precision is the last step's: at the solution for objects
        # that converged earlier, one step (< GN_TOLERANCE) behind for the others
        z, chol, lam, _, _ = jax.lax.while_loop(
            cond, body, (z0, jnp.zeros((n, p, p), z0.dtype), jnp.zeros(n, z0.dtype),
                         jnp.asarray(0), jnp.zeros(n, bool)))
        hs = []
    resid = [y - tr.apply(pa, z) for tr, pa, y in zip(transforms, params, ys, strict=True)]
    chi = [chi2_rows(w, r) for w, r in zip(ws, resid, strict=True)]
    for it in range(n_refine if exact else 0):
        # iterative refinement against the exact float64 residual of the normal
        # equations; chi^2 at z + dz without another pass over the data:
        # chi^2(z) - 2 dz.J^T W r + dz^T (J^T W J) dz
        grads = [tr.pullback(pa, z, weigh(w, r))
                 for tr, pa, w, r in zip(transforms, params, ws, resid, strict=True)]
        dz = cho_solve_factor(chol, prior_shift - z @ prior_precision.T
                              + lam[:, None] * (z0 - z) + sum(grads))
        z = z + dz
        chi = [jnp.maximum(ck - 2.0 * jnp.sum(dz * gk, axis=1)
                           + jnp.einsum("np,npq,nq->n", dz, hk, dz), 0.0)
               for ck, gk, hk in zip(chi, grads, hs, strict=True)]
        if it < n_refine - 1:
            resid = [y - tr.apply(pa, z) for tr, pa, y in zip(transforms, params, ys,
                                                               strict=True)]
    return z, chol, chi


def drop_entries(transforms: Sequence[Transform], params: Sequence[Any], caches: Sequence[Any],
                 data: Sequence[tuple[jax.Array, jax.Array]],
                 dropped: Sequence[jax.Array | None], resid: Sequence[jax.Array | None],
                 solution: tuple[jax.Array, jax.Array, list[jax.Array]], z0: jax.Array,
                 prior_precision: jax.Array, prior_mean: jax.Array, n_refine: int = 1,
                 max_dropped: int = MAX_DROPPED,
                 ) -> tuple[jax.Array, jax.Array, list[jax.Array]]:
    """:func:`solve_block`'s solution after the entries ``dropped`` lose their weight,
    without a new Gram product for objects that lose few (call inside jitted code).

    Why: at prediction a star's outlying pixels are rejected after its first solve;
    solving the block again recomputed every star's D x P^2 Gram product (as much as
    the first solve) although only a few pixels of a few stars changed weight.

    Args:
        transforms, params, caches, data, z0, prior_precision, prior_mean, n_refine: as
            given to :func:`solve_block` (``data``: the weights *before* dropping; no
            proximal term).
        dropped: per input, (n, D_k) True where an entry loses its weight, or ``None``.
        resid: per input with ``dropped``, (n, D_k) residuals ``y - f(z)`` at ``z``.
        solution: ``(z, chol, chi2)`` of :func:`solve_block` on ``data``.
        max_dropped: an object with at most this many dropped entries per input is
            updated by a rank update; one with more is solved again.

    Returns ``(z, chol, chi2)`` as :func:`solve_block` on the reduced weights would, to
    float64 accuracy; objects with nothing dropped keep theirs exactly (a star's result
    does not depend on its block). With exact transforms the lost entries' terms
    ``sum w_d J_d J_d^T`` leave the posterior precision (gathered, at most
    ``max_dropped`` per object) and one Newton step from ``z`` solves the new quadratic
    problem; after float32 Gram products one more step against the exact float64
    residual (as :func:`solve_block`'s refinement) restores float64 accuracy. The new
    chi^2 comes from the exact residual at the new latents. Objects with more dropped
    entries, and Gauss–Newton inputs, are solved again by :func:`solve_block` from
    ``z0`` (only when the block has one).
    """
    z, chol, chi = solution
    n, p = z.shape
    if any(is_full(w) for _, w in data):
        # correlated errors: the dropped entries are marginalised out of each object's
        # precision (covariance.drop) and the objects that lost any are solved again
        reduced = [(y, w) if d is None else (y, drop(w, d))
                   for (y, w), d in zip(data, dropped, strict=True)]
        hit = sum(jnp.any(d, axis=1) for d in dropped if d is not None) > 0
        return _take_rows(hit, solve_block(transforms, params, caches, reduced, z0,
                                           prior_precision, prior_mean, n_refine=n_refine),
                          (z, chol, list(chi)))
    counts = [jnp.zeros(n, jnp.int32) if d is None else jnp.sum(d, axis=1, dtype=jnp.int32)
              for d in dropped]
    hit = sum(c > 0 for c in counts) > 0
    exact = all(t.exact_latents for t in transforms)
    widths = [0 if d is None else min(max_dropped, d.shape[1]) for d in dropped]
    many = hit if not exact else sum(c > k for c, k in zip(counts, widths, strict=True)) > 0
    few = hit & ~many

    def reduced() -> list[tuple[jax.Array, jax.Array]]:
        return [(y, w) if d is None else (y, jnp.where(d, jnp.zeros((), w.dtype), w))
                for (y, w), d in zip(data, dropped, strict=True)]

    def resolve(state):
        zs, ls, cs = solve_block(transforms, params, caches, reduced(), z0, prior_precision,
                                 prior_mean, n_refine=n_refine)
        return _take_rows(many, (zs, ls, cs), state)

    def downdate(state):
        return _downdate(transforms, params, data, dropped, resid, widths, few, state, z0,
                         prior_precision, prior_mean, n_refine)

    state = (z, chol, list(chi))
    if exact:
        state = jax.lax.cond(jnp.any(few), downdate, lambda s: s, state)
    return jax.lax.cond(jnp.any(many), resolve, lambda s: s, state)


def _take_rows(mask: jax.Array, new: Any, old: Any) -> Any:
    """``new`` in the rows where ``mask`` (n,) holds, ``old`` elsewhere (pytrees)."""
    return jax.tree_util.tree_map(
        lambda a, b: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), new, old)


def _on_rows(mask: jax.Array, fn: Any, args: Any, old: Any, share: int = GATHER_SHARE) -> Any:
    """``fn(*args)`` (row-wise) for the rows where ``mask`` holds, ``old`` elsewhere: on
    those rows alone, gathered, when they are at most ``n // share`` (the cost of a few
    objects is that of a few), else on the whole block."""
    n = mask.shape[0]
    size = n // share

    def whole(_):
        return _take_rows(mask, fn(*args), old)

    if size < 1:
        return whole(None)

    def gathered(_):
        idx = jnp.nonzero(mask, size=size, fill_value=0)[0]
        new = fn(*jax.tree_util.tree_map(lambda a: a[idx], args))
        target = jnp.where(jnp.arange(size) < jnp.sum(mask), idx, n)  # n: dropped
        return jax.tree_util.tree_map(lambda o, a: o.at[target].set(a, mode="drop"),
                                      old, new)

    return jax.lax.cond(jnp.sum(mask) <= size, gathered, whole, None)


def _downdate(transforms, params, data, dropped, resid, widths, few, state, z0,
              prior_precision, prior_mean, n_refine):
    """The rank-update branch of :func:`drop_entries` for the objects ``few``."""
    z, chol, chi = state
    p = z.shape[1]
    h = chol @ jnp.swapaxes(chol, 1, 2)
    step = jnp.zeros_like(z)
    for tr, pa, (_, w), d, r, k in zip(transforms, params, data, dropped, resid, widths,
                                       strict=True):
        if d is None:
            continue
        # the (at most k) dropped entries of each object: their Jacobian rows (constant
        # for an exact transform), weights and residuals
        flag, idx = jax.lax.top_k(d.astype(jnp.float32), k)
        jac = tr.jacobian(pa, jnp.zeros((1, p), z.dtype))[0][idx]  # (n, k, P)
        wd = jnp.where(flag > 0, jnp.take_along_axis(w, idx, axis=1).astype(z.dtype), 0.0)
        rd = jnp.take_along_axis(r, idx, axis=1)
        h = h - jnp.einsum("nk,nkp,nkq->npq", wd, jac, jac)
        # the gradient of the reduced problem at z (the full problem's is ~0 there)
        step = step - jnp.einsum("nk,nkp->np", wd * rd, jac)
    low = jax.lax.linalg.cholesky(h, symmetrize_input=False)
    z_new = z + cho_solve_factor(low, step)
    prior_shift = prior_precision @ prior_mean
    reduced = [w if d is None else jnp.where(d, jnp.zeros((), w.dtype), w)
               for (_, w), d in zip(data, dropped, strict=True)]

    def exact(zn, ln, ys, ws):
        """chi^2 from the exact residual at the new latents; after float32 Grams, one
        refinement step against it (chi^2 then to first order in that tiny step)."""
        ws = [w.astype(zn.dtype) for w in ws]
        res = [y.astype(zn.dtype) - tr.apply(pa, zn)
               for tr, pa, y in zip(transforms, params, ys, strict=True)]
        chis = [jnp.sum(w * q * q, axis=1) for w, q in zip(ws, res, strict=True)]
        for it in range(n_refine):
            grads = [tr.pullback(pa, zn, w * q)
                     for tr, pa, w, q in zip(transforms, params, ws, res, strict=True)]
            dz = cho_solve_factor(ln, prior_shift - zn @ prior_precision.T + sum(grads))
            zn = zn + dz
            chis = [c - 2.0 * jnp.sum(dz * g, axis=1) for c, g in zip(chis, grads,
                                                                        strict=True)]
            if it < n_refine - 1:
                res = [y.astype(zn.dtype) - tr.apply(pa, zn)
                       for tr, pa, y in zip(transforms, params, ys, strict=True)]
        return zn, ln, chis

    ys = [y for y, _ in data]
    return _on_rows(few, exact, (z_new, low, ys, reduced), (z, chol, list(chi)))


class LatentSolution(NamedTuple):
    """Result of :func:`solve_latents`."""

    z: jax.Array  # (N, P) latents
    cov: jax.Array | None  # (N, P, P) posterior covariance, if requested
    chi2: dict[str, jax.Array]  # per output: (N,) chi^2 sum w (y - f(z))^2 at ``z``


def latent_caches(transforms: Sequence[Transform], params: Sequence[Any],
                  dims: Sequence[int], precision: str | None) -> tuple[Any, ...]:
    """Each input's :meth:`~starlux.transforms.Transform.precompute`, in the Gram dtype
    :func:`~starlux.linalg.gram_dtype` gives its size (float64 when not exact)."""
    exact = all(t.exact_latents for t in transforms)
    return tuple(t.precompute(pa, gram_dtype(precision, d) if exact else jnp.float64)
                 for t, pa, d in zip(transforms, params, dims, strict=True))


def solve_latents(
    transforms: dict[str, Transform],
    params: dict[str, Any],
    data: dict[str, tuple[jax.Array, jax.Array]],
    prior_precision: jax.Array,
    prior_mean: jax.Array,
    z0: jax.Array | None = None,
    prox: float = 0.0,
    chunk_size: int = 1024,
    want_cov: bool = False,
    precision: str = "float64",
) -> LatentSolution:
    """:func:`solve_block` over all objects in blocks of ``chunk_size`` (memory bounded
    by one block). ``data``: per output name, ``(y, w)`` (N, D_k) in model units;
    ``z0`` defaults to the prior mean."""
    names = list(data)
    n = next(iter(data.values()))[0].shape[0]
    p = prior_precision.shape[0]
    trs = tuple(transforms[k] for k in names)
    pars = tuple(params[k] for k in names)
    caches = latent_caches(trs, pars, [data[k][1].shape[1] for k in names], precision)
    if z0 is None:
        z0 = jnp.broadcast_to(prior_mean, (n, p))
    zs, covs, chis = [], [], []
    size = min(chunk_size, n)
    k = len(names)
    # every block has ``size`` rows (one compilation): the last one is padded by
    # repeating its last object, whose copies are dropped below
    blocks = row_chunks(size, z0, *(data[c][0] for c in names), *(data[c][1] for c in names),
                        pad="edge")
    for a, (z0c, *yw) in zip(range(0, n, size), blocks, strict=True):
        m = min(n, a + size) - a
        z, cov, chi = _solve_chunk(trs, pars, caches, tuple(zip(yw[:k], yw[k:], strict=True)),
                                   z0c, prior_precision, prior_mean, prox, want_cov)
        zs.append(np.asarray(z)[:m])
        covs.append(None if cov is None else np.asarray(cov)[:m])
        chis.append(tuple(np.asarray(c)[:m] for c in chi))
    # assembled on the host (no XLA concatenation to compile for every N)
    chi2 = {c: jnp.asarray(np.concatenate([x[i] for x in chis])) for i, c in enumerate(names)}
    return LatentSolution(jnp.asarray(np.concatenate(zs)),
                          jnp.asarray(np.concatenate(covs)) if want_cov else None, chi2)


@partial(jax.jit, static_argnames=("transforms", "want_cov"))
def _solve_chunk(transforms, params, caches, data, z0, prior_precision, prior_mean, prox,
                 want_cov):
    z, chol, chi = solve_block(transforms, params, caches, data, z0, prior_precision,
                               prior_mean, prox)
    return z, (cho_inverse(chol) if want_cov else None), tuple(chi)


def prior_terms(model: ModelState, kind: str | None = None) -> tuple[jax.Array, jax.Array]:
    """(P, P) precision and (P,) mean of the latent prior used at inference:
    ``"empirical"`` (the Gaussian fitted to the training latents), ``"l2"`` (the
    training penalty 2 Omega I about 0) or ``"none"`` (a vanishing one)."""
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


def latent_prior(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P,) mean and (P, P) covariance of a Gaussian fitted to latents ``z`` (N, P), with
    a small ridge on the diagonal (the inference prior, ``prior="empirical"``)."""
    z = np.asarray(z)
    mean = z.mean(axis=0)
    cov = np.cov(z, rowvar=False) if z.shape[0] > 1 else np.eye(z.shape[1])
    cov = np.atleast_2d(cov)
    cov = cov + 1e-8 * np.eye(z.shape[1]) * max(np.trace(cov), 1e-8)
    return mean, cov
