"""Validation figures (matplotlib, Agg backend), each written atomically as PNG.

Label figures: one-to-one plots (paper Fig. 7), residuals vs SNR, error calibration,
Kiel / Tinsley–Wallerstein diagrams (Fig. 8), reduced chi^2 histograms (Fig. 4),
precision vs SNR (Fig. 10), latent maps (Fig. 19) and the cross-validation heat map
(Fig. 14). Spectral figures (data vs model, derivative spectra) are in
:mod:`starlux.evaluate.spectrum_plots`.

Every axis names its quantity the way a paper would, with its unit
(:mod:`starlux.labels`: T_eff in K, log g and abundances in dex), and every figure
uses matplotlib's constrained layout so that nothing is clipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402
from scipy import stats  # noqa: E402

from ..labels import axis_label, delta_label, label_info  # noqa: E402

__all__ = ["one_to_one", "one_to_one_all", "savefig_atomic", "cv_heatmap", "residuals_vs_snr",
           "label_diagram", "chi2_hist", "precision_vs_snr", "latent_map",
           "calibration_plot", "binned_quantiles", "panel_grid", "log_axis", "snr_axis"]

DPI = 110


def savefig_atomic(fig, path: str | Path, dpi: int = DPI) -> None:
    """Save a figure so that a crash never leaves a half-written file."""
    from ..io.datasets import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)


def _unit(name: str) -> str:
    u = label_info(name).unit
    return {"km / s": "km/s"}.get(u, u)


def _fmt(v: float, name: str) -> str:
    u = _unit(name)
    return f"{v:.3g} {u}".rstrip()


def log_axis(axis) -> None:
    """Log-scale tick labels that never overlap and are never empty: plain numbers on
    1-2-5 ticks, or denser ones (1-2-3-5, 1-2-3-4-6-8) when the axis spans less than a
    decade or two; no minor labels. Call it after plotting (it reads the limits)."""
    lo, hi = sorted(abs(v) for v in axis.get_view_interval())
    span = np.log10(hi / lo) if lo > 0 and hi > 0 else 3.0
    subs = ((1.0, 2.0, 3.0, 4.0, 6.0, 8.0) if span < 0.6 else (1.0, 2.0, 3.0, 5.0)
            if span < 1.3 else (1.0, 2.0, 5.0) if span < 3 else (1.0,))
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=15))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def snr_axis(ax, snr: np.ndarray) -> None:
    """A log SNR axis when the SNR spans more than a factor 5, else a linear one."""
    s = np.asarray(snr, float)
    s = s[np.isfinite(s) & (s > 0)]
    if s.size and s.max() / s.min() > 5:
        ax.set_xscale("log")
        log_axis(ax.xaxis)
    ax.set_xlabel("SNR")


def panel_grid(n: int, size: tuple[float, float] = (3.4, 2.9), max_cols: int = 5,
               legend_slot: bool = False, **kw):
    """A figure with ``n`` panels in rows that are full, or nearly so.

    The column count (up to ``max_cols``) leaves the fewest empty slots; an empty slot
    is turned into the legend's place when ``legend_slot`` (returned as the second
    value, else None) and hidden otherwise.
    """
    need = n + (1 if legend_slot else 0)
    if need <= max_cols:
        ncols = need
    else:
        ncols = min(range(3, max_cols + 1), key=lambda c: ((-need) % c, -c))
    nrows = int(np.ceil(need / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False, layout="constrained", **kw)
    flat = axes.ravel()
    spare = None
    for ax in flat[n:]:
        ax.set_axis_off()
    if legend_slot and flat.size > n:
        spare = flat[n]
    return fig, flat[:n], spare


def binned_quantiles(x: np.ndarray, y: np.ndarray, n_bins: int = 10, log: bool = True,
                     min_count: int = 5, quantiles: Sequence[float] = (50, 16, 84),
                     ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Bin centres of x and the percentiles of y in each bin (bins with fewer than
    ``min_count`` objects dropped), by :func:`scipy.stats.binned_statistic`."""
    m = np.isfinite(x) & np.isfinite(y) & ((x > 0) if log else True)
    x, y = x[m], y[m]
    if x.size < min_count:
        return np.array([]), [np.array([]) for _ in quantiles]
    lo, hi = x.min(), x.max()
    hi = hi if hi > lo else lo + 1.0
    edges = np.geomspace(lo, hi * 1.0001, n_bins + 1) if log else np.linspace(lo, hi, n_bins + 1)
    count = stats.binned_statistic(x, y, "count", bins=edges).statistic
    keep = count >= min_count
    centres = np.sqrt(edges[:-1] * edges[1:]) if log else 0.5 * (edges[:-1] + edges[1:])
    out = [stats.binned_statistic(x, y, lambda v, q=q: np.percentile(v, q) if v.size
                                  else np.nan, bins=edges).statistic[keep]
           for q in quantiles]
    return centres[keep], out


