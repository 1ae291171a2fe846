"""Numerical set-up: JAX runs in float64 unless ``STARLUX_X64=0`` is set."""

import os

import jax

if os.environ.get("STARLUX_X64", "1") != "0":
    jax.config.update("jax_enable_x64", True)
