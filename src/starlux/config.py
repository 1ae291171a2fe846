"""Numerical set-up.

* JAX runs in float64 unless ``STARLUX_X64=0`` is set.
* :func:`enable_compilation_cache` keeps JAX's compiled kernels on disk, so a second
  run skips compilation (seconds per new problem size). The command line turns it on
  (``$STARLUX_CACHE_DIR``, default ``~/.cache/starlux/jax``; ``STARLUX_CACHE_DIR=off``
  disables it); Python users call it themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

__all__ = ["enable_compilation_cache", "default_cache_dir"]

if os.environ.get("STARLUX_X64", "1") != "0":
    jax.config.update("jax_enable_x64", True)


def default_cache_dir() -> Path | None:
    """``$STARLUX_CACHE_DIR``, else ``$XDG_CACHE_HOME/starlux/jax`` (``~/.cache``);
    ``None`` when the variable is ``off``."""
    env = os.environ.get("STARLUX_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "0", "off", "none") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "starlux" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Store compiled JAX kernels in ``path`` (default :func:`default_cache_dir`).

    Returns the directory used, or ``None`` if caching is off or the directory cannot
    be created (caching is an optimisation: failure to set it up is not an error).
    """
    target = Path(path) if path is not None else default_cache_dir()
    if target is None:
        return None
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(target))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return target