# ------------------------------------------------------------------ one-to-one


def one_to_one(pred: np.ndarray, reference: np.ndarray, name: str, path: str | Path,
               pred_err: np.ndarray | None = None, reference_err: np.ndarray | None = None,
               color: np.ndarray | None = None, color_label: str = "",
               reference_name: str = "reference", pred_name: str = "predicted") -> None:
    """Predicted vs reference values of one label, with bias / RMSE / mean errors in
    the label's unit, and the residuals below (Fig. 7)."""
    m = np.isfinite(pred) & np.isfinite(reference)
    r = pred[m] - reference[m]
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(4.6, 5.6), sharex=True, layout="constrained",
                                  gridspec_kw={"height_ratios": [3, 1]})
    kw = dict(s=5, alpha=0.7, lw=0)
    if color is None:
        sc = ax.scatter(reference[m], pred[m], color="C0", **kw)
    else:
        sc = ax.scatter(reference[m], pred[m], c=color[m], cmap="viridis", **kw)
    if m.any():
        lo, hi = np.nanpercentile(np.r_[reference[m], pred[m]], [0.5, 99.5])
        pad = 0.05 * (hi - lo if hi > lo else 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k-", lw=0.8)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
    text = [f"N = {int(m.sum())}",
            f"bias = {_fmt(np.mean(r), name)}" if r.size else "bias = n/a",
            f"RMSE = {_fmt(np.sqrt(np.mean(r**2)), name)}" if r.size else "RMSE = n/a"]
    if pred_err is not None and r.size:
        text.append(f"mean error = {_fmt(np.mean(pred_err[m]), name)}")
    if reference_err is not None and r.size:
        text.append(f"mean {reference_name} error = {_fmt(np.nanmean(reference_err[m]), name)}")
    ax.text(0.04, 0.96, "\n".join(text), transform=ax.transAxes, va="top", fontsize=8,
            bbox=dict(fc="w", ec="0.8", alpha=0.8))
    ax.set_ylabel(axis_label(name, pred_name))
    ax.set_title(label_info(name).tex)
    if color is not None:
        fig.colorbar(sc, ax=[ax, axr], label=color_label)
    axr.scatter(reference[m], r, s=4, alpha=0.6, lw=0, color="C0")
    axr.axhline(0, color="k", lw=0.8)
    axr.set_xlabel(axis_label(name, {"truth": "true"}.get(reference_name, reference_name)))
    axr.set_ylabel(delta_label(name))
    savefig_atomic(fig, path)


def one_to_one_all(pred: np.ndarray, reference: np.ndarray, names: Sequence[str],
                   outdir: str | Path, pred_err: np.ndarray | None = None,
                   reference_err: np.ndarray | None = None, prefix: str = "one_to_one_",
                   reference_name: str = "reference") -> list[Path]:
    """One PNG per label; returns the paths written."""
    outdir = Path(outdir)
    paths = []
    for j, name in enumerate(names):
        p = outdir / f"{prefix}{name}.png"
        one_to_one(pred[:, j], reference[:, j], name, p,
                   None if pred_err is None else pred_err[:, j],
                   None if reference_err is None else reference_err[:, j],
                   reference_name=reference_name)
        paths.append(p)
    return paths


# ------------------------------------------------------------------ cross-validation


CV_TITLES = {"chi2_flux": "eq. A1, latents from spectra",
             "chi2_labels": "eq. A1, latents from labels",
             "label_chi2": "label term, latents from spectra",
             "chi2_sum": "sum of both",
             "rmse_scaled": "held-out label RMSE / label scale"}


def _entries(row: dict, metric: str) -> float:
    """Observed entries behind a chi^2 of one CV row (to make it reduced)."""
    total = sum(v for k, v in row.items() if k.startswith("n[") and k.endswith("]"))
    if metric == "label_chi2":
        return float(row.get("n_label_entries", np.nan))
    if metric == "chi2_sum":
        return 2.0 * total
    return float(total)


def _reduced_table(result, metric: str) -> np.ndarray:
    """(n_P, n_Omega) median over folds of the reduced metric (chi^2 per observed
    entry; RMSE-type metrics unchanged)."""
    ps = [p for _, p in result.grid]
    out = np.full((len(ps), len(result.regs)), np.nan)
    for i, p in enumerate(ps):
        for j, reg in enumerate(result.regs):
            rows = [r for r in result.rows if r["P"] == p and r["reg"] == reg]
            if metric.startswith("rmse"):
                v = [r[metric] for r in rows]
            else:
                v = [r[metric] / _entries(r, metric) for r in rows]
            v = np.asarray(v, float)
            if np.isfinite(v).any():
                out[i, j] = np.nanmedian(v)
    return out


def cv_heatmap(result, path: str | Path) -> None:
    """Fig. 14: the median over folds of the reduced held-out chi^2 (eq. A1 divided by
    the observed entries, so 1 is a fit to within the errors) on the (P, Omega) grid,
    latents from spectra and from labels, and the selection metric. Lower is better
    (darker in the colour map); the smallest value is marked with a star and the
    chosen setting (one-standard-error rule unless ``rule="min"``) boxed in red."""
    sel = result.select
    third = sel if sel not in ("chi2_flux", "chi2_labels") else "rmse_scaled"
    panels = ["chi2_flux", "chi2_labels", third]
    ps = [f"{s} (P={p})" for s, p in result.grid]
    regs = [f"{r:g}" for r in result.regs]
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 0.55 * len(ps) + 3.0), layout="constrained")
    bi = [p for _, p in result.grid].index(result.best_latents)
    bj = result.regs.index(result.best_reg)
    for ax, metric in zip(axes, panels, strict=True):
        t = _reduced_table(result, metric)
        finite = t[np.isfinite(t)]
        use_log = bool(finite.size) and finite.min() > 0 and finite.max() / finite.min() > 20
        shown = np.log10(t) if use_log else t
        im = ax.imshow(shown, origin="lower", aspect="auto", cmap="viridis")
        mid = np.nanmean(shown[np.isfinite(shown)]) if finite.size else 0.0
        for i in range(t.shape[0]):
            for j in range(t.shape[1]):
                if np.isfinite(t[i, j]):
                    ax.text(j, i, f"{t[i, j]:.3g}", ha="center", va="center", fontsize=8,
                            color="w" if shown[i, j] < mid else "k")
        if finite.size:
            mi, mj = np.unravel_index(np.nanargmin(t), t.shape)
            ax.plot(mj, mi + 0.32, marker="*", ms=9, color="w", mec="k", mew=0.6)
        ax.add_patch(plt.Rectangle((bj - 0.5, bi - 0.5), 1, 1, fill=False, ec="r", lw=2.2))
        ax.set_xticks(range(len(regs)), regs)
        ax.set_yticks(range(len(ps)), ps, fontsize=8)
        ax.set_xlabel(r"L2 strength $\Omega$")
        ax.set_ylabel("latent size")
        what = "RMSE / scale" if metric.startswith("rmse") else r"reduced $\chi^2$"
        ax.set_title(f"{what}: {CV_TITLES.get(metric, metric)}", fontsize=9)
        cb = fig.colorbar(im, ax=ax)
        cb.set_label(("log$_{10}$ " if use_log else "") + f"{what}, median of "
                     f"{len(result.folds)} folds")
    rule = ("chosen: the smallest P whose median is within one standard error (over "
            "folds) of the best" if result.rule == "1se" else "chosen: the smallest median")
    handles = [Patch(fc="none", ec="r", lw=2, label=f"{rule}; then the best Ω at that P"),
               Line2D([], [], marker="*", ls="", ms=9, color="w", mec="k",
                      label="smallest value in the panel")]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(f"{len(result.folds)}-fold cross-validation, selected on "
                 f"{CV_TITLES.get(sel, sel)}: P = {result.best_latents}, "
                 f"Ω = {result.best_reg:g}   (lower is better)", fontsize=10)
    savefig_atomic(fig, path)


