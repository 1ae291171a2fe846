"""Validation figures (matplotlib, Agg backend), each written atomically as PNG:
one-to-one plots (Fig. 7), residuals vs SNR, Kiel / Tinsley-Wallerstein diagrams
(Fig. 8), reduced chi^2 histograms (Fig. 4), data vs model spectra (Fig. 3),
derivative spectra (Fig. 6), precision vs SNR (Fig. 10), latent maps (Fig. 19) and the
cross-validation heat map (Fig. 14)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["one_to_one", "one_to_one_all", "savefig_atomic", "cv_heatmap", "residuals_vs_snr",
           "label_diagram", "chi2_hist", "spectra_comparison", "derivative_spectra_plot",
           "precision_vs_snr", "latent_map"]


def savefig_atomic(fig, path: str | Path, dpi: int = 110) -> None:
    """Save a figure so that a crash never leaves a half-written file."""
    from ..io.datasets import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)


def one_to_one(pred: np.ndarray, reference: np.ndarray, name: str, path: str | Path,
               pred_err: np.ndarray | None = None, reference_err: np.ndarray | None = None,
               color: np.ndarray | None = None, color_label: str = "",
               xlabel: str = "reference", ylabel: str = "starlux") -> None:
    """Predicted vs reference values of one label with bias / RMSE / mean error (Fig. 7)."""
    m = np.isfinite(pred) & np.isfinite(reference)
    r = pred[m] - reference[m]
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(4.6, 5.6), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    if color is None:
        sc = ax.scatter(reference[m], pred[m], s=4, alpha=0.7, lw=0)
    else:
        sc = ax.scatter(reference[m], pred[m], s=4, alpha=0.7, lw=0, c=color[m], cmap="viridis")
    lo, hi = np.nanpercentile(np.r_[reference[m], pred[m]], [0.5, 99.5])
    pad = 0.05 * (hi - lo if hi > lo else 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k-", lw=0.8)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    text = [f"bias = {np.mean(r):.3g}", f"RMSE = {np.sqrt(np.mean(r**2)):.3g}"]
    if pred_err is not None:
        text.append(f"mean err = {np.mean(pred_err[m]):.3g}")
    if reference_err is not None:
        text.append(f"mean ref err = {np.nanmean(reference_err[m]):.3g}")
    ax.text(0.04, 0.96, "\n".join(text), transform=ax.transAxes, va="top", fontsize=8)
    ax.set_ylabel(f"{name} ({ylabel})")
    ax.set_title(name)
    if color is not None:
        fig.colorbar(sc, ax=[ax, axr], label=color_label)
    axr.scatter(reference[m], r, s=3, alpha=0.6, lw=0, color="C0")
    axr.axhline(0, color="k", lw=0.8)
    axr.set_xlabel(f"{name} ({xlabel})")
    axr.set_ylabel("resid.")
    savefig_atomic(fig, path)


def one_to_one_all(pred: np.ndarray, reference: np.ndarray, names: Sequence[str],
                   outdir: str | Path, pred_err: np.ndarray | None = None,
                   reference_err: np.ndarray | None = None, prefix: str = "one_to_one_",
                   xlabel: str = "reference") -> list[Path]:
    """One PNG per label; returns the paths written."""
    outdir = Path(outdir)
    paths = []
    for j, name in enumerate(names):
        p = outdir / f"{prefix}{name}.png"
        one_to_one(pred[:, j], reference[:, j], name, p,
                   None if pred_err is None else pred_err[:, j],
                   None if reference_err is None else reference_err[:, j], xlabel=xlabel)
        paths.append(p)
    return paths


# ------------------------------------------------------------------ cross-validation


def cv_heatmap(result, path: str | Path) -> None:
    """Fig. 14: median over folds of eq. A1 chi^2 on the (P, Omega) grid, latents from
    spectra (left) and from labels (middle), plus the selection metric (the label
    term from spectra by default; the scaled label RMSE if the selection used one of
    the first two). The chosen setting is outlined in red."""
    titles = {"chi2_flux": "$\\chi^2$ (eq. A1), latents from spectra",
              "chi2_labels": "$\\chi^2$ (eq. A1), latents from labels",
              "label_chi2": "label term of $\\chi^2$, latents from spectra",
              "chi2_sum": "sum of both $\\chi^2$",
              "rmse_scaled": "held-out label RMSE / scale, from spectra"}
    third = result.select if result.select not in ("chi2_flux", "chi2_labels") \
        else "rmse_scaled"
    panels = [(m, titles[m]) for m in ("chi2_flux", "chi2_labels", third)]
    ps = [f"{s}\n(P={p})" for s, p in result.grid]
    regs = [f"{r:g}" for r in result.regs]
    fig, axes = plt.subplots(1, 3, figsize=(4.2 * 3, 0.6 * len(ps) + 2.6))
    bi = [p for _, p in result.grid].index(result.best_latents)
    bj = result.regs.index(result.best_reg)
    for ax, (metric, title) in zip(axes, panels, strict=True):
        t = result.table(metric)
        finite = t[np.isfinite(t)]
        use_log = finite.size and finite.min() > 0 and finite.max() / finite.min() > 20
        shown = np.log10(t) if use_log else t
        im = ax.imshow(shown, origin="lower", aspect="auto", cmap="viridis_r")
        for i in range(t.shape[0]):
            for j in range(t.shape[1]):
                if np.isfinite(t[i, j]):
                    v = np.nanmean(shown[np.isfinite(shown)])
                    ax.text(j, i, f"{t[i, j]:.3g}", ha="center", va="center", fontsize=7,
                            color="w" if shown[i, j] > v else "k")
        ax.add_patch(plt.Rectangle((bj - 0.5, bi - 0.5), 1, 1, fill=False, ec="r", lw=2))
        ax.set_xticks(range(len(regs)), regs)
        ax.set_yticks(range(len(ps)), ps, fontsize=8)
        ax.set_xlabel("$\\Omega$")
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, label=("log10 " if use_log else "") + "median over folds")
    fig.suptitle(f"{len(result.folds)}-fold cross-validation; chosen by {result.select} "
                 f"({result.rule} rule, red box): P={result.best_latents}, "
                 f"$\\Omega$={result.best_reg:g}", fontsize=10)
    fig.tight_layout()
    savefig_atomic(fig, path)


# ------------------------------------------------------------------ report figures


def _binned(x: np.ndarray, y: np.ndarray, n_bins: int = 12, log: bool = True,
            min_count: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bin centres, and median / 16th / 84th percentiles of y in bins of x."""
    m = np.isfinite(x) & np.isfinite(y) & ((x > 0) if log else True)
    x, y = x[m], y[m]
    if x.size < min_count:
        return (np.array([]),) * 4
    lo, hi = x.min(), x.max()
    if hi <= lo:
        hi = lo + 1.0
    edges = np.geomspace(lo, hi * 1.0001, n_bins + 1) if log else np.linspace(lo, hi, n_bins + 1)
    centres, med, p16, p84 = [], [], [], []
    idx = np.digitize(x, edges) - 1
    for b in range(n_bins):
        yy = y[idx == b]
        if yy.size >= min_count:
            centres.append(np.sqrt(edges[b] * edges[b + 1]) if log
                           else 0.5 * (edges[b] + edges[b + 1]))
            q = np.percentile(yy, [50, 16, 84])
            med.append(q[0])
            p16.append(q[1])
            p84.append(q[2])
    return np.array(centres), np.array(med), np.array(p16), np.array(p84)


