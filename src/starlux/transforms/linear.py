"""The paper's linear maps, ``y = z W^T + b``, with exact weighted least-squares solves."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..covariance import is_full, map_row_covariances, solve_map
from ..linalg import (
    cho_solve_factor,
    gram_dtype,
    gram_packed_per_column,
    packed_outer,
    pseudo_inverse_spd,
    row_chunks,
    unpack_index,
    unpack_symmetric,
)
from .base import Params, Transform

__all__ = ["LinearTransform", "offset", "design"]


class LinearTransform(Transform):
    """``y = z W^T + b`` with ``W`` (D, P) and an offset ``b`` (D,): the paper's A
    (labels) and B (flux).

    Why the offset: the paper relies on a latent dimension that starts at 1 (eq. 9) to
    carry each output's constant part. When the flux has no constant part (standardised
    or continuum-subtracted spectra, or any zero-mean data) every latent direction is
    spent on the flux's variation, the labels' constant part has nowhere to live, and
    labels inferred from flux come out biased by their training centre. With its own
    offset every output is exactly invariant to a per-dimension shift (and scale) of
    its values. Models written without ``b`` load with ``b = 0``.
    """

    name = "linear"
    exact_latents = True

    def init(self, rng: np.random.Generator, n_latents: int, dim: int) -> Params:
        """``W ~ U(0, 1)`` as in the paper's Table 1, ``b = 0``."""
        return {"W": jnp.asarray(rng.random((dim, n_latents))), "b": jnp.zeros(dim)}

    def apply(self, params: Params, z: jax.Array) -> jax.Array:
        return z @ params["W"].T + offset(params)

    def warm_start(self, params: Params, linear: Params) -> Params:
        return dict(linear)

    def jacobian(self, params: Params, z: jax.Array) -> jax.Array:
        return jnp.broadcast_to(params["W"], (z.shape[0],) + params["W"].shape)

    def propagate(self, params: Params, z: jax.Array, cov: jax.Array,
                  full: bool = False) -> jax.Array:
        w = params["W"]
        if full:
            return jnp.einsum("dp,npq,eq->nde", w, cov, w)
        # diag(W C W^T) for each object as one matrix product on packed triangles
        p = w.shape[1]
        i, j = jnp.triu_indices(p)
        packed_cov = cov[:, i, j] * jnp.where(i == j, 1.0, 2.0)
        return packed_cov @ packed_outer(w).T

    def propagate_posterior(self, params: Params, z: jax.Array, chol: jax.Array,
                            full: bool = False) -> jax.Array:
        if not full:
            return super().propagate_posterior(params, z, chol, full=False)
        # W C W^T = V^T V with V = chol^-1 W^T: no inverse of the precision needed
        wt = params["W"].T
        v = jax.scipy.linalg.solve_triangular(
            chol, jnp.broadcast_to(wt, (z.shape[0],) + wt.shape), lower=True)
        return jnp.einsum("npm,npk->nmk", v, v)

    def precompute(self, params: Params, dtype: Any = None) -> jax.Array:
        """``packed_outer(W).T`` (P(P+1)/2, D) in the dtype of the Gram products."""
        return _packed_outer_t(params["W"], dtype or params["W"].dtype)

    def latent_system(self, params: Params, z: jax.Array, y: jax.Array, w: jax.Array,
                      cache: Any = None) -> tuple[jax.Array, jax.Array]:
        """Exact normal equations ``H = W^T diag(w) W``, ``g = W^T diag(w) (y - b)``,
        formed in the dtype of ``cache`` (float32 Gram products are corrected by the
        solver's float64 refinement step)."""
        packed_t = self.precompute(params) if cache is None else cache
        low = packed_t.dtype
        gram = jax.lax.dot_general(w.astype(low), packed_t, (((1,), (1,)), ((), ())),
                                   precision=jax.lax.Precision.HIGHEST,
                                   preferred_element_type=low).astype(w.dtype)
        g = jnp.matmul((w * (y - offset(params))).astype(low), params["W"].astype(low),
                       precision=jax.lax.Precision.HIGHEST).astype(w.dtype)
        return gram[:, unpack_index(params["W"].shape[1])], g

    def latent_system_full(self, params: Params, z: jax.Array, y: jax.Array,
                           prec: jax.Array, cache: Any = None) -> tuple[jax.Array, jax.Array]:
        """Exact ``H = W^T Lambda W``, ``g = W^T Lambda (y - b)`` per object (float64)."""
        w = params["W"].astype(prec.dtype)
        lw = jnp.einsum("nde,ep->ndp", prec, w)
        h = jnp.einsum("dp,ndq->npq", w, lw)
        h = 0.5 * (h + jnp.swapaxes(h, 1, 2))
        return h, jnp.einsum("ndp,nd->np", lw, y.astype(prec.dtype) - offset(params))

    def pullback(self, params: Params, z: jax.Array, v: jax.Array) -> jax.Array:
        return v @ params["W"]

    def param_covariance(self, params: Params, z: jax.Array, w: jax.Array,
                         prox: float = 1e-8) -> np.ndarray:
        """(D, P+1, P+1) covariance of each row of ``[W, b]`` from its weighted
        least-squares fit: the (diagonally normalised) pseudo-inverse of
        ``G_d = sum_n w_nd x_n x_n^T`` with ``x_n = [z_n, 1]`` (float64; meant for
        outputs with few dimensions such as labels). Under full per-object precisions
        ``w`` (N, D, D) the rows are coupled: each row's block of the pseudo-inverse of
        the Kronecker system (:func:`starlux.covariance.map_row_covariances`)."""
        x = design(jnp.asarray(z, jnp.float64))
        if is_full(w):
            return map_row_covariances(x, w)
        p = x.shape[1]
        gram = np.asarray(unpack_symmetric(gram_packed_per_column(
            jnp.asarray(w, jnp.float64), x), p))
        return pseudo_inverse_spd(gram)

    def param_variance(self, params: Params, cov: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(N, D) ``x_n^T C_d x_n`` with ``x_n = [z_n, 1]``."""
        x = np.asarray(design(jnp.asarray(z)))
        if cov.shape[-1] == z.shape[1]:  # models written before the offset existed
            x = np.asarray(z)
        return np.maximum(np.einsum("np,dpq,nq->nd", x, cov, x, optimize=True), 0.0)

    def fit_params(self, params: Params, z: jax.Array, y: jax.Array, w: jax.Array,
                   prox: float = 1e-8, precision: str = "auto", chunk_size: int = 1024,
                   max_iter: int = 0) -> tuple[Params, float]:
        """Exact weighted least squares per output dimension, as a min-norm update.

        Each row ``[W_d, b_d]`` solves ``(G_d + lam_d I) x_d = X^T (w_d y_d) + lam_d
        x_d_prev`` with ``G_d = sum_n w_nd x_n x_n^T``, ``x_n = [z_n, 1]`` and ``lam_d
        = prox * mean(diag G_d)``: directions the data do not constrain keep their
        previous values instead of collapsing to zero (which would leave latent
        dimensions that start at zero dead forever).

        Two passes over chunks of ``chunk_size`` objects (memory bounded by one chunk,
        ``y`` and ``w`` may be float32): the first accumulates the Gram matrices (the
        dominant N x D x P^2 cost) and the right-hand sides, in float32 where
        :func:`starlux.linalg.gram_dtype` says so; the second computes the exact
        float64 residual of the solution, which gives one step of iterative refinement
        (restoring float64 accuracy) and the chi^2 at the refined solution.

        Under full per-object precisions ``w`` (N, D, D) (correlated errors) the rows are
        coupled and solved together, exactly (:func:`starlux.covariance.solve_map`).
        """
        if is_full(w):
            prev = jnp.concatenate([params["W"], offset(params)[:, None]
                                    * jnp.ones((w.shape[1], 1))], axis=1)
            sol, chi2 = solve_map(design(jnp.asarray(z, jnp.float64)), y, w, prev, prox,
                                  min(chunk_size, 512))
            return {"W": jnp.asarray(sol[:, :-1]), "b": jnp.asarray(sol[:, -1])}, chi2
        low = gram_dtype(precision, w.shape[1])
        p = z.shape[1] + 1  # the offset is the last column of the solved rows
        d = w.shape[1]
        gram = np.zeros((d, p * (p + 1) // 2), low)
        rhs = np.zeros((d, p), low)
        for zc, yc, wc in row_chunks(chunk_size, z, y, w):
            gram, rhs = _map_normal_chunk(gram, rhs, wc, yc, zc)
        w_prev = jnp.concatenate([params["W"], offset(params)[:, None]
                                  * jnp.ones((d, 1))], axis=1)
        chol, lam, sol = _solve_rows(gram, rhs, w_prev, prox, p=p)
        grad, chi = np.zeros((d, p)), np.zeros(d)
        # the float64 residual pass is memory-bound: small blocks stay in cache
        # (measured 0.55 s vs 0.9 s for 1,024-row blocks at 5,000 x 7,514)
        for zc, yc, wc in row_chunks(min(chunk_size, 256), z, y, w):
            grad, chi = _map_residual_chunk(grad, chi, wc, yc, zc, sol)
        sol, chi2 = _refine_rows(chol, lam, w_prev, sol, grad, chi)
        return {"W": sol[:, :-1], "b": sol[:, -1]}, float(chi2)


def offset(params: Params) -> jax.Array | float:
    """The offset ``b`` (D,) of a linear map, 0 for maps stored without one."""
    b = params.get("b")
    return 0.0 if b is None else b


def design(z: jax.Array) -> jax.Array:
    """(N, P) latents -> (N, P + 1) design rows ``[z, 1]`` of a map with an offset."""
    return jnp.concatenate([z, jnp.ones(z.shape[:-1] + (1,), z.dtype)], axis=-1)


@partial(jax.jit, static_argnames=("dtype",))
def _packed_outer_t(w: jax.Array, dtype: Any) -> jax.Array:
    return packed_outer(w).T.astype(dtype)


@partial(jax.jit, donate_argnums=(0, 1))
def _map_normal_chunk(gram: jax.Array, rhs: jax.Array, w: jax.Array, y: jax.Array,
                      z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Add one chunk's (D, P(P+1)/2) packed Gram and (D, P) rhs to the accumulators, in
    their dtype (the refinement step corrects both with the exact float64 residual)."""
    low = gram.dtype
    wl, zl = w.astype(low), design(z).astype(low)
    return (gram + gram_packed_per_column(wl, zl),
            rhs + (wl * y.astype(low)).T @ zl)


@partial(jax.jit, static_argnames=("p",))
def _solve_rows(gram: jax.Array, rhs: jax.Array, w_prev: jax.Array, prox: float, p: int,
                ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Cholesky factors of the proximal systems, their lam, and the first solution."""
    chol, lam = _factor_rows(gram, p, prox)
    sol = cho_solve_factor(chol, rhs.astype(jnp.float64) + lam[:, None] * w_prev)
    return chol, lam, sol


@partial(jax.jit, donate_argnums=(0, 1))
def _map_residual_chunk(grad: jax.Array, chi: jax.Array, w: jax.Array, y: jax.Array,
                        z: jax.Array, sol: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Add one chunk's (D, P) ``sum_n w r z_n`` and (D,) ``sum_n w r^2``, r = y - z sol^T."""
    wf = w.astype(jnp.float64)
    x = design(z)
    r = y.astype(jnp.float64) - x @ sol.T
    wr = wf * r
    return grad + wr.T @ x, chi + jnp.sum(wr * r, axis=0)


@jax.jit
def _refine_rows(chol: jax.Array, lam: jax.Array, w_prev: jax.Array, sol: jax.Array,
                 grad: jax.Array, chi: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One refinement step of the proximal map solve and the chi^2 at its result.

    ``grad`` = z^T diag(w) (y - z sol^T) per row, ``chi`` = chi^2 per row at ``sol``.
    With delta the correction, chi^2(sol + delta) = chi - 2 delta.grad + delta^T G delta,
    and ``delta^T G delta = |chol^T delta|^2 - lam |delta|^2``.
    """
    delta = cho_solve_factor(chol, grad + lam[:, None] * (w_prev - sol))
    ct_delta = jnp.einsum("dpq,dp->dq", chol, delta)
    quad = jnp.sum(ct_delta**2, axis=1) - lam * jnp.sum(delta**2, axis=1)
    chi2 = jnp.sum(chi - 2.0 * jnp.sum(delta * grad, axis=1) + quad)
    return sol + delta, chi2


def _factor_rows(packed_gram: jax.Array, p: int, prox: float) -> tuple[jax.Array, jax.Array]:
    """Cholesky factors of ``G_d + lam_d I`` from packed Grams, and ``lam_d``.

    ``lam_d`` is added on the packed diagonal and the factorisation reads only one
    triangle (measured 3x faster than unpacking, ``jnp.trace`` and symmetrising).
    """
    packed = packed_gram.astype(jnp.float64)
    i, j = np.triu_indices(p)
    on_diag = i == j
    lam = prox * jnp.sum(packed[:, np.flatnonzero(on_diag)], axis=1) / p + 1e-12
    packed = packed + lam[:, None] * jnp.asarray(on_diag, jnp.float64)
    chol = jax.lax.linalg.cholesky(unpack_symmetric(packed, p), symmetrize_input=False)
    return chol, lam
