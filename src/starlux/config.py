"""Numerical set-up.

* JAX runs in float64 unless ``STARLUX_X64=0`` is set.
* :func:`enable_compilation_cache` keeps JAX's compiled kernels on disk, so a second
  run skips compilation (seconds per new problem size). The command line turns it on
  (``$STARLUX_CACHE_DIR``, default ``~/.cache/starlux/jax``; ``STARLUX_CACHE_DIR=off``
  disables it); Python users call it themselves. With jaxlib 0.9 a kernel loaded
  from the cache logs two harmless C++ lines ("Target machine feature
  +prefer-no-gather is not supported"); the command line hides XLA's C++ log below
  FATAL (``TF_CPP_MIN_LOG_LEVEL=3`` unless set), a Python session may set it itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if Path(sys.argv[0] if sys.argv else "").name == "starlux" and "jax" not in sys.modules:
    # The command line keeps compiled kernels on disk, and jaxlib 0.9 writes two C++
    # "errors" for every kernel it loads from there (a target feature, +prefer-no-gather,
    # its loader does not know: harmless). A command's output is read by people, so
    # XLA's C++ log is kept below FATAL there unless TF_CPP_MIN_LOG_LEVEL is set
    # (Python errors and warnings are not affected).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402

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
