"""Label metrics the way astronomers judge them: bias, RMSE, errors, calibration.

The calibration columns compare the residual with the error it should have. Against
the *truth* that is the predicted error alone; against a *catalogue* the catalogue's
own noise is in the residual too, so its error is added in quadrature:
std((pred − ref) / sqrt(err² + ref_err²)) should be 1 for honest errors either way.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence

import numpy as np

__all__ = ["label_metrics", "format_metrics", "metrics_to_csv", "metrics_table",
           "COLUMN_TITLES"]

COLUMN_TITLES: dict[str, str] = {
    "output": "output",
    "label": "label",
    "n": "N",
    "bias": "bias",
    "rmse": "RMSE",
    "mean_err": "mean predicted error",
    "z_std": "std(resid / error)",
    "within_1sigma": "fraction within 1σ",
    "mean_ref_err": "mean catalogue error",
    "reference": "compared with",
}
"""Printed titles of the :func:`label_metrics` keys."""


def label_metrics(pred: np.ndarray, pred_err: np.ndarray, reference: np.ndarray,
                  names: Sequence[str], reference_err: np.ndarray | None = None,
                  reference_is_truth: bool | None = None,
                  ) -> list[dict[str, float | str | int]]:
    """Per label: n, bias (pred − ref), RMSE, mean predicted error, the standardised
    residual's std and the fraction of objects within 1σ, and the mean reference error.

    All arrays (N, M) in natural units; NaN reference entries are skipped.

    Args:
        reference_err: the reference's own 1-sigma errors (a catalogue's).
        reference_is_truth: whether ``reference`` is noise-free. By default it is a
            catalogue (noisy) when ``reference_err`` is given, and then the catalogue
            error is added to the predicted error in quadrature in ``z_std`` and
            ``within_1sigma``; ``reference`` says which was done.
    """
    if reference_is_truth is None:
        reference_is_truth = reference_err is None
    add_ref = (not reference_is_truth) and reference_err is not None
    what = ("truth" if reference_is_truth else
            "catalogue (its error added in quadrature)" if add_ref else "catalogue")
    rows = []
    for j, name in enumerate(names):
        m = np.isfinite(reference[:, j]) & np.isfinite(pred[:, j])
        if add_ref:
            m &= np.isfinite(reference_err[:, j])
        r = pred[m, j] - reference[m, j]
        sig = pred_err[m, j]
        if add_ref:
            sig = np.sqrt(sig**2 + reference_err[m, j] ** 2)
        ok = r.size > 0
        row: dict[str, float | str | int] = {
            "label": str(name),
            "n": int(m.sum()),
            "bias": float(np.mean(r)) if ok else np.nan,
            "rmse": float(np.sqrt(np.mean(r**2))) if ok else np.nan,
            "mean_err": float(np.mean(pred_err[m, j])) if ok else np.nan,
            "z_std": float(np.std(r / sig)) if ok else np.nan,
            "within_1sigma": float(np.mean(np.abs(r) < sig)) if ok else np.nan,
        }
        if reference_err is not None:
            row["mean_ref_err"] = float(np.nanmean(reference_err[m, j])) if ok else np.nan
        row["reference"] = what
        rows.append(row)
    return rows


def metrics_table(rows: list[dict]):
    """:func:`label_metrics` rows as an astropy Table with printed column titles and
    4 significant digits."""
    from astropy.table import Table

    cols = [c for c in COLUMN_TITLES if rows and c in rows[0]]
    t = Table(rows=[[r[c] for c in cols] for r in rows], names=cols)
    for c in cols:
        if t[c].dtype.kind == "f":
            t[c].format = ".4g"
        t[c].name = COLUMN_TITLES[c]
    return t


def format_metrics(rows: list[dict], title: str = "") -> str:
    """A fixed-width text table of :func:`label_metrics` rows (astropy's formatter)."""
    if not rows:
        return title
    shown = [{k: v for k, v in r.items() if k != "reference"} for r in rows]
    lines = [title] if title else []
    lines += metrics_table(shown).pformat(max_lines=-1, max_width=-1)
    what = rows[0].get("reference")
    if what:
        lines.append(f"(std(resid / error) and fraction within 1σ against the {what})")
    return "\n".join(lines)


def metrics_to_csv(rows: list[dict], path: str) -> None:
    """Write :func:`label_metrics` rows as CSV (atomically, with the csv module)."""
    from ..io.datasets import atomic_path

    cols = list(rows[0]) if rows else []
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
