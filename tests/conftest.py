"""Shared fixtures: small simulated bilinear data sets with known truth."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from starlux import Dataset

SHARED_DATA = Path(os.environ.get(
    "STARLUX_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
"""The project's larger real-data files (APOGEE DR17 spectra, catalogues, ASPCAP windows,
emulators), kept beside the repository, not in it. ``STARLUX_SHARED_DATA`` points
elsewhere."""


def shared_data_reason(path: Path | str) -> str:
    """Why a test skips without the shared data, and how to get it."""
    return (f"needs {path}: real survey files not shipped with starlux. Put the project's "
            f"shared data folder at {SHARED_DATA} (each sub-folder's PROVENANCE.md names "
            "its public source: SDSS DR17, GALAH DR3, astroNN, AnniesLasso) or set "
            "STARLUX_SHARED_DATA to where it is")


@pytest.fixture(autouse=True, scope="session")
def _compilation_cache(tmp_path_factory: pytest.TempPathFactory):
    """Command-line runs in the tests cache compiled kernels in a temporary directory,
    never in the user's ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("STARLUX_CACHE_DIR", str(tmp_path_factory.mktemp("jax-cache")))
    yield
    mp.undo()


@pytest.fixture(autouse=True, scope="module")
def _fresh_jax_caches():
    """Each test module starts without the compiled programs of the modules before it.

    With a whole suite's compiled programs kept in one process, XLA's compiler crashed
    near the end of the suite (a segmentation fault while compiling a sampler in
    ``transforms/test_mlp.py``, the same test alone passes); with each module's
    programs released it does not. The process then holds about 5,000 memory
    mappings rather than a whole suite's worth."""
    import jax

    jax.clear_caches()
    yield


def make_bilinear(n: int = 300, m: int = 3, p: int = 5, d: int = 40, noise: float = 0.0,
                  label_noise: float = 0.0, seed: int = 0, missing: float = 0.0,
                  ) -> tuple[Dataset, dict]:
    """Labels = A z, flux = B z (+ Gaussian noise), z = [1, x], x ~ N(0, 1).

    Returns the dataset and the truth (labels, flux, z, A, B).
    """
    rng = np.random.default_rng(seed)
    z = np.concatenate([np.ones((n, 1)), rng.normal(size=(n, p - 1))], axis=1)
    a = rng.normal(size=(m, p)) * np.array([100.0, 1.0, 0.3])[:m, None]
    a[:, 0] += np.array([4500.0, 2.5, -0.2])[:m]
    b = 0.02 * rng.normal(size=(d, p))
    b[:, 0] = 1.0
    labels, flux = z @ a.T, z @ b.T
    ferr = np.full((n, d), max(noise, 1e-5))
    lerr = np.abs(a[:, 1:]).sum(1) * max(label_noise, 1e-5) * np.ones((n, m))
    obs_flux = flux + rng.normal(size=flux.shape) * ferr * (noise > 0)
    obs_lab = labels + rng.normal(size=labels.shape) * lerr * (label_noise > 0)
    if missing:
        obs_lab[rng.random(obs_lab.shape) < missing] = np.nan
    ds = Dataset.from_arrays(flux=obs_flux, flux_err=ferr, label=obs_lab, label_err=lerr,
                             label_names=["TEFF", "LOGG", "FE_H"][:m],
                             ids=np.arange(n))
    return ds, {"labels": labels, "flux": flux, "z": z, "A": a, "B": b, "lerr": lerr}


@pytest.fixture
def bilinear():
    return make_bilinear
