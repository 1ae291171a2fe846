"""Batched linear algebra: packed Grams, Cholesky solves, pseudo-inverses."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from starlux.linalg import (
    cho_inverse,
    cho_solve_factor,
    gram_packed_per_column,
    packed_outer,
    pseudo_inverse_spd,
    unpack_symmetric,
)


def test_packed_gram_unpacks_to_the_weighted_outer_product_sum():
    rng = np.random.default_rng(0)
    w, x = rng.random((50, 3)), rng.normal(size=(50, 4))
    got = np.asarray(unpack_symmetric(gram_packed_per_column(jnp.asarray(w), jnp.asarray(x)), 4))
    want = np.einsum("nd,np,nq->dpq", w, x, x)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert packed_outer(jnp.ones((2, 4))).shape == (2, 10)


def test_cholesky_solve_and_inverse_agree_with_numpy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 4, 4))
    g = a @ np.swapaxes(a, 1, 2) + 4 * np.eye(4)
    c = np.linalg.cholesky(g)
    rhs = rng.normal(size=(5, 4))
    np.testing.assert_allclose(np.asarray(cho_solve_factor(jnp.asarray(c), jnp.asarray(rhs))),
                               np.linalg.solve(g, rhs[..., None])[..., 0], rtol=1e-10)
    np.testing.assert_allclose(np.asarray(cho_inverse(jnp.asarray(c))), np.linalg.inv(g),
                               rtol=1e-10)


def test_pseudo_inverse_is_the_inverse_at_full_rank_and_a_generalised_inverse_below():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(3, 5, 5))
    g = a @ np.swapaxes(a, 1, 2) + np.eye(5)
    np.testing.assert_allclose(pseudo_inverse_spd(g), np.linalg.inv(g), rtol=1e-8)
    # a latent collinear with the constant: the Gram of [z, 1] with z_0 = 2 is singular
    x = np.c_[np.full(40, 2.0), rng.normal(size=(40, 2)), np.ones(40)]
    gs = (x.T @ x)[None]
    inv = pseudo_inverse_spd(gs)
    np.testing.assert_allclose(gs @ inv @ gs, gs, rtol=1e-8, atol=1e-8)
    assert np.all(np.isfinite(inv)) and np.abs(inv).max() < 1.0


_CONCURRENT_SOLVES = """
import jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
from starlux.linalg import cho_solve_factor

@jax.jit
def f(a, b, s):
    out = 0.0
    for j in range(4):  # four independent batched Cholesky factorisations and solves
        c = jnp.linalg.cholesky(a * (1.0 + 0.01 * j * s))
        out = out + cho_solve_factor(c, b * (j + 1))
    return out

k1, k2 = jax.random.split(jax.random.key(0))
m = jax.random.normal(k1, (512, 16, 16))
a = m @ jnp.swapaxes(m, 1, 2) + 16 * jnp.eye(16)
b = jax.random.normal(k2, (512, 16))
for i in range(30):
    jax.block_until_ready(f(a, b, float(i)))
print("done")
"""


def test_concurrent_batched_cholesky_solves_in_one_program_finish():
    # jaxlib 0.10 hangs here on CPU (its batched LAPACK kernels wait on the thread pool
    # they occupy), which is why pyproject.toml keeps jax below 0.10; a run of starlux
    # must never hang, so a jax that does is caught here, not by a user's survey
    import subprocess
    import sys

    try:
        run = subprocess.run([sys.executable, "-c", _CONCURRENT_SOLVES], capture_output=True,
                             text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError("batched Cholesky solves deadlocked: this jax/jaxlib hangs on "
                             "concurrent LAPACK calls (see pyproject.toml)") from None
    assert run.returncode == 0 and "done" in run.stdout, run.stderr[-2000:]
