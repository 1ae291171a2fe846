"""The one interface between the model and a transform ``y = f(params, z)``.

Fitting (:mod:`starlux.fit`), the latent solver (:mod:`starlux.latents`) and inference
(:mod:`starlux.infer`) use a transform only through the methods below; none of them
reads a transform's parameters or asks its type. A new transform subclasses
:class:`Transform` and defines :meth:`~Transform.init` and :meth:`~Transform.apply`;
every other method has a generic autodiff implementation (Gauss–Newton latent steps,
linearised error propagation, an optax L-BFGS parameter fit streamed over blocks of
objects). :class:`~starlux.transforms.linear.LinearTransform` overrides them with exact
solves; :class:`~starlux.transforms.mlp.MLPTransform` overrides a few for speed.
"""

from __future__ import annotations

import abc
from functools import partial
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..covariance import chi2, total_weight
from ..linalg import cho_inverse

__all__ = ["Transform", "Params", "object_blocks", "lbfgs_fit"]

Params = dict[str, Any]
"""A transform's parameters: a pytree of arrays (``{"W": (D, P), "b": (D,)}`` for a
linear map)."""


class Transform(abc.ABC):
    """A differentiable map from latents z (N, P) to one output (N, D), row by row.

    Capabilities a caller may ask of any transform:

    * ``exact_latents``: the output is linear in z, so one Gauss–Newton step solves the
      latents exactly (and an iterative-refinement step restores float64 accuracy
      after float32 Gram products);
    * :meth:`param_covariance`: the uncertainty of the fitted parameters, or ``None``
      when the transform does not provide one (its predictions then carry no map
      error term).

    Transforms are immutable and hashable (they are static arguments of jitted code):
    equal configuration, equal transform.
    """

    name: ClassVar[str] = "transform"
    exact_latents: ClassVar[bool] = False

    # --- what every transform defines -------------------------------------------
    @abc.abstractmethod
    def init(self, rng: np.random.Generator, n_latents: int, dim: int) -> Params:
        """Initial parameters drawn from ``rng`` (same seed, same parameters)."""

    @abc.abstractmethod
    def apply(self, params: Params, z: jax.Array) -> jax.Array:
        """(N, P) latents -> (N, D) predicted output (model units)."""

    # --- configuration -----------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments (stored in model files)."""
        return {}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.config() == self.config()

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.config().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    def warm_start(self, params: Params, linear: Params) -> Params:
        """Parameters that reproduce (as closely as the transform can) a fitted linear
        map ``linear`` = ``{"W", "b"}``: how training moves from the linear warm start
        to this transform. The default keeps ``params``."""
        return params

    # --- derivatives and error propagation ---------------------------------------
    def jacobian(self, params: Params, z: jax.Array) -> jax.Array:
        """(N, D, P): d output / d z for each object."""
        one = lambda zz: self.apply(params, zz[None])[0]  # noqa: E731
        return jax.vmap(jax.jacfwd(one))(z)

    def propagate(self, params: Params, z: jax.Array, cov: jax.Array,
                  full: bool = False) -> jax.Array:
        """Linearised output covariance for latent covariances ``cov`` (N, P, P): the
        (N, D) variances, or the (N, D, D) covariances if ``full``."""
        jac = self.jacobian(params, z)
        if full:
            return jnp.einsum("ndp,npq,neq->nde", jac, cov, jac)
        return jnp.einsum("ndp,npq,ndq->nd", jac, cov, jac)

    def propagate_posterior(self, params: Params, z: jax.Array, chol: jax.Array,
                            full: bool = False) -> jax.Array:
        """As :meth:`propagate`, for a posterior given by the lower Cholesky factor
        ``chol`` (N, P, P) of its precision (what the latent solver returns)."""
        return self.propagate(params, z, cho_inverse(chol), full=full)

    def pullback(self, params: Params, z: jax.Array, v: jax.Array) -> jax.Array:
        """(N, P): ``J^T v`` per object for output-space vectors ``v`` (N, D)."""
        _, vjp = jax.vjp(lambda zz: self.apply(params, zz), z)
        return vjp(v)[0]

    # --- the latent step ---------------------------------------------------------
    def precompute(self, params: Params, dtype: Any = None) -> Any:
        """Anything reused across blocks of objects by :meth:`latent_system`
        (``dtype``: the precision the latent Gram products may be formed in; only
        transforms with ``exact_latents`` use it)."""
        return None

    def latent_system(self, params: Params, z: jax.Array, y: jax.Array, w: jax.Array,
                      cache: Any = None) -> tuple[jax.Array, jax.Array]:
        """Gauss–Newton normal equations for the latents, linearised at ``z``.

        Returns ``(H, g)`` of shapes (N, P, P) and (N, P) such that the updated latents
        solve ``(sum_k H_k + prior) z_new = sum_k g_k + prior shift``:
        ``H = J^T W J`` and ``g = J^T W (y - f(z)) + H z``.
        """
        jac = self.jacobian(params, z)
        r = y - self.apply(params, z)
        h = jnp.einsum("ndp,nd,ndq->npq", jac, w, jac)
        g = jnp.einsum("ndp,nd->np", jac, w * r) + jnp.einsum("npq,nq->np", h, z)
        return h, g

    def latent_system_full(self, params: Params, z: jax.Array, y: jax.Array,
                           prec: jax.Array, cache: Any = None) -> tuple[jax.Array, jax.Array]:
        """:meth:`latent_system` under a full per-object precision ``prec`` (N, D, D)
        (correlated errors, :mod:`starlux.covariance`): ``H = J^T Lambda J`` and
        ``g = J^T Lambda (y - f(z)) + H z``."""
        jac = self.jacobian(params, z)
        r = y - self.apply(params, z)
        lj = jnp.einsum("nde,nep->ndp", prec, jac)
        h = jnp.einsum("ndp,ndq->npq", jac, lj)
        h = 0.5 * (h + jnp.swapaxes(h, 1, 2))
        g = jnp.einsum("ndp,nd->np", lj, r) + jnp.einsum("npq,nq->np", h, z)
        return h, g

    # --- the parameter step ------------------------------------------------------
    def fit_params(self, params: Params, z: jax.Array, y: jax.Array, w: jax.Array,
                   prox: float = 1e-8, precision: str = "auto", chunk_size: int = 1024,
                   max_iter: int = 100) -> tuple[Params, float]:
        """Weighted least squares for the parameters at fixed latents.

        Minimises ``0.5 sum w (y - f(z))^2 + 0.5 lam ||params - params_prev||^2`` (a
        proximal pull of relative weight ``prox``, as for the exact linear solves) with
        ``max_iter`` optax L-BFGS steps. The loss and its gradient are sums over blocks
        of ``chunk_size`` objects (a ``lax.scan``), so memory is bounded by one block's
        activations whatever N; the step is compiled once per data shape.

        Returns the new parameters and this output's chi^2, ``sum w (y - f(z))^2``.
        """
        blocks = object_blocks(chunk_size, z, y, w)
        scale = prox * (float(total_weight(w)) / max(w.shape[1], 1) + 1e-12)
        params, chi2 = lbfgs_fit(self, params, blocks, jnp.asarray(scale), max_iter)
        return params, float(chi2)

    def param_covariance(self, params: Params, z: jax.Array, w: jax.Array,
                         prox: float = 1e-8) -> np.ndarray | None:
        """The covariance of the fitted parameters (a capability: ``None`` here)."""
        return None

    def param_variance(self, params: Params, cov: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(N, D) variance of the predicted output from the parameters' own uncertainty
        ``cov`` (from :meth:`param_covariance`), at latents ``z`` (N, P)."""
        raise NotImplementedError(f"{self.name} transform has no parameter covariance")


def object_blocks(chunk_size: int, *arrays: jax.Array) -> tuple[jax.Array, ...]:
    """Arrays (N, ...) -> (B, chunk, ...) with zero-padded rows (zero weight)."""
    n = arrays[0].shape[0]
    size = max(1, min(chunk_size, n))
    nb = -(-n // size)
    out = []
    for a in arrays:
        a = jnp.asarray(a)
        pad = nb * size - n
        if pad:
            a = jnp.concatenate([a, jnp.zeros((pad,) + a.shape[1:], a.dtype)])
        out.append(a.reshape((nb, size) + a.shape[1:]))
    return tuple(out)


def _chi2(transform: Transform, params: Params, blocks: tuple[jax.Array, ...]) -> jax.Array:
    def body(total, block):
        z, y, w = block
        r = y.astype(jnp.float64) - transform.apply(params, z)
        return total + chi2(w.astype(jnp.float64), r), None

    return jax.lax.scan(body, jnp.zeros(()), blocks)[0]


@partial(jax.jit, static_argnames=("transform", "max_iter"))
def lbfgs_fit(transform: Transform, params: Params, blocks: tuple[jax.Array, ...],
              scale: jax.Array, max_iter: int) -> tuple[Params, jax.Array]:
    """``max_iter`` optax L-BFGS steps on ``0.5 chi^2 + 0.5 scale |params - params0|^2``
    with the data in :func:`object_blocks` (the loss is a scan over blocks: memory of
    one block's activations); returns the parameters and their chi^2."""
    prev = params

    def loss(p: Params) -> jax.Array:
        pen = sum(jnp.sum((a - b) ** 2) for a, b in zip(jax.tree_util.tree_leaves(p),
                                                         jax.tree_util.tree_leaves(prev),
                                                         strict=True))
        return 0.5 * _chi2(transform, p, blocks) + 0.5 * scale * pen

    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    def step(carry, _):
        p, s = carry
        v, g = value_and_grad(p, state=s)
        u, s = opt.update(g, s, p, value=v, grad=g, value_fn=loss)
        return (optax.apply_updates(p, u), s), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=max_iter)
    return params, _chi2(transform, params, blocks)
