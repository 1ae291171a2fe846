"""Batched exact linear algebra for weighted least squares.

Everything Lux needs reduces to many small (P x P) normal-equation systems:

* one per output dimension (a label, a pixel) when solving a linear map at fixed latents:
  ``G_d = sum_n w_nd z_n z_n^T``;
* one per object when solving latents at fixed maps:
  ``H_n = sum_d w_nd b_d b_d^T``.

Both are computed as a single matrix product against the packed upper triangle of the
outer products (``P (P + 1) / 2`` columns instead of ``P^2``), streamed over chunks so
memory stays bounded, then solved by Cholesky factorisation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "row_chunks",
    "gram_packed_per_column",
    "packed_outer",
    "unpack_index",
    "unpack_symmetric",
    "cho_solve_factor",
    "cho_inverse",
    "batched_trace",
    "pseudo_inverse_spd",
    "PRECISIONS",
    "resolve_precision",
    "gram_dtype",
]


def _triu(p: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(p)


def row_chunks(chunk_size: int, *arrays: jax.Array,
               pad: str = "zeros") -> Iterator[tuple[np.ndarray, ...]]:
    """Blocks of ``chunk_size`` rows of each array (host views), the last one padded.

    All blocks have one shape (one compilation of the jitted kernels, whatever N and
    however a dataset is split). ``pad="zeros"``: the padding rows carry zero weight in
    every sum; ``pad="edge"``: they repeat the last row (for per-row solves whose padded
    results are dropped).
    """
    n = arrays[0].shape[0]
    size = min(chunk_size, n)
    host = [np.asarray(x) for x in arrays]  # views of CPU arrays: slicing is free
    mode = {"zeros": "constant", "edge": "edge"}[pad]
    for a in range(0, n, size):
        parts = tuple(x[a:a + size] for x in host)
        short = size - parts[0].shape[0]
        if short:
            parts = tuple(np.pad(x, [(0, short)] + [(0, 0)] * (x.ndim - 1), mode=mode)
                          for x in parts)
        yield parts


def packed_outer(x: jax.Array) -> jax.Array:
    """(K, P) -> (K, P(P+1)/2): the upper triangle of each row's outer product."""
    i, j = _triu(x.shape[-1])
    return x[..., i] * x[..., j]


def unpack_index(p: int) -> np.ndarray:
    """(P, P) position of each matrix entry in the packed upper triangle (row-major)."""
    i, j = _triu(p)
    idx = np.empty((p, p), dtype=np.int32)
    idx[i, j] = np.arange(i.size)
    idx[j, i] = np.arange(i.size)
    return idx


def unpack_symmetric(packed: jax.Array, p: int) -> jax.Array:
    """(..., P(P+1)/2) -> (..., P, P) symmetric matrices (one gather, no scatter)."""
    return packed[..., unpack_index(p)]


def batched_trace(g: jax.Array) -> jax.Array:
    """(..., P, P) -> (...,) traces (a fused multiply-sum: XLA's diagonal gather is slow)."""
    return jnp.sum(g * jnp.eye(g.shape[-1], dtype=g.dtype), axis=(-2, -1))


def cho_solve_factor(c: jax.Array, rhs: jax.Array) -> jax.Array:
    """Solve ``(c c^T) x = rhs`` given lower Cholesky factors ``c`` (K, P, P), rhs (K, P)."""
    y = jax.scipy.linalg.solve_triangular(c, rhs[..., None], lower=True)
    return jax.scipy.linalg.solve_triangular(jnp.swapaxes(c, -1, -2), y, lower=False)[..., 0]


def cho_inverse(c: jax.Array) -> jax.Array:
    """``(c c^T)^-1`` for lower Cholesky factors ``c`` (K, P, P)."""
    eye = jnp.broadcast_to(jnp.eye(c.shape[-1], dtype=c.dtype), c.shape)
    ci = jax.scipy.linalg.solve_triangular(c, eye, lower=True)
    return jnp.swapaxes(ci, -1, -2) @ ci


@jax.jit
def gram_packed_per_column(w: jax.Array, x: jax.Array) -> jax.Array:
    """(N, D) weights, (N, P) rows -> (D, P(P+1)/2) packed ``sum_n w[n, d] x_n x_n^T``."""
    return jax.lax.dot_general(w, packed_outer(x), (((0,), (0,)), ((), ())))


PRECISIONS = ("auto", "float64", "float32")
"""The one precision vocabulary of training and inference (see :func:`gram_dtype`)."""

AUTO_FLOAT32_MIN_DIM = 512
"""With ``precision="auto"``, outputs with at least this many dimensions (spectra) get
float32 Gram products; smaller ones (labels), where there is nothing to gain, float64."""


def resolve_precision(precision: str | None) -> str:
    """Check a ``precision`` setting: ``"auto"`` (default), ``"float32"``, ``"float64"``.

    It sets the dtype of the Gram products ``sum w x x^T`` (per object for the latent
    solves, per output dimension for the map solves), which are nearly all the work.
    With float32 they run in single precision; everything else (the P x P Cholesky
    solves, chi^2, outputs) stays in float64, and one step of iterative refinement
    with float64 residuals makes the solutions agree with ``"float64"`` to < 1e-7 of
    their errors (without it: up to 1e-2). ``"auto"`` uses float32 for outputs of at
    least :data:`AUTO_FLOAT32_MIN_DIM` dimensions and float64 for the others.
    ``"mixed"``, the name of ``"auto"`` in earlier model files, is accepted.
    """
    p = "auto" if precision is None else str(precision)
    if p == "mixed":
        p = "auto"
    if p not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return p


def gram_dtype(precision: str | None, dim: int) -> Any:
    """The dtype of an output's Gram products and of its stored training values under
    ``precision`` (:func:`resolve_precision`), for an output of ``dim`` dimensions."""
    p = resolve_precision(precision)
    if p == "float32" or (p == "auto" and dim >= AUTO_FLOAT32_MIN_DIM):
        return jnp.float32
    return jnp.float64


PINV_RCOND = 1e-9
"""Relative eigenvalue below which a direction of a (diagonally normalised) Gram matrix
counts as unconstrained in :func:`pseudo_inverse_spd`."""


def pseudo_inverse_spd(gram: np.ndarray, rcond: float = PINV_RCOND) -> np.ndarray:
    """(K, P, P) pseudo-inverses of symmetric positive semi-definite matrices.

    Why not a ridge: a latent direction that the training objects never move along
    (a latent the spectra leave at its prior mean is collinear with the map's offset)
    has a ~0 eigenvalue; a ridge inverse puts ~1/ridge there, and a new object's
    rounding-level component along it would then dominate its map variance. The
    pseudo-inverse (after normalising by the diagonal, so that units do not matter)
    gives such directions zero weight, as a new object that follows the training
    objects also never moves along them.
    """
    gram = np.asarray(gram, dtype=np.float64)
    d = np.sqrt(np.maximum(np.einsum("kii->ki", gram), 1e-300))
    norm = gram / d[:, :, None] / d[:, None, :]
    vals, vecs = np.linalg.eigh(norm)
    keep = vals > rcond * vals[:, -1:]
    inv_vals = np.where(keep, 1.0 / np.where(keep, vals, 1.0), 0.0)
    inv = np.einsum("kij,kj,klj->kil", vecs, inv_vals, vecs)
    return inv / d[:, :, None] / d[:, None, :]
