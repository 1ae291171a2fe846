"""Validation figures (matplotlib, Agg backend): one-to-one plots per label."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["one_to_one", "savefig_atomic"]


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
