"""Spectral figures: data vs model spectra (paper Fig. 3) and derivative spectra
(eq. 13, Fig. 6).

The x axis is the wavelength when the data have a grid, and "pixel" otherwise. Its
unit follows each survey's convention (:func:`wavelength_unit`): nm for Gaia XP
spectra (a low-resolution optical grid, as Gaia and GaiaXPy give it), Å otherwise
(APOGEE); starlux stores wavelengths in Å either way, and every ``wave_range``
argument here is in Å. Lines are broken wherever the wavelength step jumps (the gaps
between APOGEE's detector chips), so that no line is drawn across a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..labels import label_info  # noqa: E402
from .plots import savefig_atomic  # noqa: E402

__all__ = ["spectra_comparison", "derivative_spectra_plot", "with_gaps", "x_axis",
           "wavelength_unit", "is_gaia_xp_grid", "UNIT_PER_ANGSTROM"]

UNIT_PER_ANGSTROM = {"Å": 1.0, "nm": 0.1}
"""A wavelength in Å times this is in the unit."""


def is_gaia_xp_grid(wavelength: np.ndarray | None) -> bool:
    """True for a low-resolution optical grid such as Gaia XP's (336-1020 nm in 2 nm
    steps, or any GaiaXPy sampling): within 300-1100 nm and sampled at 0.5 nm or more
    per pixel. APOGEE (1.5-1.7 um, 0.2 Å steps) and optical surveys at higher
    resolution are not."""
    if wavelength is None:
        return False
    wl = np.asarray(wavelength, float)
    if wl.size < 2 or not np.isfinite(wl).all():
        return False
    step = np.median(np.abs(np.diff(wl)))
    return bool(wl.min() >= 3000.0 and wl.max() <= 11000.0 and step >= 5.0)


def wavelength_unit(wavelength: np.ndarray | None) -> str:
    """``"nm"`` for Gaia XP grids (Gaia's convention), ``"Å"`` otherwise."""
    return "nm" if is_gaia_xp_grid(wavelength) else "Å"


def x_axis(wavelength: np.ndarray | None, dim: int, unit: str | None = None
           ) -> tuple[np.ndarray, str]:
    """The x values and axis label of a spectrum of ``dim`` pixels: wavelengths (given
    in Å) in ``unit`` (default: :func:`wavelength_unit`), or pixel indices."""
    if wavelength is None:
        return np.arange(dim, dtype=float), "pixel"
    unit = unit or wavelength_unit(wavelength)
    return np.asarray(wavelength, float) * UNIT_PER_ANGSTROM[unit], f"wavelength ({unit})"


def with_gaps(x: np.ndarray, *ys: np.ndarray, factor: float = 5.0) -> list[np.ndarray]:
    """x and each y with a NaN inserted wherever the step in x exceeds ``factor`` times
    the median step: matplotlib then breaks the line there."""
    dx = np.diff(x)
    if dx.size == 0:
        return [x, *ys]
    jump = np.flatnonzero(np.abs(dx) > factor * np.median(np.abs(dx))) + 1
    if jump.size == 0:
        return [x, *ys]
    return [np.insert(np.asarray(a, float), jump, np.nan) for a in (x, *ys)]


def _window(x: np.ndarray, wave_range: tuple[float, float] | None) -> np.ndarray:
    """Pixels within ``wave_range`` (same unit as ``x``; everything when fewer than 2)."""
    sel = np.ones(x.size, bool)
    if wave_range is not None:
        sel = (x >= wave_range[0]) & (x <= wave_range[1])
        if sel.sum() < 2:
            sel = np.ones(x.size, bool)
    return sel


def _angstrom_window(wavelength: np.ndarray | None, dim: int,
                     wave_range: tuple[float, float] | None) -> np.ndarray:
    if wavelength is None:
        return _window(np.arange(dim, dtype=float), None)
    return _window(np.asarray(wavelength, float), wave_range)


def spectra_comparison(wavelength: np.ndarray | None, data: np.ndarray, missing: np.ndarray,
                       from_flux: np.ndarray, from_labels: np.ndarray | None,
                       titles: Sequence[str], path: str | Path,
                       wave_range: tuple[float, float] | None = None,
                       errors: np.ndarray | None = None,
                       noise: np.ndarray | None = None) -> None:
    """Observed spectra (black) with the model from the spectra themselves (cyan) and
    from the labels (navy) for a few objects, residuals below (Fig. 3).

    ``errors`` (N, L), the data's 1-sigma errors, are drawn as a grey band about the
    data and about zero in the residual panels, so that a residual can be judged
    against the noise; ``noise`` (N, L), the errors with the model's fitted scatter in
    quadrature, as dashed lines about zero. The whole spectrum unless ``wave_range``
    (Å) is given; missing pixels are not drawn."""
    n = data.shape[0]
    x, xlabel = x_axis(wavelength, data.shape[1])
    sel = _angstrom_window(wavelength, data.shape[1], wave_range)
    fig, axes = plt.subplots(2 * n, 1, figsize=(12, 2.5 * n + 0.6), sharex=True,
                             layout="constrained",
                             gridspec_kw={"height_ratios": [3, 1] * n})
    lw = 0.5 if sel.sum() > 1000 else 0.8
    for i in range(n):
        ax, axr = axes[2 * i], axes[2 * i + 1]
        d = np.where(missing[i], np.nan, data[i])[sel]
        models = [("model from spectrum", "c", from_flux[i][sel])]
        if from_labels is not None:
            models.append(("model from labels", "navy", from_labels[i][sel]))
        e = (np.full(d.shape, np.nan) if errors is None
             else np.where(missing[i], np.nan, errors[i])[sel])
        t = (np.full(d.shape, np.nan) if noise is None
             else np.where(missing[i], np.nan, noise[i])[sel])
        xs, dd, ee, tt, *ms = with_gaps(x[sel], d, e, t, *(m for _, _, m in models))
        if errors is not None:
            ax.fill_between(xs, dd - ee, dd + ee, color="0.55", alpha=0.35, lw=0,
                            label="data ± 1σ error")
            axr.fill_between(xs, -ee, ee, color="0.55", alpha=0.35, lw=0)
        if noise is not None:
            axr.plot(xs, tt, ":", color="0.25", lw=lw, label="± (error ⊕ fitted scatter)")
            axr.plot(xs, -tt, ":", color="0.25", lw=lw)
        ax.plot(xs, dd, "k-", lw=lw, label="data")
        for (label, color, _), mm in zip(models, ms, strict=True):
            ax.plot(xs, mm, "-", color=color, lw=lw, alpha=0.85, label=label)
            axr.plot(xs, dd - mm, "-", color=color, lw=lw * 0.8, alpha=0.85)
        axr.axhline(0, color="k", lw=0.5)
        _limits(ax, dd, ms[0])
        _limits(axr, ee if errors is not None else None, dd - ms[0], centred=True)
        ax.set_ylabel("normalised flux")
        axr.set_ylabel("data − model")
        ax.set_title(titles[i], fontsize=8, loc="left")
        if i == 0:
            handles, labels = ax.get_legend_handles_labels()
            rh, rl = axr.get_legend_handles_labels()
            fig.legend(handles + rh, labels + rl, fontsize=8, ncol=5,
                       loc="outside upper right", frameon=False)
    axes[-1].set_xlabel(xlabel)
    savefig_atomic(fig, path)


def _limits(ax, a: np.ndarray | None, b: np.ndarray, centred: bool = False) -> None:
    """y limits that show ``a`` and ``b`` (the data and the model from the spectrum, or
    the error band and that model's residuals) in full, whatever else is drawn: a
    model from the labels far off, or the errors of a faint blue end, run off the
    panel rather than squash what it compares."""
    vals = np.concatenate([np.ravel(v) for v in (a, b) if v is not None])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return
    if centred:
        top = float(np.max(np.abs(vals))) or 1.0
        ax.set_ylim(-1.15 * top, 1.15 * top)
        return
    lo, hi = float(vals.min()), float(vals.max())
    pad = 0.08 * (hi - lo if hi > lo else max(abs(hi), 1.0))
    ax.set_ylim(lo - pad, hi + pad)


def derivative_spectra_plot(wavelength: np.ndarray | None, deriv: np.ndarray,
                            names: Sequence[str], path: str | Path,
                            windows: dict[str, np.ndarray] | None = None,
                            wave_range: tuple[float, float] | None = None,
                            spectrum: np.ndarray | None = None,
                            title: str = "") -> None:
    """One row per label: ∂label/∂flux (eq. 13, Fig. 6) in the label's unit per unit
    normalised flux, the label's element windows shaded when given; optionally an
    example model spectrum on top. ``wave_range`` is in Å."""
    rows = len(names) + (spectrum is not None)
    fig, axes = plt.subplots(rows, 1, figsize=(12, 1.6 * rows + 0.8), sharex=True,
                             squeeze=False, layout="constrained")
    axes = axes[:, 0]
    x, xlabel = x_axis(wavelength, deriv.shape[1])
    sel = _angstrom_window(wavelength, deriv.shape[1], wave_range)
    xs = x[sel]
    k = 0
    if spectrum is not None:
        gx, gy = with_gaps(xs, spectrum[sel])
        axes[0].plot(gx, gy, "k-", lw=0.6)
        axes[0].set_ylabel("model flux", fontsize=8)
        k = 1
    for j, name in enumerate(names):
        ax = axes[k + j]
        if windows and name in windows:
            ax.fill_between(xs, 0, 1, where=windows[name][sel], transform=ax.get_xaxis_transform(),
                            color="C1", alpha=0.25, lw=0, step="mid", label="element windows")
            ax.legend(fontsize=7, loc="upper right")
        gx, gy = with_gaps(xs, deriv[j][sel])
        ax.plot(gx, gy, "-", color="m", lw=0.6)
        ax.axhline(0, color="k", lw=0.4)
        info = label_info(name)
        unit = {"km / s": "km/s"}.get(info.unit, info.unit)
        ax.set_ylabel(f"∂{info.tex}/∂f" + (f"\n({unit})" if unit else ""), fontsize=8)
    axes[-1].set_xlabel(xlabel)
    if title:
        axes[0].set_title(title, fontsize=9)
    savefig_atomic(fig, path)
