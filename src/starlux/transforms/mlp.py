"""A multi-layer perceptron transform with a linear skip part (paper §6.1's proposal).

``y = z W^T + b + h(z) V^T`` where ``h`` is the last hidden layer of an equinox
:class:`equinox.nn.MLP` (``depth`` hidden layers of ``width`` units) and ``V`` its output
layer, which starts at zero. Why this shape:

* a fitted linear map ``{W, b}`` is reproduced exactly by :meth:`MLPTransform.warm_start`
  (``V = 0``), so training can start from the linear Lux solution and the nonlinear
  refinement only adds to it (every parameter fit starts from the current fit and can
  only lower the chi^2 of its output);
* given the hidden features, the output is linear in ``[W, b, V]``: each parameter fit
  solves that part exactly per output dimension (the weighted least squares of the
  linear map with design rows ``[z, h(z), 1]``, streamed over blocks of objects), so
  only the small hidden layers (``P width + (depth - 1) width^2`` numbers, whatever the
  number of pixels) are left to the iterative optimiser.

Parameters are a flat dict of named arrays (what model files store): ``W`` (D, P),
``b`` (D,), ``l{i}_weight`` / ``l{i}_bias`` for hidden layer i (``l0_weight`` is
(width, P)), and ``l{depth}_weight`` = V (D, width). They are drawn from the seed by
:meth:`MLPTransform.init`: ``W`` as the linear map's U(0, 1), the hidden layers by
equinox's default initialisation from a JAX key taken from the same generator.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..covariance import total_weight
from ..linalg import row_chunks
from .base import Params, Transform, lbfgs_fit, object_blocks
from .linear import LinearTransform

__all__ = ["MLPTransform", "ACTIVATIONS"]

ACTIVATIONS: dict[str, Any] = {
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "relu": jax.nn.relu,
}
"""Activation names (stored in model files) -> functions."""

_JACOBIAN_ENTRIES = 2**22
"""Per-object Jacobians (D, P) are formed for sub-blocks of objects holding at most this
many entries (32 MB in float64; 39 objects of 7,214 pixels at P = 14, a whole block of
labels): memory bounded whatever the caller's block, and few sequential steps when D is
small."""


def _rows(dim: int, n_latents: int) -> int:
    """Objects per vectorised sub-block of per-object Jacobians (D, P)."""
    return max(1, _JACOBIAN_ENTRIES // max(dim * n_latents, 1))

_SPEC = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*(?::\s*([a-z]+)\s*)?")


class MLPTransform(Transform):
    """``y = z W^T + b + MLP(z)``: a linear map plus a multi-layer perceptron.

    Args:
        width: units per hidden layer.
        depth: number of hidden layers (>= 1).
        activation: one of :data:`ACTIVATIONS`.
        steps: L-BFGS iterations over all parameters per parameter fit (between the
            exact solves of the output layer); 0 keeps the hidden layers at their
            initial values (a random-feature model).
    """

    name: ClassVar[str] = "mlp"
    exact_latents: ClassVar[bool] = False

    def __init__(self, width: int = 32, depth: int = 2, activation: str = "tanh",
                 steps: int = 100):
        if int(width) < 1 or int(depth) < 1:
            raise ValueError(f"mlp: width and depth must be >= 1, got {width}x{depth}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"mlp: unknown activation {activation!r}; use one of "
                             f"{sorted(ACTIVATIONS)}")
        if int(steps) < 0:
            raise ValueError(f"mlp: steps must be >= 0, got {steps}")
        self.width, self.depth = int(width), int(depth)
        self.activation, self.steps = str(activation), int(steps)

    @classmethod
    def from_string(cls, options: str) -> MLPTransform:
        """``"128x2"`` (width x depth), optionally with an activation: ``"64x1:gelu"``."""
        m = _SPEC.fullmatch(options)
        if not m:
            raise ValueError(f"mlp options are WIDTHxDEPTH[:ACTIVATION] (e.g. 'mlp:64x2', "
                             f"'mlp:32x1:gelu'), got {options!r}")
        return cls(width=int(m.group(1)), depth=int(m.group(2)),
                   activation=m.group(3) or "tanh")

    def config(self) -> dict[str, Any]:
        return {"width": self.width, "depth": self.depth, "activation": self.activation,
                "steps": self.steps}

    # --- parameters ----------------------------------------------------------------
    def init(self, rng: np.random.Generator, n_latents: int, dim: int) -> Params:
        """``W ~ U(0, 1)`` (as the linear map), ``b = 0``, hidden layers from
        :class:`equinox.nn.MLP` with a key drawn from ``rng``, output layer ``V = 0``."""
        w = jnp.asarray(rng.random((dim, n_latents)))
        key = jax.random.PRNGKey(int(rng.integers(2**31)))
        mlp = eqx.nn.MLP(n_latents, dim, self.width, self.depth,
                         activation=ACTIVATIONS[self.activation], use_final_bias=False,
                         dtype=jnp.float64 if jax.config.jax_enable_x64 else jnp.float32,
                         key=key)
        params: Params = {"W": w, "b": jnp.zeros(dim)}
        for i, layer in enumerate(mlp.layers[:-1]):
            params[f"l{i}_weight"] = layer.weight
            params[f"l{i}_bias"] = layer.bias
        params[f"l{self.depth}_weight"] = jnp.zeros_like(mlp.layers[-1].weight)
        return params

    def module(self, params: Params) -> eqx.nn.MLP:
        """The perceptron part as an :class:`equinox.nn.MLP` holding ``params`` (its
        output for one latent vector is ``apply(params, z) - z W^T - b``)."""
        p, d = params["W"].shape[1], params["W"].shape[0]
        mlp = eqx.nn.MLP(p, d, self.width, self.depth,
                         activation=ACTIVATIONS[self.activation], use_final_bias=False,
                         key=jax.random.PRNGKey(0))
        for i in range(self.depth + 1):
            mlp = eqx.tree_at(lambda m, i=i: m.layers[i].weight, mlp,
                              jnp.asarray(params[f"l{i}_weight"]))
            if i < self.depth:
                mlp = eqx.tree_at(lambda m, i=i: m.layers[i].bias, mlp,
                                  jnp.asarray(params[f"l{i}_bias"]))
        return mlp

    def warm_start(self, params: Params, linear: Params) -> Params:
        """``params`` with the linear part set to the fitted linear map and the output
        layer zero: the same predictions as ``linear``, exactly."""
        out = dict(params)
        out["W"] = jnp.asarray(linear["W"])
        out["b"] = jnp.asarray(linear.get("b", jnp.zeros(out["W"].shape[0])))
        out[f"l{self.depth}_weight"] = jnp.zeros_like(params[f"l{self.depth}_weight"])
        return out

    # --- evaluation ----------------------------------------------------------------
    def hidden(self, params: Params, z: jax.Array) -> jax.Array:
        """(N, width) activations of the last hidden layer."""
        act = ACTIVATIONS[self.activation]
        a = z
        for i in range(self.depth):
            a = act(a @ params[f"l{i}_weight"].T + params[f"l{i}_bias"])
        return a

    def hidden_jacobian(self, params: Params, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The last hidden layer (N, width) and its Jacobian d h / d z (N, width, P),
        by forward-mode products through the (small) hidden layers."""
        act = ACTIVATIONS[self.activation]
        a = z
        n, p = z.shape
        jac = jnp.broadcast_to(jnp.eye(p, dtype=z.dtype), (n, p, p))
        for i in range(self.depth):
            pre = a @ params[f"l{i}_weight"].T + params[f"l{i}_bias"]
            a, slope = jax.jvp(act, (pre,), (jnp.ones_like(pre),))
            jac = slope[:, :, None] * jnp.einsum("kj,njp->nkp", params[f"l{i}_weight"], jac)
        return a, jac

    def apply(self, params: Params, z: jax.Array) -> jax.Array:
        return (z @ params["W"].T + params["b"]
                + self.hidden(params, z) @ params[f"l{self.depth}_weight"].T)

    def jacobian(self, params: Params, z: jax.Array) -> jax.Array:
        """(N, D, P) ``W + V dh/dz``."""
        _, jh = self.hidden_jacobian(params, z)
        return params["W"][None] + jnp.einsum("dk,nkp->ndp", params[f"l{self.depth}_weight"],
                                              jh)

    # --- per-object sums over the output dimensions, in sub-blocks of rows ------------
    def _row_jacobian(self, params: Params, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One object's output (D,) and Jacobian (D, P)."""
        h, jh = self.hidden_jacobian(params, z[None])
        v = params[f"l{self.depth}_weight"]
        f = z @ params["W"].T + params["b"] + h[0] @ v.T
        return f, params["W"] + v @ jh[0]

    def latent_system(self, params: Params, z: jax.Array, y: jax.Array, w: jax.Array,
                      cache: Any = None) -> tuple[jax.Array, jax.Array]:
        """Gauss–Newton ``H = J^T W J``, ``g = J^T W r + H z`` per object, forming each
        object's (D, P) Jacobian in sub-blocks (:data:`_JACOBIAN_ENTRIES`; memory
        bounded by one sub-block, not the caller's block)."""
        def one(args):
            zn, yn, wn = args
            f, jac = self._row_jacobian(params, zn)
            wj = wn[:, None] * jac
            h = jac.T @ wj
            return h, wj.T @ (yn - f) + h @ zn

        return jax.lax.map(one, (z, y.astype(z.dtype), w.astype(z.dtype)),
                           batch_size=_rows(*params["W"].shape))

    def propagate(self, params: Params, z: jax.Array, cov: jax.Array,
                  full: bool = False) -> jax.Array:
        if full:
            return super().propagate(params, z, cov, full=True)

        def one(args):
            zn, cn = args
            jac = self._row_jacobian(params, zn)[1]
            return jnp.einsum("dp,pq,dq->d", jac, cn, jac)

        return jax.lax.map(one, (z, cov), batch_size=_rows(*params["W"].shape))

    # --- the map's own uncertainty -----------------------------------------------------
    def param_covariance(self, params: Params, z: jax.Array, w: jax.Array,
                         prox: float = 1e-8) -> np.ndarray:
        """(D, F, F) covariance of each row of the output layer ``[W, V, b]`` (F = P +
        width + 1) from its weighted least-squares fit at the fitted hidden layers: the
        map part of a label's error, as for a linear map, conditional on the hidden
        layers (their own uncertainty is left to the learned model error). Meant for
        outputs with few dimensions such as labels."""
        return LinearTransform().param_covariance(params, _features(self, params, z, 1024),
                                                  w, prox)

    def param_variance(self, params: Params, cov: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(N, D) ``x_n^T C_d x_n`` with ``x_n = [z_n, h(z_n), 1]``."""
        feats = np.asarray(_features(self, params, jnp.asarray(z), 1024))
        return LinearTransform().param_variance(params, cov, feats)

    # --- the parameter step ------------------------------------------------------------
    def fit_params(self, params: Params, z: jax.Array, y: jax.Array, w: jax.Array,
                   prox: float = 1e-8, precision: str = "auto", chunk_size: int = 1024,
                   max_iter: int | None = None) -> tuple[Params, float]:
        """Weighted least squares for the parameters at fixed latents.

        1. the output layer ``[W, V, b]`` is solved exactly per output dimension at the
           current hidden features (the linear map's solve with design ``[z, h(z)]``,
           with its proximal pull and float32 Gram products where ``precision`` says);
        2. ``max_iter`` (default ``steps``) optax L-BFGS iterations over all parameters,
           the loss streamed over blocks of ``chunk_size`` objects (one compilation
           per data shape; memory bounded by a block's activations);
        3. the output layer is solved exactly again at the new hidden features, which
           gives the chi^2 returned.
        """
        steps = self.steps if max_iter is None else int(max_iter)
        params, chi2 = self._solve_output(params, z, y, w, prox, precision, chunk_size)
        if steps > 0:
            blocks = object_blocks(chunk_size, z, y, w)
            scale = prox * (float(total_weight(w)) / max(w.shape[1], 1) + 1e-12)
            params, _ = lbfgs_fit(self, params, blocks, jnp.asarray(scale), steps)
            params, chi2 = self._solve_output(params, z, y, w, prox, precision, chunk_size)
        return params, chi2

    def _solve_output(self, params: Params, z: jax.Array, y: jax.Array, w: jax.Array,
                      prox: float, precision: str, chunk_size: int) -> tuple[Params, float]:
        """Exact proximal weighted least squares for ``[W, V, b]`` at fixed hidden layers."""
        p = z.shape[1]
        v_name = f"l{self.depth}_weight"
        feats = _features(self, params, z, chunk_size)
        start = {"W": jnp.concatenate([params["W"], params[v_name]], axis=1), "b": params["b"]}
        sol, chi2 = LinearTransform().fit_params(start, feats, y, w, prox=prox,
                                                 precision=precision, chunk_size=chunk_size)
        out = dict(params)
        out["W"], out[v_name], out["b"] = sol["W"][:, :p], sol["W"][:, p:], sol["b"]
        return out, chi2


def _features(tr: MLPTransform, params: Params, z: jax.Array, chunk_size: int) -> jax.Array:
    """(N, P + width) design ``[z, h(z)]``, by blocks of objects."""
    n = z.shape[0]
    size = max(1, min(chunk_size, n))
    hidden = {k: v for k, v in params.items() if k.startswith("l") and k != f"l{tr.depth}_weight"}
    parts = [np.asarray(_features_chunk(tr, hidden, zc)) for (zc,) in row_chunks(size, z)]
    return jnp.asarray(np.concatenate(parts)[:n])


@partial(jax.jit, static_argnames=("tr",))
def _features_chunk(tr: MLPTransform, hidden: Params, z: jax.Array) -> jax.Array:
    z = jnp.asarray(z, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    return jnp.concatenate([z, tr.hidden(hidden, z)], axis=1)