def _grid(n: int, ncols: int = 4, size: tuple[float, float] = (3.4, 2.8), **kw):
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False, **kw)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def residuals_vs_snr(pred: np.ndarray, reference: np.ndarray, names: Sequence[str],
                     snr: np.ndarray, path: str | Path, pred_err: np.ndarray | None = None,
                     ) -> None:
    """Residual (predicted - reference) of each label against SNR, with the running
    median and 16-84 % band; the predicted 1-sigma error band dashed."""
    fig, axes = _grid(len(names))
    for j, (ax, name) in enumerate(zip(axes, names, strict=True)):
        r = pred[:, j] - reference[:, j]
        m = np.isfinite(r) & np.isfinite(snr) & (snr > 0)
        ax.scatter(snr[m], r[m], s=3, alpha=0.4, lw=0, color="0.4")
        c, med, p16, p84 = _binned(snr[m], r[m])
        if c.size:
            ax.plot(c, med, "C3-", lw=1.5, label="median")
            ax.fill_between(c, p16, p84, color="C3", alpha=0.25, lw=0, label="16-84%")
        if pred_err is not None and c.size:
            ce, emed, _, _ = _binned(snr[m], pred_err[m, j])
            ax.plot(ce, emed, "k--", lw=1, label=r"$\pm$ pred. error")
            ax.plot(ce, -emed, "k--", lw=1)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xscale("log")
        ax.set_xlabel("SNR")
        ax.set_ylabel(f"$\\Delta$ {name}")
        if j == 0:
            ax.legend(fontsize=7, loc="upper right")
    fig.suptitle("residuals (predicted - catalogue) vs SNR", fontsize=10)
    fig.tight_layout()
    savefig_atomic(fig, path)


