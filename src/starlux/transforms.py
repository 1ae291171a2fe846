"""Transforms: maps from latents z (N, P) to one output (N, D).

The fitting and inference code talks to transforms only through the methods of
:class:`Transform`, so a nonlinear transform (an MLP, a Gaussian process) can be added
by subclassing and defining :meth:`Transform.init` and :meth:`Transform.apply`; the
generic Gauss–Newton latent step and the optax L-BFGS parameter step then work
unchanged. :class:`LinearTransform` (the paper's A and B) overrides both with exact
weighted least-squares solves.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import optax

from .linalg import (
    gram_packed_per_column,
    gram_per_row,
    packed_outer,
    unpack_symmetric,
)

__all__ = ["Transform", "LinearTransform", "TRANSFORMS"]

Params = dict[str, jax.Array]


class Transform:
    """Base class: a differentiable map ``y = f(params, z)`` applied row-wise.

    Subclasses must define :meth:`init` and :meth:`apply`; everything else has a
    generic (autodiff) implementation. ``is_linear`` tells the fitter whether one
    Gauss–Newton step is exact.
    """

    name: str = "transform"
    is_linear: bool = False

    def init(self, key: jax.Array, n_latents: int, dim: int) -> Params:
        raise NotImplementedError

    def apply(self, params: Params, z: jax.Array) -> jax.Array:
        """(N, P) latents -> (N, D) predicted output."""
        raise NotImplementedError

    def jacobian(self, params: Params, z: jax.Array) -> jax.Array:
        """(N, D, P): d output / d z for each object."""
        one = lambda zz: self.apply(params, zz[None])[0]  # noqa: E731
        return jax.vmap(jax.jacfwd(one))(z)

    def propagate(self, params: Params, z: jax.Array, cov: jax.Array,
                  full: bool = False) -> jax.Array:
        """Linearised covariance of the output given latent covariance ``cov`` (N, P, P).

        Returns the (N, D) variances, or the (N, D, D) covariances if ``full``.
        """
        jac = self.jacobian(params, z)
        if full:
            return jnp.einsum("ndp,npq,neq->nde", jac, cov, jac)
        return jnp.einsum("ndp,npq,ndq->nd", jac, cov, jac)

    def precompute(self, params: Params) -> Any:
        """Anything reused across chunks of objects in :meth:`latent_system`."""
        return None

    def latent_system(self, params: Params, z: jax.Array, y: jax.Array, w: jax.Array,
                      cache: Any = None) -> tuple[jax.Array, jax.Array]:
        """Gauss–Newton normal equations for the latents, linearised at ``z``.

        Returns ``(H, g)`` of shapes (N, P, P) and (N, P) such that the updated latents
        solve ``(sum_k H_k + prior) z_new = sum_k g_k``:
        ``H = J^T W J`` and ``g = J^T W (y - f(z)) + H z``.
        """
        jac = self.jacobian(params, z)
        r = y - self.apply(params, z)
        h = jnp.einsum("ndp,nd,ndq->npq", jac, w, jac)
        g = jnp.einsum("ndp,nd->np", jac, w * r) + jnp.einsum("npq,nq->np", h, z)
        return h, g

    def normal_matvec(self, params: Params, z: jax.Array, w: jax.Array, v: jax.Array,
                      cache: Any = None) -> jax.Array:
        """(N, P): ``J^T W J v`` per object (used for iterative refinement)."""
        jac = self.jacobian(params, z)
        return jnp.einsum("ndp,nd,ndq,nq->np", jac, w, jac, v)

    def fit_params(self, params: Params, z: jax.Array, y: jax.Array, w: jax.Array,
                   prox: float = 1e-8, max_iter: int = 200, precision: str = "mixed",
                   ) -> Params:
        """Weighted least squares for the parameters at fixed latents.

        Minimises ``0.5 sum w (y - f(z))^2 + 0.5 prox_scale ||params - params_prev||^2``
        with optax L-BFGS (generic path for nonlinear transforms).
        """
        prev = params
        scale = prox * (jnp.sum(w) / max(w.shape[1], 1) + 1e-12)

        def loss(p: Params) -> jax.Array:
            r = y - self.apply(p, z)
            pen = sum(jnp.sum((p[k] - prev[k]) ** 2) for k in p)
            return 0.5 * jnp.sum(w * r**2) + 0.5 * scale * pen

        opt = optax.lbfgs()
        state = opt.init(params)
        value_and_grad = optax.value_and_grad_from_state(loss)

        @jax.jit
        def step(p: Params, s: Any) -> tuple[Params, Any]:
            v, g = value_and_grad(p, state=s)
            u, s = opt.update(g, s, p, value=v, grad=g, value_fn=loss)
            return optax.apply_updates(p, u), s

        for _ in range(max_iter):
            params, state = step(params, state)
        return params

    # --- serialisation -------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments (stored in model files)."""
        return {}


