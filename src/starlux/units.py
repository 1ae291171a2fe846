"""Model units: every output's values and errors on their way into the model, by one
rule at training and at inference.

* :func:`prepare_output` / :func:`model_units`: values centred and scaled (labels:
  ``(v - c) / d``; spectra unchanged), inverse variances ``1 / sigma^2`` (0 for entries
  missing under :mod:`starlux.data`'s rule), after the screening below;
* :func:`effective_weights`: ``1 / (sigma^2 + s^2)`` with an output's fitted scatter;
* the robust screening: limits learned from a training set (:func:`column_limits`) and
  the rule that applies them (:func:`screen`).

Catalogues carry sentinel values with ordinary-looking errors (-9999, 1e10) and errors
of zero or 1e-30; spectra carry cosmic rays and dead pixels with normal errors. The
missing-entry rule of :mod:`starlux.data` cannot see these (their values and errors
are finite), yet one such entry can dominate a least-squares fit. Column-wise limits,
learned from the training set and stored with the model, make them harmless:

* **gross outliers**: a value beyond the reach of its column's training values by more
  than the reach itself (and more than :data:`GROSS_OUTLIER` = 10 robust spreads), and
  by more than :data:`SCREEN_SIGMA` of its own errors, is treated as missing. The
  reach: as far from the median as the values go without an empty gap wider than 10
  spreads and than the distance covered so far; the spread: ``(p97.5 - p2.5) / 4`` of
  the observed values once those more than :data:`PRESCREEN` MAD-sigmas out are set
  aside, at least the column's median error;
* **fill values** (label outputs): one number shared by many entries far in a column's
  tail (:func:`fill_values`: -9999, 9999, 99.999 written for "no value") is set aside
  before the percentiles, and the bounds stop short of it, whatever its share;
* **error floor**: an error below :data:`ERROR_FLOOR` times its column's median error is
  raised to that floor (an entry cannot carry the weight of more than 16 ordinary ones).

Subtler outliers (cosmic rays a few tens of sigma high) are found from the residuals
of the fit (:mod:`starlux.fit`, and per star at inference in :mod:`starlux.infer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from .data import Output, is_missing

__all__ = ["GROSS_OUTLIER", "ERROR_FLOOR", "CLIP_SIGMA", "ColumnLimits", "column_limits",
           "screen", "fill_values", "sample_rows", "column_quantiles", "label_scaling", "Prepared",
           "prepare_output", "model_units", "effective_weights"]

GROSS_OUTLIER = 10.0
"""Gross outliers lie beyond the values the training set's column reaches without an
empty gap (:func:`_reach`: wider than this many robust spreads and than the distance
covered so far), by as much again, whatever the kind of output: real tails are
continuous (a 2 % metal-poor tail reaching 11 spreads of a disc sample's [Fe/H], the
red ends of M giants' XP spectra 60) while sentinels (-9999, 1e10) lie hundreds out
beyond a gap, and fill values nearer in are found by :func:`fill_values`."""
ERROR_FLOOR = 0.25
"""Errors are raised to at least this fraction of their column's median error (an entry
weighs at most 16 ordinary ones; a spectrum at 4x the median SNR keeps full weight)."""
CLIP_SIGMA = 6.0
"""Residual clipping threshold, in robust standard deviations of the normalised
residuals (training) or in units of the calibrated noise (inference)."""
SCREEN_SIGMA = CLIP_SIGMA
"""An entry is a gross outlier only when it lies beyond its column's bounds by more than
this many of its own errors (the residual-clipping threshold)."""
PRESCREEN = 100.0
"""Values this many MAD-sigmas from the median are left out of the percentiles that set
the gross-outlier spread (far wider than any real tail: it only removes sentinels)."""
FILL_FAR = 5.0
"""A value shared exactly by many entries of a label column (:data:`FILL_SHARE`) and
this many robust sigmas from the median of the other entries is a fill value, not a
measurement (:func:`fill_values`)."""
FILL_SHARE = 0.005
"""The least fraction of a column's observed entries (and at least 3) that must share
one far-out value for it to count as a fill value."""
_SAMPLE_ROWS = 4096
_REACH_COLUMNS = 256


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


def column_quantiles(x: np.ndarray, *q: float) -> np.ndarray:
    """(len(q), D) quantiles of each column of ``x`` (N, D) over its non-NaN entries,
    NaN for a column with none: ``np.nanpercentile``'s linear interpolation from one
    sort (NaNs sort last), about 3x faster at 4,096 x 7,514."""
    srt = np.sort(x, axis=0)
    count = np.sum(~np.isnan(x), axis=0)
    cols = np.arange(x.shape[1])
    out = np.full((len(q), x.shape[1]), np.nan)
    has = count > 0
    for i, qi in enumerate(q):
        pos = qi * np.maximum(count - 1, 0)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
        frac = pos - lo
        a, b = srt[lo, cols], srt[hi, cols]
        with np.errstate(invalid="ignore"):
            val = a + (b - a) * frac
        out[i] = np.where(has, np.where(frac == 0, a, val), np.nan)
    return out


def fill_values(v: np.ndarray, e: np.ndarray) -> list[np.ndarray]:
    """Per column of ``v`` (N, D; NaN where missing, ``e`` its errors), the fill
    values: exact values shared by at least :data:`FILL_SHARE` of the observed entries
    (and 3) that lie more than :data:`FILL_FAR` robust sigmas (1.4826 MAD, at least
    the median error) from the median of the other entries.

    Why: catalogues write "no value" as one number (-9999, 9999, 99.999, -10, 0). A few
    per cent of them are caught by the percentiles, but a tenth of a column moves the
    percentiles, and a half moves the median itself; the fill then passes as a
    measurement. A measured label is never the same number for many stars far out in a
    tail. (The centre comes from the entries whose value is not shared that widely, so
    a fill that fills most of a column is still found; a column whose values are almost
    all shared, a quantised one, uses all its entries.)"""
    out = []
    for j in range(v.shape[1]):
        keep = ~np.isnan(v[:, j])
        col, err = v[keep, j], e[keep, j]
        vals, counts = np.unique(col, return_counts=True)
        shared = vals[counts >= max(3, FILL_SHARE * col.size)]
        if shared.size == 0:
            out.append(shared)
            continue
        rest = col[~np.isin(col, shared)]
        base = rest if rest.size >= max(10, 0.1 * col.size) else col
        center = np.median(base)
        sigma = max(1.4826 * float(np.median(np.abs(base - center))),
                    float(np.nan_to_num(np.nanmedian(err))) if err.size else 0.0)
        out.append(shared[np.abs(shared - center) > FILL_FAR * sigma] if sigma > 0
                   else shared[:0])
    return out


def column_limits(values: np.ndarray, errors: np.ndarray, missing: np.ndarray,
                  kind: str = "spectrum") -> ColumnLimits:
    """Per-column gross-outlier bounds and error floors from training data (N, D).

    The statistics use at most ``4096`` evenly spaced rows (ample for medians and
    percentiles; bounded memory and time for any N); the reach of the tails
    (:func:`_reach`) uses every row, a block of columns at a time. Columns with no
    observed entry get empty bounds (every value outside) and a zero floor. The bounds are
    :data:`GROSS_OUTLIER` spreads beyond the reach of the column's values
    (:func:`_reach`); for labels they also stop short of each column's
    :func:`fill_values`.
    """
    n, d = values.shape
    rows = sample_rows(n)
    v = np.where(missing[rows], np.nan, values[rows]).astype(np.float64)
    e = np.where(missing[rows], np.nan, errors[rows]).astype(np.float64)
    # a column never observed in training has no trained map: at inference every
    # value in it is rejected (empty bounds), never fitted with an untrained map
    low, high = np.full(d, np.inf), np.full(d, -np.inf)
    floor = np.zeros(d)
    fill = fill_values(v, e) if kind == "label" else [np.zeros(0)] * d
    fill_all = list(fill)
    for j, f in enumerate(fill):  # set aside before any statistic
        out = np.isin(v[:, j], f)
        v[out, j] = e[out, j] = np.nan
    seen = ~np.all(np.isnan(v), axis=0) if len(rows) else np.zeros(d, bool)
    fill = [f for f, s in zip(fill, seen, strict=True) if s]
    if seen.any():
        vs = v[:, seen]
        med = column_quantiles(vs, 0.5)[0]
        med_err = column_quantiles(e[:, seen], 0.5)[0]
        with np.errstate(all="ignore"):
            # the percentiles would follow a few per cent of sentinels (two 1e30 among
            # 60 stars set p97.5): values absurdly far out in MAD units leave first
            mad = 1.4826 * column_quantiles(np.abs(vs - med), 0.5)[0]
            wide = PRESCREEN * np.maximum(np.nan_to_num(mad), np.nan_to_num(med_err))
            vs = np.where(np.abs(vs - med) > np.where(wide > 0, wide, np.inf), np.nan, vs)
        lo, hi = column_quantiles(vs, 0.025, 0.975)
        spread = np.maximum((hi - lo) / 4.0, med_err)
        spread = np.where(np.isfinite(spread) & (spread > 0), spread, np.inf)
        width = GROSS_OUTLIER * spread
        # the reach over every row (a tail of a few stars can be missing from the
        # sample), in blocks of columns (bounded memory)
        lo_seen, hi_seen = np.empty(med.size), np.empty(med.size)
        cols_seen = np.flatnonzero(seen)
        for a in range(0, cols_seen.size, _REACH_COLUMNS):
            cj = cols_seen[a:a + _REACH_COLUMNS]
            block = np.where(missing[:, cj], np.nan, values[:, cj]).astype(np.float64)
            for k, j in enumerate(cj):
                block[np.isin(block[:, k], fill_all[j]), k] = np.nan
            part = slice(a, a + cj.size)
            lo_seen[part], hi_seen[part] = _reach(block, med[part], width[part])
        for j, f in enumerate(fill):  # a fill value and everything beyond it are out
            if np.any(f > med[j]):
                hi_seen[j] = min(hi_seen[j], np.nextafter(f[f > med[j]].min(), -np.inf))
            if np.any(f < med[j]):
                lo_seen[j] = max(lo_seen[j], np.nextafter(f[f < med[j]].max(), np.inf))
        low[seen], high[seen] = lo_seen, hi_seen
        floor[seen] = np.where(np.isfinite(med_err), ERROR_FLOOR * med_err, 0.0)
    # observed only outside the sampled rows: trained, but no statistics to screen by
    rare = (~missing).any(axis=0) & ~seen if n else np.zeros(d, bool)
    low[rare], high[rare] = -np.inf, np.inf
    return ColumnLimits(low, high, floor)


def _reach(v: np.ndarray, med: np.ndarray, width: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """(D,) lower and upper gross-outlier bounds of the columns of ``v`` (N, D; NaN
    where missing), from how far the column's own values reach from ``med``.

    Walking out from the median, the values reach as far as no gap between neighbours
    is wider than ``width`` or than the distance already covered (a tail may thin out
    as it goes, in proportion); the bound lies that much again beyond the reach, and
    at least ``width`` from the median. Why: a broad population has a continuous,
    thinning tail far from its median (the red end of the coolest, most reddened M
    giants' median-normalised Gaia XP spectra lies 10-60 spreads out), while a
    sentinel (-9999, 1e30) or a cluster of them lies beyond an empty gap many times
    wider than everything before it. Bounds at a fixed number of spreads from the
    median set aside the red ends of 1.3 % of the XP training stars."""
    srt = np.sort(v, axis=0)  # NaN last
    n, d = srt.shape
    cols = np.arange(d)
    count = np.sum(~np.isnan(srt), axis=0)
    gaps = np.diff(srt, axis=0)  # NaN beyond each column's last value
    rows = np.arange(n - 1)[:, None]
    with np.errstate(invalid="ignore"):
        # upward from the last value inside med + width: the first empty gap stops
        room_up = np.maximum(width[None, :], srt[:-1] - med[None, :])
        top = np.sum(srt <= (med + width)[None, :], axis=0) - 1
        stop_up = ~(gaps <= room_up) & (rows >= top[None, :])
        up = np.where(stop_up.any(axis=0), np.argmax(stop_up, axis=0),
                      np.maximum(count - 1, 0))
        # downward from the first value inside med - width
        room_down = np.maximum(width[None, :], med[None, :] - srt[1:])
        bottom = count - np.sum(srt >= (med - width)[None, :], axis=0)
        stop_down = ~(gaps <= room_down) & (rows < bottom[None, :])
        last = np.where(stop_down.any(axis=0),
                        n - 2 - np.argmax(stop_down[::-1], axis=0), -1)
        down = np.clip(last + 1, 0, np.maximum(count - 1, 0))
        far_up = np.where(count > 0, np.maximum(srt[up, cols] - med, 0.0), 0.0)
        far_down = np.where(count > 0, np.maximum(med - srt[down, cols], 0.0), 0.0)
    hi = med + far_up + np.maximum(width, far_up)
    lo = med - far_down - np.maximum(width, far_down)
    return lo, hi


def screen(xp: Any, values: Any, errors: Any, missing: Any, limits: ColumnLimits | None,
           ) -> tuple[Any, Any, Any]:
    """Apply ``limits`` to a block: gross outliers join ``missing``, errors are floored.

    ``xp`` is ``numpy`` or ``jax.numpy`` (the same rule in both places). Returns
    ``(errors, missing, outlier)``, with ``outlier`` the entries newly marked missing.
    """
    if limits is None:
        return errors, missing, xp.zeros_like(missing)
    low, high, floor = limits
    # beyond the bounds by more than SCREEN_SIGMA of its own errors: an entry whose
    # excess its noise explains cannot pull a fit (the red ends of faint M giants' XP
    # spectra, a few per cent beyond the training sample's reach, with SNR 5)
    margin = SCREEN_SIGMA * xp.where(missing, 0.0, errors)
    outlier = ~missing & ((values < low - margin) | (values > high + margin))
    errors = xp.maximum(errors, xp.asarray(floor, dtype=errors.dtype))
    return errors, missing | outlier, outlier


def label_scaling(values: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (median) and scale ((p97.5 - p2.5) / 4) per column over observed entries."""
    d = values.shape[1]
    center, scale = np.zeros(d), np.ones(d)
    for j in range(d):
        v = values[observed[:, j], j]
        if v.size == 0:
            continue
        center[j] = np.median(v)
        lo, hi = np.percentile(v, [2.5, 97.5])
        s = (hi - lo) / 4.0
        if not (np.isfinite(s) and s > 0):
            s = np.std(v) if np.std(v) > 0 else 1.0
        scale[j] = s
    return center, scale


class OutputUnits(Protocol):
    """What :func:`prepare_output` needs of an output's specification (an
    :class:`~starlux.spec.OutputSpec` has it)."""

    kind: str
    names: tuple[str, ...]
    center: np.ndarray
    scale: np.ndarray
    limits: ColumnLimits | None


@dataclass
class Prepared:
    """One output in model units: values (missing -> 0) and inverse variances, and for an
    output with correlated errors its covariance (:mod:`starlux.covariance`)."""

    y: jax.Array  # (N, D)
    ivar: jax.Array  # (N, D), 0 where missing
    outliers: int = 0  # entries removed by the screening limits
    cov: jax.Array | None = None  # (N, D, D) float64, diagonal 1 / ivar, 0 where missing

    @property
    def observed(self) -> jax.Array:
        return self.ivar > 0


@jax.jit
def effective_weights(ivar: jax.Array, ln_scatter: jax.Array | np.ndarray | None) -> jax.Array:
    """1 / (sigma^2 + s^2) for observed entries, 0 for missing ones (dtype of ivar)."""
    s2 = jnp.exp(2.0 * jnp.asarray(ln_scatter))
    safe = jnp.where(ivar > 0, ivar, 1.0)
    return jnp.where(ivar > 0, safe / (1.0 + s2 * safe), 0.0).astype(ivar.dtype)


def model_units(values: jax.Array, errors: jax.Array, missing: jax.Array | None,
                center: jax.Array, scale: jax.Array, ln_scatter: jax.Array | None,
                limits: ColumnLimits | None, spectrum: bool, identity: bool = False,
                ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Values and weights of one block (n, D) in model units (call inside jitted code).

    With ``missing=None`` the missing-entry rule of :mod:`starlux.data` is applied here
    to raw (float32 or float64) arrays, in the same pass; then the screening limits,
    then ``1 / sigma^2`` (times ``scale^2``) and, with ``ln_scatter``, the effective
    weights. ``identity``: the output's centre is 0 and scale 1 (as for spectra), so
    the values keep their own dtype (exactly; half the memory traffic for float32
    data); the weights are float64. Returns ``(y, w, outliers)``: w > 0 exactly where
    the entry is used; ``outliers`` (n,) the entries per object the screening removed.
    """
    v = values.astype(jnp.float64)
    e = errors.astype(jnp.float64)
    if missing is None:
        missing = is_missing(jnp, values, errors, spectrum)
    e, missing, outlier = screen(jnp, v, e, missing, limits)
    inv = 1.0 / jnp.where(missing, 1.0, e) ** 2
    w = jnp.where(missing, 0.0, inv) * scale**2
    if identity:
        y = jnp.where(w > 0, values, jnp.zeros((), values.dtype))
    else:
        y = jnp.where(w > 0, (v - center) / scale, 0.0)
    if ln_scatter is not None:
        w = effective_weights(w, ln_scatter)
    return y, w, jnp.sum(outlier, axis=1, dtype=jnp.int32)


@partial(jax.jit, static_argnames=("spectrum",))
def _model_units_block(values, errors, missing, center, scale, limits, spectrum):
    return model_units(values, errors, missing, center, scale, None, limits, spectrum)


def prepare_output(o: Output, spec: OutputUnits, dtype: Any = jnp.float64) -> Prepared:
    """A whole :class:`~starlux.data.Output` in model units (:func:`model_units`, by
    blocks of rows: no float64 (N, D) temporaries), stored as ``dtype`` (training keeps
    spectra as float32 in mixed precision: half the memory; every solve uses them in
    float64). Label columns are put in the model's order first."""
    if spec.kind == "label" and tuple(o.names) != spec.names:
        o = o.select(spec.names)
    y = np.empty(o.values.shape, dtype=dtype)
    w = np.empty(o.values.shape, dtype=dtype)
    limits = None if spec.limits is None else ColumnLimits(
        *(jnp.asarray(x, jnp.float64) for x in spec.limits))
    center = jnp.asarray(spec.center, jnp.float64)
    scale = jnp.asarray(spec.scale, jnp.float64)
    outliers, rows = 0, 4096
    for a in range(0, o.n, rows):
        part = o.take(slice(a, a + rows))
        ya, wa, out = _model_units_block(part.values.astype(np.float64),
                                         part.errors.astype(np.float64), part.missing,
                                         center, scale, limits, spectrum=spec.kind != "label")
        wa = np.asarray(wa)
        if np.dtype(dtype) == np.float32 and float(np.max(wa, initial=0.0)) > 1e30:
            # inverse variances beyond float32's range: keep this output in float64
            return prepare_output(o, spec, jnp.float64)
        outliers += int(np.sum(out))
        w[a:a + rows] = wa
        y[a:a + rows] = np.asarray(ya)
    cov = None
    if o.covariance is not None:  # correlated errors, in the same units and screening
        from .covariance import model_covariance

        cov = np.empty(o.covariance.shape)
        for a in range(0, o.n, 512):
            cov[a:a + 512] = model_covariance(o.covariance[a:a + 512],
                                              w[a:a + 512].astype(np.float64), spec.scale)
        cov = jnp.asarray(cov)
    return Prepared(jnp.asarray(y), jnp.asarray(w), outliers, cov)
