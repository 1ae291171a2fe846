"""Spectral figures: data vs model spectra (paper Fig. 3) and derivative spectra
(eq. 13, Fig. 6).

The x axis is "wavelength (Å)" only when the data have a wavelength grid, and
"pixel" otherwise. Lines are broken wherever the wavelength step jumps (the gaps
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

__all__ = ["spectra_comparison", "derivative_spectra_plot", "with_gaps", "x_axis"]


def x_axis(wavelength: np.ndarray | None, dim: int) -> tuple[np.ndarray, str]:
    """The x values and axis label of a spectrum of ``dim`` pixels."""
    if wavelength is None:
        return np.arange(dim, dtype=float), "pixel"
    return np.asarray(wavelength, float), "wavelength (Å)"


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
    sel = np.ones(x.size, bool)
    if wave_range is not None:
        sel = (x >= wave_range[0]) & (x <= wave_range[1])
        if sel.sum() < 2:
            sel = np.ones(x.size, bool)
    return sel


def spectra_comparison(wavelength: np.ndarray | None, data: np.ndarray, missing: np.ndarray,
                       from_flux: np.ndarray, from_labels: np.ndarray | None,
                       titles: Sequence[str], path: str | Path,
                       wave_range: tuple[float, float] | None = None) -> None:
    """Observed spectra (black) with the model from the spectra themselves (cyan) and
    from the labels (navy) for a few objects, residuals below (Fig. 3). The whole
    spectrum unless ``wave_range`` is given; missing pixels are not drawn."""
    n = data.shape[0]
    x, xlabel = x_axis(wavelength, data.shape[1])
    sel = _window(x, wave_range)
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
        xs, dd, *ms = with_gaps(x[sel], d, *(m for _, _, m in models))
        ax.plot(xs, dd, "k-", lw=lw, label="data")
        for (label, color, _), mm in zip(models, ms, strict=True):
            ax.plot(xs, mm, "-", color=color, lw=lw, alpha=0.85, label=label)
            axr.plot(xs, dd - mm, "-", color=color, lw=lw * 0.8, alpha=0.85)
        axr.axhline(0, color="k", lw=0.5)
        ax.set_ylabel("normalised flux")
        axr.set_ylabel("data − model")
        ax.set_title(titles[i], fontsize=8, loc="left")
        if i == 0:
            fig.legend(*ax.get_legend_handles_labels(), fontsize=8, ncol=3,
                       loc="outside upper right", frameon=False)
    axes[-1].set_xlabel(xlabel)
    savefig_atomic(fig, path)


def derivative_spectra_plot(wavelength: np.ndarray | None, deriv: np.ndarray,
                            names: Sequence[str], path: str | Path,
                            windows: dict[str, np.ndarray] | None = None,
                            wave_range: tuple[float, float] | None = None,
                            spectrum: np.ndarray | None = None,
                            title: str = "") -> None:
    """One row per label: ∂label/∂flux (eq. 13, Fig. 6) in the label's unit per unit
    normalised flux, the label's element windows shaded when given; optionally an
    example model spectrum on top."""
    rows = len(names) + (spectrum is not None)
    fig, axes = plt.subplots(rows, 1, figsize=(12, 1.6 * rows + 0.8), sharex=True,
                             squeeze=False, layout="constrained")
    axes = axes[:, 0]
    x, xlabel = x_axis(wavelength, deriv.shape[1])
    sel = _window(x, wave_range)
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