def _diagram(ax, x, y, c, xlabel, ylabel, clabel, title, invert, cmap, vlim, fig):
    m = np.isfinite(x) & np.isfinite(y)
    if c is not None:
        m &= np.isfinite(c)
        sc = ax.scatter(x[m], y[m], c=c[m], s=4, lw=0, alpha=0.8, cmap=cmap,
                        vmin=vlim[0], vmax=vlim[1])
        fig.colorbar(sc, ax=ax, label=clabel)
    else:
        ax.scatter(x[m], y[m], s=4, lw=0, alpha=0.8, color="k")
    if invert:
        ax.invert_xaxis()
        ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title} (N={int(m.sum())})", fontsize=9)


def label_diagram(pred: dict[str, np.ndarray], ref: dict[str, np.ndarray], x: str, y: str,
                  path: str | Path, color: str | None = None, invert: bool = False,
                  titles: tuple[str, str] = ("starlux (from spectra)", "catalogue"),
                  suptitle: str = "") -> None:
    """Two panels side by side: label y vs label x, predicted (left) and catalogue
    (right), with shared axis limits and colour scale (Fig. 8)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True, sharey=True)
    both = [d for d in (pred, ref)]
    cvals = np.concatenate([d[color] for d in both]) if color else None
    vlim = tuple(np.nanpercentile(cvals, [2, 98])) if color else (None, None)
    for ax, d, t in zip(axes, both, titles, strict=True):
        _diagram(ax, d[x], d[y], d[color] if color else None, x, y, color or "", t, False,
                 "viridis", vlim, fig)
    xs = np.concatenate([d[x] for d in both])
    ys = np.concatenate([d[y] for d in both])
    if np.isfinite(xs).any() and np.isfinite(ys).any():
        xl = np.nanpercentile(xs, [0.5, 99.5])
        yl = np.nanpercentile(ys, [0.5, 99.5])
        px, py = 0.05 * (xl[1] - xl[0] or 1), 0.05 * (yl[1] - yl[0] or 1)
        axes[0].set_xlim((xl[1] + px, xl[0] - px) if invert else (xl[0] - px, xl[1] + px))
        axes[0].set_ylim((yl[1] + py, yl[0] - py) if invert else (yl[0] - py, yl[1] + py))
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    savefig_atomic(fig, path)


def chi2_hist(chi2: dict[str, np.ndarray], path: str | Path, title: str = "") -> None:
    """Histograms of the reduced chi^2 of each object (Fig. 4), one per case."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    vals = [v[np.isfinite(v) & (v > 0)] for v in chi2.values()]
    allv = np.concatenate(vals) if vals else np.array([1.0])
    lo = max(np.percentile(allv, 0.5) / 1.5, 1e-3) if allv.size else 0.1
    hi = max(np.percentile(allv, 99.5) * 1.5, 2.0) if allv.size else 10
    bins = np.geomspace(min(lo, 0.5), hi, 50)
    for (label, _), v in zip(chi2.items(), vals, strict=True):
        med = np.median(v) if v.size else np.nan
        ax.hist(np.clip(v, bins[0], bins[-1]), bins=bins, histtype="step", lw=1.5,
                label=f"{label} (median {med:.3g}, N={v.size})")
    ax.axvline(1.0, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel(r"reduced $\chi^2$ of the spectrum ($\chi^2$ / observed pixels)")
    ax.set_ylabel("objects")
    ax.legend(fontsize=7)
    ax.set_title(title or "spectral fit quality per object", fontsize=9)
    fig.tight_layout()
    savefig_atomic(fig, path)


def _shade(ax, wavelength: np.ndarray, mask: np.ndarray, color: str, label: str) -> None:
    ax.fill_between(wavelength, 0, 1, where=mask, transform=ax.get_xaxis_transform(),
                    color=color, alpha=0.25, lw=0, step="mid", label=label)


def spectra_comparison(wavelength: np.ndarray, data: np.ndarray, missing: np.ndarray,
                       from_flux: np.ndarray, from_labels: np.ndarray | None,
                       titles: Sequence[str], path: str | Path,
                       wave_range: tuple[float, float] | None = None) -> None:
    """Observed spectra (black) with the model from the spectra themselves (cyan) and
    from the labels (navy) for a few objects, with residuals (Fig. 3)."""
    n = data.shape[0]
    fig, axes = plt.subplots(2 * n, 1, figsize=(11, 2.6 * n), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1] * n})
    sel = np.ones(wavelength.size, bool)
    if wave_range is not None:
        sel = (wavelength >= wave_range[0]) & (wavelength <= wave_range[1])
        if sel.sum() < 2:
            sel = np.ones(wavelength.size, bool)
    wl = wavelength[sel]
    for i in range(n):
        ax, axr = axes[2 * i], axes[2 * i + 1]
        d = np.where(missing[i], np.nan, data[i])[sel]
        ax.plot(wl, d, "k-", lw=0.7, label="data")
        ax.plot(wl, from_flux[i][sel], "-", color="c", lw=0.9, label="model from spectrum")
        axr.plot(wl, d - from_flux[i][sel], "-", color="c", lw=0.6)
        if from_labels is not None:
            ax.plot(wl, from_labels[i][sel], "-", color="navy", lw=0.9, alpha=0.8,
                    label="model from labels")
            axr.plot(wl, d - from_labels[i][sel], "-", color="navy", lw=0.6, alpha=0.8)
        axr.axhline(0, color="k", lw=0.5)
        ax.set_ylabel("flux")
        axr.set_ylabel("resid.")
        ax.set_title(titles[i], fontsize=8, loc="left")
        if i == 0:
            ax.legend(fontsize=7, ncol=3, loc="lower right")
    axes[-1].set_xlabel("wavelength (Å)")
    fig.tight_layout()
    savefig_atomic(fig, path)


