"""Maps quadratic in the latents, ``y = z W^T + q(z) Q^T + b`` with ``q(z) = [z_i z_j]``.

The Cannon's model (Ness et al. 2015) with learned latents in place of labels, and the
composition pollux writes as a polynomial feature map followed by a linear map. Why
this family for real spectra: the flux of a star is a smooth but curved function of its
physical parameters over a broad sample (a 3,000-7,000 K range moves whole bands, not
only lines), and a linear map needs many latents to follow that curve; a quadratic map
follows it with few, and it stays **linear in its parameters**. So:

* the parameter step is exact weighted least squares per output dimension, with the
  design rows ``[z, q(z), 1]`` (the linear map's solver, streamed over blocks of
  objects, float32 Gram products refined to float64);
* a fitted linear map is reproduced exactly by :meth:`QuadraticTransform.warm_start`
  (``Q = 0``), so training starts from the linear Lux fit and can only improve on it;
* the latent step is a small Gauss–Newton problem: the Jacobian is
  ``W + 2 S(z)``, with ``S`` the symmetric (P, P) matrix of each output dimension's
  quadratic coefficients applied to z, formed in O(D P^2) per object.

Parameters: ``W`` (D, P), ``Q`` (D, P(P+1)/2) in the order of :func:`pair_index`
(upper triangle, row by row) and ``b`` (D,).
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ..linalg import row_chunks
from .base import Params, Transform
from .linear import LinearTransform

__all__ = ["QuadraticTransform", "pair_index", "pair_products"]

_ROWS = 256
"""Objects per vectorised sub-block when per-object Jacobians (D, P) are formed."""


def pair_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each quadratic term ``z_i z_j`` (i <= j), in storage order."""
    return np.triu_indices(p)


def pair_products(z: jax.Array) -> jax.Array:
    """(N, P) latents -> (N, P(P+1)/2) products ``z_i z_j`` for i <= j."""
    i, j = pair_index(z.shape[-1])
    return z[..., i] * z[..., j]


def _symmetric(q: jax.Array, p: int) -> jax.Array:
    """(D, P(P+1)/2) quadratic coefficients -> (D, P, P) symmetric S with
    ``q(z) . Q_d = z^T S_d z`` (off-diagonal coefficients split in halves)."""
    i, j = pair_index(p)
    half = jnp.where(i == j, 1.0, 0.5).astype(q.dtype)
    s = jnp.zeros((q.shape[0], p, p), q.dtype)
    s = s.at[:, i, j].add(q * half)
    return s.at[:, j, i].add(jnp.where(i == j, 0.0, 1.0).astype(q.dtype) * q * half)


