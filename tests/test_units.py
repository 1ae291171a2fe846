"""Screening limits: sentinels become missing, tiny errors are floored."""

from __future__ import annotations

import numpy as np

from starlux.units import ERROR_FLOOR, column_limits, screen


def test_sentinels_are_screened_and_tiny_errors_floored():
    rng = np.random.default_rng(0)
    v = rng.normal(4800, 300, (500, 2))
    e = np.full((500, 2), 50.0)
    missing = np.zeros((500, 2), bool)
    missing[:, 1] = True  # a column never observed
    limits = column_limits(v, e, missing)
    v[3, 0], e[4, 0] = -9999.0, 1e-10
    errors, miss, outlier = screen(np, v, e, missing, limits)
    assert outlier[3, 0] and miss[3, 0]
    assert outlier[:, 0].sum() == 1
    assert errors[4, 0] == ERROR_FLOOR * 50.0
    # at inference, every value of a column the model never saw is rejected
    _, miss_new, _ = screen(np, v, e, np.zeros_like(missing), limits)
    assert miss_new[:, 1].all()


def test_column_quantiles_equal_numpys_nanpercentile_with_empty_and_single_columns():
    import warnings

    from starlux.units import column_quantiles

    rng = np.random.default_rng(0)
    x = rng.normal(size=(301, 40))
    x[rng.random(x.shape) < 0.3] = np.nan
    x[:, 0] = np.nan  # no entry
    x[:-1, 1] = np.nan  # one entry
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nanpercentile(x, [2.5, 50, 97.5], axis=0)
    got = column_quantiles(x, 0.025, 0.5, 0.975)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-14)