# ------------------------------------------------------------------ residuals, calibration


def residuals_vs_snr(pred: np.ndarray, reference: np.ndarray, names: Sequence[str],
                     snr: np.ndarray, path: str | Path, pred_err: np.ndarray | None = None,
                     reference_err: np.ndarray | None = None,
                     reference_name: str = "catalogue") -> None:
    """Residual (predicted − reference) of each label against SNR, with the running
    median and 16–84 % band; dashed, the expected ±1σ: the predicted error, with the
    reference's own error added in quadrature when one is given (a catalogue)."""
    fig, axes, spare = panel_grid(len(names), legend_slot=len(names) > 1)
    handles = []
    for j, (ax, name) in enumerate(zip(axes, names, strict=True)):
        r = pred[:, j] - reference[:, j]
        m = np.isfinite(r) & np.isfinite(snr) & (snr > 0)
        ax.scatter(snr[m], r[m], s=3, alpha=0.4, lw=0, color="0.45")
        c, (med, p16, p84) = binned_quantiles(snr[m], r[m])
        if c.size:
            ax.plot(c, med, "C3-", lw=1.5)
            ax.fill_between(c, p16, p84, color="C3", alpha=0.25, lw=0)
        if pred_err is not None:
            sig = pred_err[:, j] ** 2
            if reference_err is not None:
                sig = sig + reference_err[:, j] ** 2
            ce, (emed,) = binned_quantiles(snr[m], np.sqrt(sig[m]), quantiles=(50,))
            if ce.size:
                ax.plot(ce, emed, "k--", lw=1)
                ax.plot(ce, -emed, "k--", lw=1)
        ax.axhline(0, color="k", lw=0.6)
        snr_axis(ax, snr[m])
        ax.set_ylabel(delta_label(name))
    expected = ("±1σ expected: predicted error ⊕ catalogue error" if reference_err is not None
                else "±1σ expected: predicted error")
    handles = [Line2D([], [], color="C3", lw=1.5, label="running median"),
               Patch(color="C3", alpha=0.25, label="16–84 % of residuals"),
               Line2D([], [], color="k", ls="--", lw=1, label=expected)]
    (spare or axes[0]).legend(handles=handles, fontsize=7,
                              loc="center" if spare is not None else "upper right")
    fig.suptitle(f"residuals (predicted − {reference_name}) vs SNR", fontsize=10)
    savefig_atomic(fig, path)