class QuadraticTransform(Transform):
    """``y = z W^T + q(z) Q^T + b``: a linear map plus every product of two latents.

    The number of parameters per output dimension is ``P + P(P+1)/2 + 1`` (45 at
    P = 8, 153 at P = 16), so the family is meant for a few latents; the choice of P
    is left to the held-out folds like the linear map's.
    """

    name: ClassVar[str] = "quadratic"
    exact_latents: ClassVar[bool] = False

    def config(self) -> dict[str, Any]:
        return {}

    # --- parameters ----------------------------------------------------------------
    def init(self, rng: np.random.Generator, n_latents: int, dim: int) -> Params:
        """``W ~ U(0, 1)`` (as the linear map), ``Q = 0``, ``b = 0``."""
        w = jnp.asarray(rng.random((dim, n_latents)))
        npair = n_latents * (n_latents + 1) // 2
        return {"W": w, "Q": jnp.zeros((dim, npair)), "b": jnp.zeros(dim)}

    def warm_start(self, params: Params, linear: Params) -> Params:
        """The fitted linear map ``linear`` with ``Q = 0``: the same predictions."""
        w = jnp.asarray(linear["W"])
        return {"W": w, "Q": jnp.zeros_like(params["Q"]),
                "b": jnp.asarray(linear.get("b", jnp.zeros(w.shape[0])))}

    # --- evaluation ----------------------------------------------------------------
    def apply(self, params: Params, z: jax.Array) -> jax.Array:
        return z @ params["W"].T + pair_products(z) @ params["Q"].T + params["b"]

    def precompute(self, params: Params, dtype: Any = None) -> jax.Array:
        """The (D, P, P) symmetric quadratic coefficients (reused by every block)."""
        return _symmetric(jnp.asarray(params["Q"]), params["W"].shape[1])

    def _sym(self, params: Params, cache: Any) -> jax.Array:
        return self.precompute(params) if cache is None else cache

    def jacobian(self, params: Params, z: jax.Array, cache: Any = None) -> jax.Array:
        """(N, D, P) ``W + 2 S z``."""
        s = self._sym(params, cache)
        return params["W"][None] + 2.0 * jnp.einsum("dpq,nq->ndp", s, z)

    def latent_system(self, params: Params, z: jax.Array, y: jax.Array, w: jax.Array,
                      cache: Any = None) -> tuple[jax.Array, jax.Array]:
        """Gauss–Newton ``H = J^T W J``, ``g = J^T W r + H z`` per object, forming the
        (D, P) Jacobians in sub-blocks of :data:`_ROWS` objects."""
        s = self._sym(params, cache)

        def one(args):
            zn, yn, wn = args
            jac = params["W"] + 2.0 * jnp.einsum("dpq,q->dp", s, zn)
            f = jac @ zn - jnp.einsum("dp,p->d", jac - params["W"], zn) * 0.5 + params["b"]
            wj = wn[:, None] * jac
            h = jac.T @ wj
            return h, wj.T @ (yn - f) + h @ zn

        return jax.lax.map(one, (z, y.astype(z.dtype), w.astype(z.dtype)), batch_size=_ROWS)

    def propagate(self, params: Params, z: jax.Array, cov: jax.Array,
                  full: bool = False) -> jax.Array:
        jac = self.jacobian(params, z)
        if full:
            return jnp.einsum("ndp,npq,neq->nde", jac, cov, jac)
        return jnp.einsum("ndp,npq,ndq->nd", jac, cov, jac)

    def pullback(self, params: Params, z: jax.Array, v: jax.Array) -> jax.Array:
        return jnp.einsum("nd,ndp->np", v, self.jacobian(params, z))

    # --- the parameter step ------------------------------------------------------------
    def fit_params(self, params: Params, z: jax.Array, y: jax.Array, w: jax.Array,
                   prox: float = 1e-8, precision: str = "auto", chunk_size: int = 1024,
                   max_iter: int = 0) -> tuple[Params, float]:
        """Exact proximal weighted least squares for ``[W, Q, b]`` at fixed latents:
        the linear map's solve with design rows ``[z, q(z), 1]``."""
        p = z.shape[1]
        feats = _features(z, chunk_size)
        start = {"W": jnp.concatenate([params["W"], params["Q"]], axis=1), "b": params["b"]}
        sol, chi2 = LinearTransform().fit_params(start, feats, y, w, prox=prox,
                                                 precision=precision, chunk_size=chunk_size)
        return {"W": sol["W"][:, :p], "Q": sol["W"][:, p:], "b": sol["b"]}, chi2

    def param_covariance(self, params: Params, z: jax.Array, w: jax.Array,
                         prox: float = 1e-8) -> np.ndarray:
        """(D, F, F) covariance of each row of ``[W, Q, b]`` (F = P + P(P+1)/2 + 1)
        from its weighted least-squares fit (meant for outputs with few dimensions)."""
        return LinearTransform().param_covariance(params, _features(z, 1024), w, prox)

    def param_variance(self, params: Params, cov: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(N, D) ``x_n^T C_d x_n`` with ``x_n = [z_n, q(z_n), 1]``."""
        return LinearTransform().param_variance(params, cov, np.asarray(_features(z, 1024)))


def _features(z: jax.Array, chunk_size: int) -> jax.Array:
    """(N, P + P(P+1)/2) design ``[z, q(z)]``, by blocks of objects."""
    n = z.shape[0]
    size = max(1, min(chunk_size, n))
    parts = [np.asarray(_features_chunk(zc)) for (zc,) in row_chunks(size, z)]
    return jnp.asarray(np.concatenate(parts)[:n])


@partial(jax.jit)
def _features_chunk(z: jax.Array) -> jax.Array:
    z = jnp.asarray(z, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    return jnp.concatenate([z, pair_products(z)], axis=1)
