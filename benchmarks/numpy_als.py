"""A plain-NumPy exact alternating-least-squares Lux fit: the speed reference.

The same agenda as one :func:`starlux.fit.fit_core` call with linear maps (labels-as-
latents initialisation, ``n_iter`` rounds of exact map and latent solves, the per-pixel
scatter by moment matching, the penalised latent solve, and a final map solve), written
the way a competent NumPy user would: float64 throughout, each weighted Gram matrix as
one BLAS product against packed outer products, batched Cholesky solves. No clipping,
no calibration folds, no automatic choice of P: it is the floor a NumPy port would
reach, for ``bench_speed.py`` to compare against.
"""

from __future__ import annotations

import numpy as np


def _packed(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, P) -> (N, P(P+1)/2) upper-triangle outer products and their indices."""
    i, j = np.triu_indices(x.shape[1])
    return x[:, i] * x[:, j], i, j


def _unpack(packed: np.ndarray, p: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    out = np.empty(packed.shape[:-1] + (p, p))
    out[..., i, j] = packed
    out[..., j, i] = packed
    return out


def _solve_spd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched (K, P, P) x = (K, P) solves by Cholesky."""
    c = np.linalg.cholesky(a)
    y = np.linalg.solve(c, b[..., None])
    return np.linalg.solve(np.swapaxes(c, -1, -2), y)[..., 0]


def solve_maps(z: np.ndarray, y: np.ndarray, w: np.ndarray, prev: np.ndarray,
               prox: float = 1e-6) -> np.ndarray:
    """Rows [W_d, b_d] (D, P+1) of the weighted least-squares map at latents z."""
    x = np.concatenate([z, np.ones((z.shape[0], 1))], axis=1)
    p = x.shape[1]
    xx, i, j = _packed(x)
    gram = _unpack(w.T @ xx, p, i, j)
    lam = prox * np.trace(gram, axis1=1, axis2=2) / p + 1e-12
    gram += lam[:, None, None] * np.eye(p)
    rhs = (w * y).T @ x + lam[:, None] * prev
    return _solve_spd(gram, rhs)


def solve_latents(maps: list[np.ndarray], data: list[tuple[np.ndarray, np.ndarray]],
                  reg: float) -> np.ndarray:
    """(N, P) latents at fixed maps (rows [W, b]) with the L2 penalty ``reg``."""
    p = maps[0].shape[1] - 1
    i, j = np.triu_indices(p)
    n = data[0][0].shape[0]
    h = np.broadcast_to(2.0 * reg * np.eye(p), (n, p, p)).copy()
    g = np.zeros((n, p))
    for m, (y, w) in zip(maps, data, strict=True):
        wm, b = m[:, :p], m[:, p]
        h += _unpack(w @ (wm[:, i] * wm[:, j]), p, i, j)
        g += (w * (y - b)) @ wm
    return _solve_spd(h + 1e-12 * np.eye(p), g)


def fit(outputs: dict[str, tuple[np.ndarray, np.ndarray]], label_names: list[str],
        n_latents: int, n_iter: int = 5, reg: float = 10.0, seed: int = 0,
        scatter: tuple[str, ...] = ("flux",)) -> dict[str, np.ndarray]:
    """Fit every output's map (model units: labels already centred and scaled; missing
    entries with weight 0). Returns the maps and the latents."""
    rng = np.random.default_rng(seed)
    names = list(outputs)
    n = next(iter(outputs.values()))[0].shape[0]
    z = np.zeros((n, n_latents))
    k = 0
    for name in label_names:
        y, w = outputs[name]
        z[:, k:k + y.shape[1]] = np.where(w > 0, y, 0.0)
        k += y.shape[1]
    maps = {name: np.concatenate([rng.random((y.shape[1], n_latents)),
                                  np.zeros((y.shape[1], 1))], axis=1)
            for name, (y, _) in outputs.items()}
    data = dict(outputs)
    for _ in range(n_iter):
        for name in names:
            maps[name] = solve_maps(z, *data[name], maps[name])
        z = solve_latents([maps[k] for k in names], [data[k] for k in names], 0.0)
    for name in scatter:
        y, w = outputs[name]
        x = np.concatenate([z, np.ones((n, 1))], axis=1)
        r2 = (y - x @ maps[name].T) ** 2
        var = np.where(w > 0, 1.0 / np.where(w > 0, w, 1.0), 0.0)
        s2 = np.maximum(np.sum(np.where(w > 0, r2 - var, 0.0), axis=0)
                        / np.maximum(np.sum(w > 0, axis=0), 1), np.exp(-16.0))
        data[name] = (y, np.where(w > 0, 1.0 / (var + s2), 0.0))
        maps[name] = solve_maps(z, *data[name], maps[name])
    z = solve_latents([maps[k] for k in names], [data[k] for k in names], reg)
    for name in names:
        maps[name] = solve_maps(z, *data[name], maps[name])
    return {"z": z, **maps}
