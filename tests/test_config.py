"""Numerical set-up: float64 JAX, and where compiled kernels are cached."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from starlux.config import default_cache_dir, enable_compilation_cache


@pytest.fixture
def jax_cache_settings():
    """Put JAX's cache settings back after a test that changes them."""
    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
            "jax_persistent_cache_min_entry_size_bytes")
    old = {k: getattr(jax.config, k) for k in keys}
    yield
    for k, v in old.items():
        jax.config.update(k, v)


def test_jax_computes_in_float64_once_starlux_is_imported():
    assert jnp.asarray(1.0).dtype == jnp.float64


def test_compilation_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STARLUX_CACHE_DIR", "off")
    assert default_cache_dir() is None
    monkeypatch.setenv("STARLUX_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("STARLUX_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "starlux" / "jax"


@pytest.mark.parametrize("word", ["", "0", "OFF", " none "])
def test_every_word_for_off_turns_the_cache_off(word, monkeypatch):
    monkeypatch.setenv("STARLUX_CACHE_DIR", word)
    assert default_cache_dir() is None
    assert enable_compilation_cache() is None


def test_without_any_setting_the_cache_lives_in_the_home_cache_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("STARLUX_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "starlux" / "jax"


def test_enabling_the_cache_creates_the_folder_and_points_jax_at_it(tmp_path,
                                                                   jax_cache_settings):
    target = tmp_path / "a" / "b"
    assert enable_compilation_cache(target) == target and target.is_dir()
    assert jax.config.jax_compilation_cache_dir == str(target)
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0


def test_a_cache_folder_that_cannot_be_made_is_no_error(tmp_path, jax_cache_settings):
    (tmp_path / "file").write_text("x")
    before = jax.config.jax_compilation_cache_dir
    assert enable_compilation_cache(tmp_path / "file" / "cache") is None
    assert jax.config.jax_compilation_cache_dir == before


def test_the_command_line_quiets_xla_cpp_logs_unless_the_user_set_the_level():
    import os
    import subprocess
    import sys

    code = ("import sys; sys.argv[0] = '/usr/bin/starlux'; import os, starlux; "
            "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    assert run.stdout.strip() == "3"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"}, check=True)
    assert run.stdout.strip() == "0"
    # a Python session keeps JAX's own default (1: warnings and errors shown)
    run = subprocess.run([sys.executable, "-c", "import os, starlux; "
                          "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"],
                         capture_output=True, text=True, env=env, check=True)
    assert run.stdout.strip() != "3"
