"""Screening limits: sentinels and fill values become missing, tiny errors are floored."""

from __future__ import annotations

import numpy as np
import pytest

from starlux.units import ERROR_FLOOR, column_limits, fill_values, screen


def test_sentinels_are_screened_and_tiny_errors_floored():
    rng = np.random.default_rng(0)
    v = rng.normal(4800, 300, (500, 2))
    e = np.full((500, 2), 50.0)
    missing = np.zeros((500, 2), bool)
    missing[:, 1] = True  # a column never observed
    limits = column_limits(v, e, missing, "label")
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


def _screened(v, e, kind="label"):
    missing = np.zeros(v.shape, bool)
    limits = column_limits(v, e, missing, kind)
    return screen(np, v, e, missing, limits)[2]


@pytest.mark.parametrize("fill, share", [(-9999.0, 0.1), (9999.0, 0.1), (-10.0, 0.2),
                                         (-9999.0, 0.5), (-9999.0, 0.8), (99.999, 0.03)])
def test_a_fill_value_is_screened_whatever_share_of_the_column_it_fills(fill, share):
    rng = np.random.default_rng(1)
    v = np.column_stack([rng.normal(4800, 300, 1000), rng.normal(-0.2, 0.3, 1000)])
    e = np.column_stack([np.full(1000, 50.0), np.full(1000, 0.03)])
    col = 0 if abs(fill) > 1000 else 1
    v[: int(share * 1000), col] = fill
    out = _screened(v, e)
    assert out[: int(share * 1000), col].all()
    assert not out[int(share * 1000):].any()  # no measured value is lost
    # without the fill rule (spectra), half a column of -9999 sets the statistics
    if share >= 0.5:
        old = _screened(v, e, kind="spectrum")
        assert not old[: int(share * 1000), col].all() or old[int(share * 1000):].any()


def test_quantised_labels_and_real_tails_have_no_fill_values():
    rng = np.random.default_rng(2)
    teff = np.round(rng.normal(4800, 300, 5000), -1)  # rounded to 10 K
    logg = np.round(rng.normal(2.5, 0.6, 5000), 1)  # rounded to 0.1 dex
    feh = np.concatenate([rng.normal(-0.2, 0.25, 4900), rng.uniform(-3.0, -1.0, 100)])
    v = np.column_stack([teff, logg, feh])
    e = np.tile([50.0, 0.05, 0.03], (5000, 1))
    assert all(f.size == 0 for f in fill_values(v, e))
    assert not _screened(v, e).any()
