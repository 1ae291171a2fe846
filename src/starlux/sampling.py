"""Posterior samples of each object's latents, and of the outputs they predict.

``predict(..., samples=K)`` (:mod:`starlux.infer`) draws K samples per object from its
latent posterior given the inputs, pushes every sample through each output's
transform, and adds the learned model-error term, so that the spread of an output's
samples matches its reported error. Two samplers:

* ``"gaussian"`` (default): the Gaussian with the solver's posterior precision at the
  solution. Exact for linear transforms (the posterior is Gaussian); for nonlinear
  ones it is the Laplace approximation, and each sample goes through the nonlinear
  transform itself (not its linearisation).
* ``"nuts"``: the No-U-Turn sampler of numpyro on the exact (unnormalised) posterior,
  ``-0.5 sum_k |y_k - f_k(z)|^2_W - 0.5 (z - mu)^T Lambda (z - mu)``, run jointly on
  a block of objects (the posterior factorises over objects) in the coordinates that
  whiten the Laplace approximation, ``z = z_hat + L^-T u``, where one step size suits
  every object.

The calibrated statistical scale ``c`` of a label output (``model.error_scale``)
multiplies each sample's latent deviation from the solution for that output, and a
Gaussian draw of the remaining error parts (label-map and model error, natural units)
is added: the samples' variance is the reported ``errors**2``.

Reproducible: object ``i`` of a prediction draws from ``fold_in(PRNGKey(seed), i)``
with the Gaussian sampler, so its samples do not depend on the block size or on
streaming; NUTS uses one key per block (``seed`` and the block's first row).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from .covariance import chi2
from .transforms import Transform

__all__ = ["SAMPLERS", "check_sampler", "object_keys", "gaussian_deviations",
           "nuts_deviations", "output_samples", "NUTS_WARMUP"]

SAMPLERS = ("gaussian", "nuts")
"""Latent samplers of :func:`starlux.infer.predict` (``sampler=``)."""

NUTS_WARMUP = 300
"""Warm-up (adaptation) steps of the NUTS sampler per block."""


def check_sampler(samples: int, sampler: str) -> tuple[int, str]:
    """Validate ``samples`` (>= 0) and ``sampler`` (:data:`SAMPLERS`)."""
    k = int(samples)
    if k != samples or k < 0:
        raise ValueError(f"samples must be an integer >= 0, got {samples!r}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    return k, sampler


def object_keys(seed: int, start: int, n: int) -> jax.Array:
    """(n, 2) one PRNG key per object, from the seed and the objects' row numbers."""
    base = jax.random.PRNGKey(seed)
    rows = jnp.arange(start, start + n, dtype=jnp.uint32)
    return jax.vmap(lambda r: jax.random.fold_in(base, r))(rows)


def _whiten_back(chol: jax.Array, u: jax.Array) -> jax.Array:
    """(n, K, P) ``L^-T u`` per object for ``u`` (n, K, P): deviations whose covariance
    is the inverse of the precision ``L L^T``."""
    lt = jnp.swapaxes(chol, -1, -2)
    solve = lambda l, x: jax.scipy.linalg.solve_triangular(l, x.T, lower=False).T  # noqa: E731
    return jax.vmap(solve)(lt, u)


@partial(jax.jit, static_argnames=("k",))
def gaussian_deviations(chol: jax.Array, keys: jax.Array, k: int) -> jax.Array:
    """(n, K, P) draws of ``z - z_hat`` from the Gaussian with precision ``L L^T``
    (``chol``: (n, P, P) lower factors, ``keys``: (n, 2) from :func:`object_keys`)."""
    p = chol.shape[-1]
    eps = jax.vmap(lambda key: jax.random.normal(key, (k, p), dtype=chol.dtype))(keys)
    return _whiten_back(chol, eps)


def nuts_deviations(transforms: Sequence[Transform], params: Sequence[Any],
                    data: Sequence[tuple[jax.Array, jax.Array]], z_hat: jax.Array,
                    chol: jax.Array, prior_precision: jax.Array, prior_mean: jax.Array,
                    k: int, key: jax.Array, warmup: int = NUTS_WARMUP) -> jax.Array:
    """(n, K, P) NUTS draws of ``z - z_hat`` from each object's exact latent posterior
    given its inputs ``data`` ((y, w) per input, model units), for a block of objects.
    """
    from numpyro.infer import MCMC, NUTS

    def z_of(u: jax.Array) -> jax.Array:
        return z_hat + _whiten_back(chol, u[:, None, :])[:, 0, :]

    def potential(u: jax.Array) -> jax.Array:
        z = z_of(u)
        total = 0.0
        for tr, pa, (y, w) in zip(transforms, params, data, strict=True):
            r = y.astype(z.dtype) - tr.apply(pa, z)
            total = total + chi2(w, r)  # sum w r^2, or r^T Lambda r (correlated errors)
        d = z - prior_mean
        return 0.5 * (total + jnp.sum((d @ prior_precision) * d))

    mcmc = MCMC(NUTS(potential_fn=potential), num_warmup=warmup, num_samples=k,
                progress_bar=False)
    mcmc.run(key, init_params=jnp.zeros_like(z_hat))
    u = mcmc.get_samples()  # (K, n, P)
    return jax.vmap(z_of, in_axes=0, out_axes=1)(u) - z_hat[:, None, :]


@partial(jax.jit, static_argnames=("transform",))
def output_samples(transform: Transform, params: Any, z_hat: jax.Array, deviations: jax.Array,
                   stat_scale: float, scale: jax.Array, center: jax.Array, extra_sd: jax.Array,
                   keys: jax.Array, index: int) -> jax.Array:
    """(n, K, D) samples of one output in natural units.

    ``f(z_hat + c * deviation) * scale + center`` plus a Gaussian draw with ``extra_sd``
    (n, D), the error parts the latents do not carry (map and model error); ``index``
    separates the outputs' noise streams.
    """
    n, k, p = deviations.shape
    z = (z_hat[:, None, :] + stat_scale * deviations).reshape(n * k, p)
    y = transform.apply(params, z).reshape(n, k, -1) * scale + center
    d = y.shape[-1]
    noise = jax.vmap(lambda key: jax.random.normal(jax.random.fold_in(key, index + 1), (k, d),
                                                   dtype=y.dtype))(keys)
    return y + extra_sd[:, None, :] * noise