def calibration_plot(resid: np.ndarray, sigma: np.ndarray, snr: np.ndarray | None,
                     name: str, path: str | Path, sigma_label: str = "predicted error",
                     n_bins: int = 6) -> None:
    """Are the errors honest for one label? Left: the fraction of objects with
    |resid| < k·σ against k, beside the Gaussian expectation erf(k/√2). Right: the
    std of resid/σ in SNR bins (1 for honest errors), with its ±1 standard error."""
    from scipy.special import erf

    m = np.isfinite(resid) & np.isfinite(sigma) & (sigma > 0)
    zs = resid[m] / sigma[m]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.4, 3.4), layout="constrained")
    k = np.linspace(0, 3.5, 141)
    a1.plot(k, erf(k / np.sqrt(2)), "k--", lw=1, label="Gaussian, honest errors")
    if zs.size:
        frac = (np.abs(zs)[None, :] < k[:, None]).mean(axis=1)
        a1.plot(k, frac, "C0-", lw=1.6, label=f"starlux (N={zs.size})")
        for kk in (1, 2):
            a1.plot(kk, np.mean(np.abs(zs) < kk), "o", color="C0", ms=4)
            a1.annotate(f"{np.mean(np.abs(zs) < kk):.2f}", (kk, np.mean(np.abs(zs) < kk)),
                        textcoords="offset points", xytext=(8, -14), fontsize=7)
    a1.set_xlabel(r"$k$ (residual in units of σ)")
    a1.set_ylabel(r"fraction with |Δ| < $k$σ")
    a1.set_xlim(0, 3.5)
    a1.set_ylim(0, 1.02)
    a1.legend(fontsize=7, loc="lower right")
    a1.grid(alpha=0.3)
    if snr is not None and zs.size:
        s = np.asarray(snr)[m]
        ok = np.isfinite(s) & (s > 0)
        if ok.sum() >= 10:
            edges = np.unique(np.quantile(s[ok], np.linspace(0, 1, n_bins + 1)))
            std = stats.binned_statistic(s[ok], zs[ok], "std", bins=edges).statistic
            cnt = stats.binned_statistic(s[ok], zs[ok], "count", bins=edges).statistic
            centres = np.sqrt(edges[:-1] * edges[1:])
            err = std / np.sqrt(2 * np.maximum(cnt - 1, 1))
            a2.errorbar(centres, std, yerr=err, fmt="o-", color="C0", ms=4, lw=1,
                        capsize=2, label="std in SNR bins (equal counts)")
            snr_axis(a2, s[ok])
    a2.axhline(1.0, color="k", ls="--", lw=1, label="honest errors")
    a2.set_xlabel("SNR")
    a2.set_ylabel("std(Δ / σ)")
    a2.set_ylim(bottom=0)
    a2.legend(fontsize=7)
    a2.grid(alpha=0.3)
    fig.suptitle(f"error calibration of {label_info(name).tex}: σ = {sigma_label}",
                 fontsize=10)
    savefig_atomic(fig, path)