def derivative_spectra_plot(wavelength: np.ndarray, deriv: np.ndarray, names: Sequence[str],
                            path: str | Path, windows: dict[str, np.ndarray] | None = None,
                            wave_range: tuple[float, float] | None = None,
                            spectrum: np.ndarray | None = None,
                            title: str = "") -> None:
    """One row per label: d label / d flux (eq. 13, Fig. 6), with the label's element
    windows shaded when given; optionally an example spectrum on top."""
    rows = len(names) + (spectrum is not None)
    fig, axes = plt.subplots(rows, 1, figsize=(11, 1.7 * rows + 0.6), sharex=True,
                             squeeze=False)
    axes = axes[:, 0]
    sel = np.ones(wavelength.size, bool)
    if wave_range is not None:
        sel = (wavelength >= wave_range[0]) & (wavelength <= wave_range[1])
        if sel.sum() < 2:
            sel = np.ones(wavelength.size, bool)
    wl = wavelength[sel]
    k = 0
    if spectrum is not None:
        axes[0].plot(wl, spectrum[sel], "k-", lw=0.6)
        axes[0].set_ylabel("flux")
        k = 1
    for j, name in enumerate(names):
        ax = axes[k + j]
        if windows and name in windows:
            _shade(ax, wl, windows[name][sel], "C1", "element windows")
            ax.legend(fontsize=7, loc="upper right")
        ax.plot(wl, deriv[j][sel], "-", color="m", lw=0.6)
        ax.axhline(0, color="k", lw=0.4)
        ax.set_ylabel(f"∂{name}/∂f", fontsize=8)
    axes[-1].set_xlabel("wavelength (Å)")
    if title:
        axes[0].set_title(title, fontsize=9)
    fig.tight_layout()
    savefig_atomic(fig, path)


def precision_vs_snr(snr: np.ndarray, analytic: np.ndarray, realised: np.ndarray,
                     names: Sequence[str], path: str | Path, n_realizations: int = 0) -> None:
    """Label precision vs SNR (Fig. 10): the analytic (Fisher) error and the scatter over
    noise realisations of each object, median and 16-84 % band in SNR bins."""
    fig, axes = _grid(len(names))
    for j, (ax, name) in enumerate(zip(axes, names, strict=True)):
        for vals, color, label in ((realised[:, j], "C0", f"{n_realizations} noise realisations"),
                                   (analytic[:, j], "C3", "analytic (Fisher)")):
            c, med, p16, p84 = _binned(snr, vals)
            if c.size:
                ax.plot(c, med, "-", color=color, lw=1.5, label=label)
                ax.fill_between(c, p16, p84, color=color, alpha=0.2, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("SNR")
        ax.set_ylabel(f"$\\sigma$ {name}")
        if j == 0:
            ax.legend(fontsize=7)
    fig.suptitle("label precision vs SNR (labels from spectra)", fontsize=10)
    fig.tight_layout()
    savefig_atomic(fig, path)


def latent_map(xy: np.ndarray, colors: dict[str, np.ndarray], path: str | Path,
               title: str = "", axis_label: str = "component") -> None:
    """A 2-D embedding of the latents, one panel per label colouring (Fig. 19)."""
    names = list(colors)
    fig, axes = _grid(len(names), ncols=4, size=(3.3, 3.0))
    for ax, name in zip(axes, names, strict=True):
        c = colors[name]
        m = np.isfinite(c) & np.isfinite(xy).all(1)
        vlim = np.nanpercentile(c[m], [2, 98]) if m.any() else (None, None)
        sc = ax.scatter(xy[m, 0], xy[m, 1], c=c[m], s=3, lw=0, cmap="viridis",
                        vmin=vlim[0], vmax=vlim[1])
        fig.colorbar(sc, ax=ax)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{axis_label} 1", fontsize=7)
        ax.set_ylabel(f"{axis_label} 2", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    savefig_atomic(fig, path)
