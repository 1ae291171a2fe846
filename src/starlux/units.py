"""Robust screening of output values: the limits learned from a training set and the
rule that applies them, identically at training and at inference.

Catalogues carry sentinel values with ordinary-looking errors (-9999, 1e10) and errors
of zero or 1e-30; spectra carry cosmic rays and dead pixels with normal errors. The
missing-entry rule of :mod:`starlux.data` cannot see these (their values and errors
are finite), yet one such entry can dominate a least-squares fit. Two column-wise
limits, learned from the training set and stored with the model, make them harmless:

* **gross outliers**: a value farther than :data:`GROSS_OUTLIER` robust spreads from its
  column's median (the spread: ``(p97.5 - p2.5) / 4`` of the observed values once those
  more than :data:`PRESCREEN` MAD-sigmas out are set aside, at least the column's median
  error) is treated as missing;
* **error floor**: an error below :data:`ERROR_FLOOR` times its column's median error is
  raised to that floor (an entry cannot carry the weight of more than 16 ordinary ones).

Subtler outliers (cosmic rays a few tens of sigma high) are found from the residuals
of the fit (:mod:`starlux.fit`, and per star at inference in :mod:`starlux.infer`).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

__all__ = ["GROSS_OUTLIER", "ERROR_FLOOR", "CLIP_SIGMA", "ColumnLimits", "column_limits",
           "screen",
           "sample_rows"]

GROSS_OUTLIER = 10.0
"""Values this many robust spreads from the column median are gross outliers."""
ERROR_FLOOR = 0.25
"""Errors are raised to at least this fraction of their column's median error (an entry
weighs at most 16 ordinary ones; a spectrum at 4x the median SNR keeps full weight)."""
CLIP_SIGMA = 6.0
"""Residual clipping threshold, in robust standard deviations of the normalised
residuals (training) or in units of the calibrated noise (inference)."""
PRESCREEN = 100.0
"""Values this many MAD-sigmas from the median are left out of the percentiles that set
the gross-outlier spread (far wider than any real tail: it only removes sentinels)."""
_SAMPLE_ROWS = 4096


class ColumnLimits(NamedTuple):
    """Screening limits of one output: three (D,) arrays (a named tuple, so it passes
    through jitted functions as a pytree)."""

    low: np.ndarray
    high: np.ndarray
    floor: np.ndarray


def sample_rows(n: int, size: int = _SAMPLE_ROWS) -> np.ndarray:
    """At most ``size`` evenly spaced row indices of ``n`` (for per-column medians and
    percentiles: ample for the statistics, bounded time and memory for any N)."""
    if n == 0:
        return np.zeros(0, int)
    return np.unique(np.linspace(0, n - 1, min(n, size)).astype(int))


def column_limits(values: np.ndarray, errors: np.ndarray, missing: np.ndarray,
                  ) -> ColumnLimits:
    """Per-column gross-outlier bounds and error floors from training data (N, D).

    The statistics use at most ``4096`` evenly spaced rows (ample for medians and
    percentiles; bounded memory and time for any N). Columns with no observed entry get
    empty bounds (every value outside) and a zero floor.
    """
    n, d = values.shape
    rows = sample_rows(n)
    v = np.where(missing[rows], np.nan, values[rows]).astype(np.float64)
    e = np.where(missing[rows], np.nan, errors[rows]).astype(np.float64)
    # a column never observed in training has no trained map: at inference every
    # value in it is rejected (empty bounds), never fitted with an untrained map
    low, high = np.full(d, np.inf), np.full(d, -np.inf)
    floor = np.zeros(d)
    seen = ~np.all(np.isnan(v), axis=0) if len(rows) else np.zeros(d, bool)
    if seen.any():
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            vs = v[:, seen]
            med = np.nanmedian(vs, axis=0)
            med_err = np.nanmedian(e[:, seen], axis=0)
            # the percentiles would follow a few per cent of sentinels (two 1e30 among
            # 60 stars set p97.5): values absurdly far out in MAD units leave first
            mad = 1.4826 * np.nanmedian(np.abs(vs - med), axis=0)
            wide = PRESCREEN * np.maximum(np.nan_to_num(mad), np.nan_to_num(med_err))
            vs = np.where(np.abs(vs - med) > np.where(wide > 0, wide, np.inf), np.nan, vs)
            lo, hi = np.nanpercentile(vs, [2.5, 97.5], axis=0)
        spread = np.maximum((hi - lo) / 4.0, med_err)
        spread = np.where(np.isfinite(spread) & (spread > 0), spread, np.inf)
        low[seen] = med - GROSS_OUTLIER * spread
        high[seen] = med + GROSS_OUTLIER * spread
        floor[seen] = np.where(np.isfinite(med_err), ERROR_FLOOR * med_err, 0.0)
    # observed only outside the sampled rows: trained, but no statistics to screen by
    rare = (~missing).any(axis=0) & ~seen if n else np.zeros(d, bool)
    low[rare], high[rare] = -np.inf, np.inf
    return ColumnLimits(low, high, floor)


def screen(xp: Any, values: Any, errors: Any, missing: Any, limits: ColumnLimits | None,
           ) -> tuple[Any, Any, Any]:
    """Apply ``limits`` to a block: gross outliers join ``missing``, errors are floored.

    ``xp`` is ``numpy`` or ``jax.numpy`` (the same rule in both places). Returns
    ``(errors, missing, outlier)``, with ``outlier`` the entries newly marked missing.
    """
    if limits is None:
        return errors, missing, xp.zeros_like(missing)
    low, high, floor = limits
    outlier = ~missing & ((values < low) | (values > high))
    errors = xp.maximum(errors, xp.asarray(floor, dtype=errors.dtype))
    return errors, missing | outlier, outlier
