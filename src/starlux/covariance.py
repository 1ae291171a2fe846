"""Correlated errors: the full Gaussian likelihood of an output that carries a
per-object error covariance, with exact solves.

An output's errors are independent by default: each entry has a weight ``w = 1 /
(sigma^2 + s^2)`` (an (n, D) array, :func:`starlux.units.effective_weights`). An output
with a covariance (:attr:`starlux.data.Output.covariance`, e.g. the 110 Gaia XP
coefficients of a star) has instead, per object, the *precision*

    Lambda_n = (C_n + S)^-1   on its observed entries,  0 on the others,

an (n, D, D) array, with S = diag(s^2) the fitted per-dimension scatter. Missing
entries are marginalised out exactly: the inverse is taken of the observed block only
(the covariance of the observed entries of a Gaussian is that block). The rest of the
model sees one kind of weight or the other, told apart by their number of dimensions
(a trace-time branch: the diagonal path runs exactly the operations it ran before):

* the latent step: ``H_n = J^T Lambda_n J``, ``g_n = J^T Lambda_n r_n + H_n z_n``
  (:meth:`~starlux.transforms.Transform.latent_system_full`; for a linear map
  ``W^T Lambda_n W``, exact in one step), dispatched by :func:`latent_system`;
* the maps: for a map linear in its parameters, ``y_n = Theta x_n`` (Theta = [W, b],
  x_n = [z_n, 1]), the normal equations couple the output dimensions, and
  ``sum_n Lambda_n (x) x_n x_n^T`` over vec(Theta) is solved exactly
  (:func:`solve_map`: D (P + 1) unknowns, a few thousand for XP coefficients);
* the scatter: maximum likelihood of s with the full covariance (:func:`fit_scatter_full`);
* the robust fit: an entry is judged by its residual given the object's other entries
  (:func:`standardised`), and rejecting it marginalises it out of the precision
  (:func:`drop`, a Schur complement: no covariance needed);
* chi^2 = ``r^T Lambda r`` (:func:`weigh`), and the posterior precision of the latents,
  hence the Fisher errors, follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from .linalg import cho_inverse, pseudo_inverse_spd, row_chunks, unpack_index
from .units import Prepared, effective_weights, model_units

__all__ = ["is_full", "observed", "weigh", "chi2_rows", "chi2", "standardised", "excess", "drop",
           "total_weight", "diagonal_weights", "model_covariance", "precision",
           "precision_block", "solve_data", "input_precision", "latent_system", "solve_map",
           "map_row_covariances", "fit_scatter_full"]

_BLOCK = 256
"""Objects per block of the (block, D, D) factorisations (bounded temporaries)."""


def _xp(a: Any) -> Any:
    return np if isinstance(a, np.ndarray) else jnp


# --- one weight or the other: (n, D) diagonal, or (n, D, D) precision ------------------


def is_full(w: Any) -> bool:
    """Whether ``w`` is a full per-object precision (n, D, D) rather than (n, D) weights."""
    return np.ndim(w) == 3


def observed(w: Any) -> Any:
    """(n, D) True where an entry carries weight."""
    return w > 0 if not is_full(w) else _xp(w).diagonal(w, axis1=1, axis2=2) > 0


def weigh(w: Any, r: Any) -> Any:
    """(n, D) ``w * r``, or ``Lambda_n r_n``: the weighted residuals (chi^2 = r . weigh)."""
    if not is_full(w):
        return w * r
    return _xp(w).einsum("nde,ne->nd", w, r.astype(w.dtype))


def chi2_rows(w: Any, r: Any) -> Any:
    """(n,) chi^2 per object: ``sum w r^2`` or ``r^T Lambda r``."""
    if not is_full(w):
        return _xp(w).sum(w * r * r, axis=1)
    return _xp(w).sum(r * weigh(w, r), axis=1)


def chi2(w: Any, r: Any) -> Any:
    """The total chi^2 of a block: ``sum w r^2`` (the diagonal path's own expression),
    or ``sum_n r_n^T Lambda_n r_n``."""
    if not is_full(w):
        return _xp(w).sum(w * r * r)
    return _xp(w).sum(r * weigh(w, r))


def standardised(w: Any, r: Any) -> Any:
    """(n, D) residuals in units of their noise: ``r sqrt(w)``, or with a full precision
    the residual of each entry given the object's other entries, ``(Lambda r)_d /
    sqrt(Lambda_dd)`` (its conditional mean and variance): an outlying entry stands
    out by itself instead of spreading over its correlated neighbours (0 where
    unobserved)."""
    xp = _xp(w)
    if not is_full(w):
        return r * xp.sqrt(w)
    diag = xp.diagonal(w, axis1=1, axis2=2)
    return xp.where(diag > 0, weigh(w, r) / xp.sqrt(xp.where(diag > 0, diag, 1.0)), 0.0)


def excess(w: Any, r: Any) -> Any:
    """(n, D) squared :func:`standardised` residuals (``w r^2`` on the diagonal path)."""
    if not is_full(w):
        return w * r**2
    return standardised(w, r) ** 2


def drop(w: Any, bad: Any) -> Any:
    """Weights with the entries ``bad`` (n, D) removed: set to 0, or with a full
    precision marginalised out, ``Lambda_rr - Lambda_rb Lambda_bb^-1 Lambda_br`` (the
    precision of the remaining entries' marginal; exact, without the covariance)."""
    xp = _xp(w)
    if not is_full(w):
        return xp.where(bad, 0.0, w)
    if xp is np:
        return np.concatenate([np.asarray(_drop_block(jnp.asarray(w[a:a + _BLOCK]),
                                                      jnp.asarray(bad[a:a + _BLOCK])))
                               for a in range(0, w.shape[0], _BLOCK)]) if len(w) else w
    return _drop_block(w, bad)


@jax.jit
def _drop_block(prec: jax.Array, bad: jax.Array) -> jax.Array:
    bad = bad & observed(prec)
    keep = observed(prec) & ~bad
    pair_b = bad[:, :, None] & bad[:, None, :]
    eye = jnp.eye(prec.shape[-1], dtype=prec.dtype)
    # Lambda_bb on the dropped block, the identity elsewhere: invertible, and its inverse
    # restricted to the dropped block is Lambda_bb^-1
    m = jnp.where(pair_b, prec, 0.0) + jnp.where(bad, 0.0, 1.0)[:, :, None] * eye
    inv = jnp.where(pair_b, cho_inverse(jax.lax.linalg.cholesky(m)), 0.0)
    out = prec - prec @ inv @ prec
    out = 0.5 * (out + jnp.swapaxes(out, 1, 2))
    return jnp.where(keep[:, :, None] & keep[:, None, :], out, 0.0)


def total_weight(w: Any) -> Any:
    """The sum of the diagonal weights (a scale for proximal terms)."""
    if not is_full(w):
        return jnp.sum(w)
    return jnp.sum(jnp.diagonal(w, axis1=1, axis2=2))


def diagonal_weights(w: Any, ivar: Any) -> Any:
    """``w`` itself, or for a full precision the inverse variances ``ivar`` (n, D) on the
    entries it still observes (what training keeps after clipping)."""
    if not is_full(w):
        return w
    return jnp.where(observed(w), ivar, 0.0).astype(ivar.dtype)


# --- from data to precisions -----------------------------------------------------------


def model_covariance(cov: Any, ivar: Any, scale: Any) -> Any:
    """(n, D, D) covariance in model units from one in natural units (``cov``, rows and
    columns of missing entries 0), the inverse variances ``ivar`` (n, D) of
    :func:`starlux.units.model_units` and the output's ``scale`` (D,).

    The diagonal becomes exactly ``1 / ivar`` (the errors after the screening's floor)
    and each row and column is rescaled with it, so the correlations are kept; entries
    with ``ivar = 0`` (missing, screened) get zero rows and columns. With a diagonal
    ``cov`` the full likelihood is then the diagonal one.
    """
    xp = _xp(cov)
    obs = ivar > 0
    var = xp.where(obs, 1.0 / xp.where(obs, ivar, 1.0), 0.0).astype(np.float64)
    scale = xp.asarray(scale, dtype=np.float64)
    c = cov / (scale[:, None] * scale[None, :])
    d = xp.diagonal(c, axis1=1, axis2=2)
    f = xp.where(obs & (d > 0), xp.sqrt(var / xp.where(d > 0, d, 1.0)), 0.0)
    c = f[:, :, None] * c * f[:, None, :]
    eye = xp.eye(c.shape[-1], dtype=bool)
    return xp.where(eye, var[:, :, None] * eye, c)


@jax.jit
def precision_block(cov: jax.Array, ivar: jax.Array, ln_scatter: jax.Array | None
                    ) -> jax.Array:
    """(n, D, D) ``(C_n + S)^-1`` on the entries with ``ivar > 0``, 0 elsewhere, for a
    block of objects (``cov`` in model units; ``ln_scatter`` (D,) or None for S = 0)."""
    obs = ivar > 0
    pair = obs[:, :, None] & obs[:, None, :]
    s2 = 0.0 if ln_scatter is None else jnp.exp(2.0 * jnp.asarray(ln_scatter, cov.dtype))
    eye = jnp.eye(cov.shape[-1], dtype=cov.dtype)
    # the observed block plus S, the identity on unobserved entries: its inverse is the
    # observed block's inverse beside the identity, which is then zeroed
    k = jnp.where(pair, cov, 0.0) + jnp.where(obs, s2, 1.0)[:, :, None] * eye
    inv = cho_inverse(jax.lax.linalg.cholesky(k, symmetrize_input=False))
    inv = 0.5 * (inv + jnp.swapaxes(inv, 1, 2))
    return jnp.where(pair, inv, 0.0)


def precision(cov: Any, ivar: Any, ln_scatter: Any = None) -> jax.Array:
    """:func:`precision_block` over all objects, by blocks (bounded temporaries)."""
    n = cov.shape[0]
    if n == 0:
        return jnp.zeros(cov.shape)
    ln_s = None if ln_scatter is None else jnp.asarray(ln_scatter, jnp.float64)
    size = min(_BLOCK, n)
    out = np.empty(cov.shape, np.float64)
    for a, (c, w) in zip(range(0, n, size), row_chunks(size, cov, ivar, pad="edge"),
                         strict=True):
        m = min(n, a + size) - a
        out[a:a + m] = np.asarray(precision_block(jnp.asarray(c, jnp.float64),
                                                  jnp.asarray(w), ln_s))[:m]
    return jnp.asarray(out)


def solve_data(prepared: Prepared, ln_scatter: Any = None) -> tuple[jax.Array, jax.Array]:
    """``(y, w)`` of a prepared output for the solvers: ``w`` the effective weights, or,
    for an output with a covariance, its per-object precision (the one rule)."""
    if prepared.cov is None:
        w = prepared.ivar if ln_scatter is None else effective_weights(prepared.ivar, ln_scatter)
        return prepared.y, w
    return prepared.y, precision(prepared.cov, prepared.ivar, ln_scatter)


def input_precision(cov: jax.Array, raw: Sequence[Any], consts: Sequence[Any],
                    spectrum: Sequence[bool]) -> jax.Array:
    """Inside jitted inference: the (n, D, D) precision of one input block from its raw
    ``(values, errors, missing)``, natural-unit covariance ``cov`` and the model's
    ``(centre, scale, ln scatter, limits)`` (the screening and floors of
    :func:`starlux.units.model_units`)."""
    center, scale, ln_s, limits = consts
    _, ivar, _ = model_units(*raw, center, scale, None, limits, *spectrum)
    return precision_block(model_covariance(cov.astype(jnp.float64), ivar, scale), ivar, ln_s)


# --- the latent step ---------------------------------------------------------------------


def latent_system(transform: Any, params: Any, z: jax.Array, y: jax.Array, w: jax.Array,
                  cache: Any = None) -> tuple[jax.Array, jax.Array]:
    """The transform's latent normal equations ``(H, g)`` under diagonal weights or a full
    precision (:meth:`~starlux.transforms.Transform.latent_system_full`)."""
    if is_full(w):
        return transform.latent_system_full(params, z, y, w, cache)
    return transform.latent_system(params, z, y, w, cache)


# --- the map step: the Kronecker normal equations --------------------------------------


@jax.jit
def _kron_chunk(gram: jax.Array, rhs: jax.Array, x: jax.Array, y: jax.Array,
                prec: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Add one chunk's packed ``sum_n Lambda_n[d, e] x_n[p] x_n[q]`` (D(D+1)/2,
    K(K+1)/2) and ``sum_n (Lambda_n y_n) x_n^T`` (D, K)."""
    d, k = prec.shape[-1], x.shape[-1]
    id_, jd = np.triu_indices(d)
    ik, jk = np.triu_indices(k)
    lp = prec[:, id_, jd]
    xx = x[:, ik] * x[:, jk]
    hi = jax.lax.Precision.HIGHEST
    gram = gram + jnp.matmul(lp.T, xx, precision=hi)
    rhs = rhs + jnp.matmul(jnp.einsum("nde,ne->nd", prec, y, precision=hi).T, x, precision=hi)
    return gram, rhs


@jax.jit
def _kron_chi2(chi: jax.Array, x: jax.Array, y: jax.Array, prec: jax.Array,
               sol: jax.Array) -> jax.Array:
    r = y - x @ sol.T
    return chi + chi2(prec, r)


def _kron_matrix(packed: np.ndarray, d: int, k: int) -> np.ndarray:
    """(D K, D K) ``A[(d, p), (e, q)]`` from the doubly packed Gram."""
    a = packed[unpack_index(d)]  # (D, D, K(K+1)/2)
    a = a[:, :, unpack_index(k)]  # (D, D, K, K)
    return np.ascontiguousarray(a.transpose(0, 2, 1, 3)).reshape(d * k, d * k)


def solve_map(x: jax.Array, y: jax.Array, prec: jax.Array, prev: jax.Array,
              prox: float = 1e-8, chunk_size: int = 512) -> tuple[np.ndarray, float]:
    """Exact weighted least squares of a map linear in its parameters, ``y_n = Theta
    x_n``, under per-object precisions: minimises ``sum_n r_n^T Lambda_n r_n + sum_d
    lam_d |Theta_d - prev_d|^2``.

    The normal equations over vec(Theta) (D K unknowns, row-major) are ``(sum_n
    Lambda_n (x) x_n x_n^T + diag(lam)) vec(Theta) = vec(sum_n Lambda_n y_n x_n^T) +
    lam vec(prev)``, accumulated over chunks of objects on the doubly packed triangles
    (a quarter of the products) and solved by one Cholesky factorisation. ``lam_d =
    prox * mean(diag of block d) + 1e-12`` is the diagonal path's proximal pull, so a
    diagonal ``Lambda`` gives its per-row solutions.

    Args:
        x: (N, K) design rows; y: (N, D) values; prec: (N, D, D) precisions;
        prev: (D, K) current parameters.

    Returns:
        (D, K) parameters and chi^2 ``sum_n r_n^T Lambda_n r_n`` at them.
    """
    n, k = x.shape
    d = y.shape[1]
    gram = jnp.zeros((d * (d + 1) // 2, k * (k + 1) // 2))
    rhs = jnp.zeros((d, k))
    for xc, yc, pc in row_chunks(chunk_size, x, y, prec):
        gram, rhs = _kron_chunk(gram, rhs, jnp.asarray(xc, jnp.float64),
                                jnp.asarray(yc, jnp.float64), jnp.asarray(pc, jnp.float64))
    a = _kron_matrix(np.asarray(gram), d, k)
    diag = np.diagonal(a).reshape(d, k)
    lam = prox * diag.sum(axis=1) / k + 1e-12
    a[np.diag_indices_from(a)] += np.repeat(lam, k)
    b = np.asarray(rhs).ravel() + np.repeat(lam, k) * np.asarray(prev, np.float64).ravel()
    sol = scipy.linalg.cho_solve(scipy.linalg.cho_factor(a, lower=True, overwrite_a=True,
                                                         check_finite=False),
                                 b, check_finite=False).reshape(d, k)
    chi = jnp.zeros(())
    sol_j = jnp.asarray(sol)
    for xc, yc, pc in row_chunks(chunk_size, x, y, prec):
        chi = _kron_chi2(chi, jnp.asarray(xc, jnp.float64), jnp.asarray(yc, jnp.float64),
                         jnp.asarray(pc, jnp.float64), sol_j)
    return sol, float(chi)


def map_row_covariances(x: jax.Array, prec: jax.Array, chunk_size: int = 512) -> np.ndarray:
    """(D, K, K) covariance of each row of Theta from the Kronecker normal equations (the
    diagonal blocks of their pseudo-inverse: each row's marginal covariance)."""
    d, k = prec.shape[-1], x.shape[-1]
    gram = jnp.zeros((d * (d + 1) // 2, k * (k + 1) // 2))
    rhs = jnp.zeros((d, k))
    zeros = jnp.zeros((min(chunk_size, x.shape[0]), d))
    for xc, pc in row_chunks(chunk_size, x, prec):
        gram, _ = _kron_chunk(gram, rhs, jnp.asarray(xc, jnp.float64), zeros,
                              jnp.asarray(pc, jnp.float64))
    inv = pseudo_inverse_spd(_kron_matrix(np.asarray(gram), d, k)[None])[0]
    idx = np.arange(d)
    return inv.reshape(d, k, d, k)[idx, :, idx, :]


# --- the scatter ---------------------------------------------------------------------------


@jax.jit
def _scatter_terms(resid: jax.Array, cov: jax.Array, ivar: jax.Array, ln_s: jax.Array
                   ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One block's score (D,), Fisher information (D, D) of v = s^2 and chi^2."""
    prec = precision_block(cov, ivar, ln_s)
    u = jnp.einsum("nde,ne->nd", prec, resid)
    score = 0.5 * jnp.sum(u * u - jnp.diagonal(prec, axis1=1, axis2=2), axis=0)
    info = 0.5 * jnp.sum(prec * prec, axis=0)
    return score, info, jnp.sum(u * resid)


def fit_scatter_full(resid: np.ndarray, cov: jax.Array, ivar: jax.Array, ln_floor: float,
                     n_iter: int = 6) -> tuple[jax.Array, jax.Array, float]:
    """Maximum-likelihood extra scatter per dimension under the full covariance.

    Maximises ``sum_n -0.5 [r_n^T K_n^-1 r_n + ln |K_n|]``, ``K_n = C_n + diag(v)`` on
    each object's observed entries, over ``v = s^2 >= exp(-16)`` (the diagonal path's
    floor) by Fisher scoring: score ``0.5 sum_n [(K^-1 r)_d^2 - (K^-1)_dd]``,
    information ``0.5 sum_n (K^-1)_de^2``; the dimensions held at the floor leave the
    step. Starts from the diagonal path's moment estimate and takes its number of
    steps (6 converge ln s to ~1e-8; its statistical error is ~1e-2): with a diagonal C
    this is the diagonal path's scoring, step for step.

    Args:
        resid: (N, D) residuals; cov: (N, D, D) covariance in model units; ivar: (N, D)
            inverse variances (0: unobserved).

    Returns:
        ``(ln_s (D,), precisions (N, D, D) with it, chi^2 with them)``.
    """
    n, d = resid.shape
    ivar_h = np.asarray(ivar, np.float64)
    obs = ivar_h > 0
    var = np.where(obs, 1.0 / np.where(obs, ivar_h, 1.0), 0.0)
    r = np.where(obs, np.asarray(resid, np.float64), 0.0)
    v_min = float(np.exp(2.0 * ln_floor))
    v = np.maximum(np.sum(r**2 - var, axis=0) / np.maximum(obs.sum(axis=0), 1), v_min)
    size = min(_BLOCK, max(n, 1))
    blocks = list(row_chunks(size, r, cov, ivar_h))
    for _ in range(n_iter):
        score, info = np.zeros(d), np.zeros((d, d))
        ln_s = jnp.asarray(0.5 * np.log(v))
        for rc, cc, wc in blocks:
            s, i, _ = _scatter_terms(jnp.asarray(rc), jnp.asarray(cc, jnp.float64),
                                     jnp.asarray(wc), ln_s)
            score += np.asarray(s)
            info += np.asarray(i)
        free = (v > v_min * (1 + 1e-12)) | (score > 0)
        free &= np.diagonal(info) > 0
        step = np.zeros(d)
        if free.any():
            step[free] = scipy.linalg.solve(info[np.ix_(free, free)], score[free],
                                            assume_a="pos", check_finite=False)
        v = np.maximum(v + step, v_min)
    ln_s = 0.5 * np.log(v)
    prec = precision(cov, ivar, ln_s)
    chi2 = float(jnp.sum(chi2_rows(prec, jnp.asarray(r))))
    return jnp.asarray(ln_s), prec, chi2
