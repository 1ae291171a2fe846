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