# ------------------------------------------------------------------ label diagrams


def _diagram(ax, x, y, c, clabel, title, cmap, vlim, fig):
    m = np.isfinite(x) & np.isfinite(y)
    if c is not None:
        m &= np.isfinite(c)
        sc = ax.scatter(x[m], y[m], c=c[m], s=5, lw=0, alpha=0.8, cmap=cmap,
                        vmin=vlim[0], vmax=vlim[1])
        return sc, int(m.sum())
    ax.scatter(x[m], y[m], s=5, lw=0, alpha=0.8, color="k")
    return None, int(m.sum())


def label_diagram(pred: dict[str, np.ndarray], ref: dict[str, np.ndarray], x: str, y: str,
                  path: str | Path, color: str | None = None, invert: bool = False,
                  titles: tuple[str, str] = ("starlux, from spectra", "catalogue"),
                  suptitle: str = "") -> None:
    """Two panels side by side: label y vs label x, predicted (left) and catalogue
    (right), with shared axes and one colour scale (Fig. 8)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3), sharex=True, sharey=True,
                             layout="constrained")
    both = [pred, ref]
    cvals = np.concatenate([d[color] for d in both]) if color else None
    vlim = tuple(np.nanpercentile(cvals, [2, 98])) if color else (None, None)
    sc = None
    for ax, d, t in zip(axes, both, titles, strict=True):
        s, n = _diagram(ax, d[x], d[y], d[color] if color else None, color or "", t,
                        "viridis", vlim, fig)
        sc = sc or s
        ax.set_title(f"{t} (N = {n})", fontsize=9)
        ax.set_xlabel(axis_label(x))
    axes[0].set_ylabel(axis_label(y))
    if sc is not None:
        fig.colorbar(sc, ax=list(axes), label=axis_label(color))
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
    savefig_atomic(fig, path)


# ------------------------------------------------------------------ chi^2


def chi2_hist(chi2: dict[str, np.ndarray], path: str | Path, title: str = "") -> None:
    """Histograms of the reduced chi^2 of each object (Fig. 4), one per case, on a
    log axis with 1-2-5 ticks and integer object counts."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0), layout="constrained")
    vals = [v[np.isfinite(v) & (v > 0)] for v in chi2.values()]
    allv = np.concatenate(vals) if vals else np.array([])
    if allv.size:
        lo = min(np.percentile(allv, 0.5) / 1.5, 0.5)
        hi = max(np.percentile(allv, 99.5) * 1.5, 2.0)
    else:
        lo, hi = 0.1, 10.0
    bins = np.geomspace(lo, hi, 40)
    for (label, _), v in zip(chi2.items(), vals, strict=True):
        med = np.median(v) if v.size else np.nan
        ax.hist(np.clip(v, bins[0], bins[-1]), bins=bins, histtype="step", lw=1.5,
                label=f"{label} (median {med:.3g}, N = {v.size})")
    ax.axvline(1.0, color="k", ls=":", lw=1, label=r"$\chi^2_\nu$ = 1")
    ax.set_xscale("log")
    log_axis(ax.xaxis)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(r"reduced $\chi^2$ of the spectrum ($\chi^2$ / observed pixels)")
    ax.set_ylabel("number of objects")
    ax.legend(fontsize=7)
    ax.set_title(title or "spectral fit quality per object", fontsize=9)
    savefig_atomic(fig, path)