class LinearTransform(Transform):
    """``y = z W^T`` with ``W`` of shape (D, P): the paper's A (labels) and B (flux).

    The first latent dimension starts at 1 for every object (paper eq. 9), so the
    corresponding column of ``W`` acts as an offset.
    """

    name = "linear"
    is_linear = True

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def init(self, key: jax.Array, n_latents: int, dim: int) -> Params:
        """``W ~ U(0, 1)`` as in the paper's Table 1."""
        return {"W": jax.random.uniform(key, (dim, n_latents), dtype=jnp.float64)}

    def apply(self, params: Params, z: jax.Array) -> jax.Array:
        return z @ params["W"].T

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

    def precompute(self, params: Params) -> jax.Array:
        return packed_outer(params["W"])

    def latent_system(self, params: Params, z: jax.Array, y: jax.Array, w: jax.Array,
                      cache: Any = None) -> tuple[jax.Array, jax.Array]:
        if cache is not None and cache.dtype != w.dtype:  # low-precision Gram
            h = gram_per_row(w.astype(cache.dtype), params["W"], cache).astype(w.dtype)
        else:
            h = gram_per_row(w, params["W"], cache)
        g = (w * y) @ params["W"]
        return h, g

    def normal_matvec(self, params: Params, z: jax.Array, w: jax.Array, v: jax.Array,
                      cache: Any = None) -> jax.Array:
        """(N, P): ``J^T W J v`` per object without forming the (P, P) matrices."""
        return ((v @ params["W"].T) * w) @ params["W"]

    def fit_params(self, params: Params, z: jax.Array, y: jax.Array, w: jax.Array,
                   prox: float = 1e-8, max_iter: int = 0, chunk_size: int = 2048,
                   precision: str = "mixed") -> Params:
        """Exact weighted least squares per output dimension, as a min-norm update.

        Each row ``W_d`` solves ``(G_d + lam_d I) W_d = z^T (w_d y_d) + lam_d W_d_prev``
        with ``G_d = sum_n w_nd z_n z_n^T`` and ``lam_d = prox * mean(diag G_d)``:
        directions the data do not constrain keep their previous values instead of
        collapsing to zero (which would leave latent dimensions that start at zero
        dead forever).

        ``precision="mixed"`` forms the Gram matrices (the dominant N x D x P^2 cost)
        in float32 and recovers float64 accuracy with one step of iterative
        refinement whose residual is computed exactly in float64 (cost N x D x P);
        ``"float64"`` does everything in float64.
        """
        low = jnp.float32 if precision == "mixed" else z.dtype
        wl, zl = w.astype(low), z.astype(low)
        acc = None
        for a in range(0, z.shape[0], chunk_size):
            part = gram_packed_per_column(wl[a:a + chunk_size], zl[a:a + chunk_size])
            acc = part if acc is None else acc + part
        rhs = (w * y).T @ z
        chol, lam = _factor_rows(acc.astype(z.dtype), params["W"].shape[1], prox)
        w_prev = params["W"]
        b = rhs + lam[:, None] * w_prev
        sol = _cho_apply(chol, b)
        if precision == "mixed":
            resid = b - ((w * (z @ sol.T)).T @ z + lam[:, None] * sol)
            sol = sol + _cho_apply(chol, resid)
        return {"W": sol}


@partial(jax.jit, static_argnums=(1,))
def _factor_rows(packed_gram: jax.Array, p: int, prox: float) -> tuple[jax.Array, jax.Array]:
    g = unpack_symmetric(packed_gram, p)
    lam = prox * jnp.trace(g, axis1=1, axis2=2) / p + 1e-12
    return jnp.linalg.cholesky(g + lam[:, None, None] * jnp.eye(p)), lam


@jax.jit
def _cho_apply(chol: jax.Array, rhs: jax.Array) -> jax.Array:
    y = jax.scipy.linalg.solve_triangular(chol, rhs[..., None], lower=True)
    return jax.scipy.linalg.solve_triangular(jnp.swapaxes(chol, -1, -2), y, lower=False)[..., 0]


TRANSFORMS: dict[str, type[Transform]] = {"linear": LinearTransform}
"""Registry used when loading model files: transform name -> class."""
