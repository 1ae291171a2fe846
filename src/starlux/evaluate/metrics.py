"""Label metrics the way astronomers judge them: bias, RMSE, errors, calibration."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["label_metrics", "format_metrics", "metrics_to_csv"]


def label_metrics(pred: np.ndarray, pred_err: np.ndarray, reference: np.ndarray,
                  names: Sequence[str], reference_err: np.ndarray | None = None,
                  ) -> list[dict[str, float | str | int]]:
    """Per label: n, bias (pred - ref), RMSE, mean predicted error, std of the
    standardised residual (pred - ref) / pred_err, and the mean reference error.

    All arrays (N, M) in natural units; NaN reference entries are skipped.
    """
    rows = []
    for j, name in enumerate(names):
        m = np.isfinite(reference[:, j]) & np.isfinite(pred[:, j])
        r = pred[m, j] - reference[m, j]
        row: dict[str, float | str | int] = {
            "label": str(name),
            "n": int(m.sum()),
            "bias": float(np.mean(r)) if r.size else np.nan,
            "rmse": float(np.sqrt(np.mean(r**2))) if r.size else np.nan,
            "mean_err": float(np.mean(pred_err[m, j])) if r.size else np.nan,
            "z_std": float(np.std(r / pred_err[m, j])) if r.size else np.nan,
        }
        if reference_err is not None:
            row["mean_ref_err"] = float(np.nanmean(reference_err[m, j])) if r.size else np.nan
        rows.append(row)
    return rows


def format_metrics(rows: list[dict], title: str = "") -> str:
    """A fixed-width text table of :func:`label_metrics` rows."""
    cols = [c for c in ("label", "n", "bias", "rmse", "mean_err", "z_std", "mean_ref_err")
            if rows and c in rows[0]]
    head = {"label": "label", "n": "N", "bias": "bias", "rmse": "RMSE",
            "mean_err": "mean err", "z_std": "std(resid/err)", "mean_ref_err": "mean ref err"}
    lines = [title] if title else []
    lines.append("  ".join(f"{head[c]:>14}" for c in cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            cells.append(f"{v:>14}" if isinstance(v, str | int) else f"{v:>14.4g}")
        lines.append("  ".join(cells))
    return "\n".join(lines)


def metrics_to_csv(rows: list[dict], path: str) -> None:
    """Write :func:`label_metrics` rows as CSV (atomically)."""
    from ..io.datasets import atomic_path

    cols = list(rows[0]) if rows else []
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        fh.write(",".join(cols) + "\n")
        for r in rows:
            fh.write(",".join(str(r[c]) for c in cols) + "\n")
