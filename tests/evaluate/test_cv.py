"""Cross-validation: grids, folds, the one-standard-error choice (the choice of P on data
with a known latent size, through ``starlux cv``: tests/commands/test_cv.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from starlux.evaluate.cv import (
    choose_best,
    cross_validate,
    make_folds,
    parse_latent_grid,
    parse_reg_grid,
)
from starlux.model import Lux

from .helpers import make_latent


def test_grids_raise_small_latent_sizes_to_m_plus_one_and_drop_duplicates():
    assert parse_latent_grid("1x,2x,4x,8x", 2) == [("1x", 3), ("2x", 4), ("4x", 8), ("8x", 16)]
    # 1x of 5 labels is below M + 1: raised to 6; duplicates dropped
    assert parse_latent_grid(["1x", "6", 12], 5) == [("1x", 6), ("12", 12)]
    assert parse_reg_grid("1, 10,100,10") == [1.0, 10.0, 100.0]
    with pytest.raises(ValueError):
        parse_latent_grid("four", 2)
    with pytest.raises(ValueError):
        parse_reg_grid("1,-3")


def test_folds_cover_labelled_objects_once():
    ds = make_latent(n=50)
    folds = make_folds(ds, 5, seed=3)
    allidx = np.concatenate(folds)
    assert sorted(allidx.tolist()) == list(range(50))
    assert [len(f) for f in folds] == [10] * 5


def test_the_one_standard_error_rule_picks_the_smallest_p_close_to_the_best():
    summary = [{"P": p, "reg": 1.0, "m_median": v} for p, v in [(4, 100.0), (6, 10.2), (12, 10.0)]]
    rows = [{"P": 12, "reg": 1.0, "m": v} for v in (9.0, 10.0, 11.0)]
    assert choose_best(summary, rows, "m", "min")["P"] == 12
    assert choose_best(summary, rows, "m", "1se")["P"] == 6  # within one SE of the best


@pytest.mark.skipif(not os.environ.get("STARLUX_SLOW_TESTS"),
                    reason="spawns 2 JAX processes (~40 s on 2 shared cores); "
                           "set STARLUX_SLOW_TESTS=1")
def test_cv_worker_processes_give_serial_results():
    ds = make_latent(n=40, m=2, p=4, d=12, seed=5)
    kw = dict(latents="2x", regs="10", folds=2, config=Lux(n_iter=2), progress=False)
    serial = cross_validate(ds, n_jobs=1, **kw)
    procs = cross_validate(ds, n_jobs=2, executor="process", **kw)
    assert len(serial.rows) == len(procs.rows) == 2
    for a, b in zip(serial.rows, procs.rows, strict=True):
        for key in ("fold", "P", "chi2_flux", "chi2_labels", "rmse_scaled"):
            assert a[key] == pytest.approx(b[key], rel=1e-9), key