# ------------------------------------------------------------------ precision, latents


def precision_vs_snr(snr: np.ndarray, analytic: np.ndarray, realised: np.ndarray,
                     names: Sequence[str], path: str | Path, n_realizations: int = 0) -> None:
    """Label precision vs SNR (Fig. 10): the analytic (Fisher) error and the scatter over
    noise realisations of each object, median and 16–84 % band in SNR bins."""
    fig, axes, spare = panel_grid(len(names), legend_slot=len(names) > 1)
    cases = ((realised, "C0", f"std over {n_realizations} noise realisations"),
             (analytic, "C3", "analytic (Fisher) error"))
    for j, (ax, name) in enumerate(zip(axes, names, strict=True)):
        for vals, color, _ in cases:
            c, (med, p16, p84) = binned_quantiles(snr, vals[:, j])
            if c.size:
                ax.plot(c, med, "-", color=color, lw=1.5)
                ax.fill_between(c, p16, p84, color=color, alpha=0.2, lw=0)
        ax.set_yscale("log")
        log_axis(ax.yaxis)
        snr_axis(ax, snr)
        unit = _unit(name)
        ax.set_ylabel(f"σ {label_info(name).tex}" + (f" ({unit})" if unit else ""))
    handles = [Line2D([], [], color=c, lw=1.5, label=lab) for _, c, lab in cases]
    handles.append(Patch(color="0.5", alpha=0.3, label="16–84 % in each SNR bin"))
    (spare or axes[0]).legend(handles=handles, fontsize=7,
                              loc="center" if spare is not None else "best")
    fig.suptitle("label precision vs SNR (labels from spectra; model error not included)",
                 fontsize=10)
    savefig_atomic(fig, path)


def latent_map(xy: np.ndarray, colors: dict[str, np.ndarray], path: str | Path,
               title: str = "", axis_label_text: str = "component") -> None:
    """A 2-D embedding of the latents, one panel per label colouring (Fig. 19)."""
    names = list(colors)
    fig, axes, _ = panel_grid(len(names), size=(3.4, 3.0))
    for ax, name in zip(axes, names, strict=True):
        c = colors[name]
        m = np.isfinite(c) & np.isfinite(xy).all(1)
        vlim = np.nanpercentile(c[m], [2, 98]) if m.any() else (None, None)
        sc = ax.scatter(xy[m, 0], xy[m, 1], c=c[m], s=3, lw=0, cmap="viridis",
                        vmin=vlim[0], vmax=vlim[1])
        fig.colorbar(sc, ax=ax, label=axis_label(name))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{axis_label_text} 1", fontsize=8)
        ax.set_ylabel(f"{axis_label_text} 2", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    savefig_atomic(fig, path)
