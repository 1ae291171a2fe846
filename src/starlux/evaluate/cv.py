"""K-fold cross-validation of the latent size P and the L2 strength Omega (paper app. A).

For every fold k and every grid point (P, Omega), a model is trained on the other folds
(``Lux(latents=P, reg=Omega, calibrate=False).fit``) and applied to fold k twice:

* latents inferred from the held-out **spectra** (the test step of paper §4.3), and
* latents inferred from the held-out **labels** (the emulator direction).

Each time the chi^2 metric of paper eq. A1 is summed over all held-out objects,

    chi^2 = sum_n [ sum_labels (l - A z)^2 / sigma_l^2
                    + sum_pixels (f - B z)^2 / (sigma_f^2 + s^2) ],

over observed entries only (missing entries never count), together with the held-out
label RMSE (labels predicted from spectra). The grid point with the smallest median
(over folds) of the selection metric wins; by default that metric is the label term
of eq. A1 with latents from spectra, and the one-standard-error rule prefers the
smallest P that is statistically as good (see :func:`cross_validate`).

Folds × grid points are independent tasks; they run in parallel worker threads (or
processes) when ``n_jobs > 1`` and give the same numbers whatever ``n_jobs`` is
(every task uses the same seed and its own data only).

Command line (:mod:`starlux.commands.cv`): ``starlux cv TRAIN_FILE --out DIR
[--latents 1x 2x 4x 8x] [--reg 1 10 100 1000] [--folds 5] [--refit]``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data import DataError, Dataset, label_folds
from ..model import Lux, LuxModel, latent_grid

__all__ = ["CVResult", "cross_validate", "choose_best", "heldout_chi2", "make_folds",
           "parse_latent_grid", "parse_reg_grid", "SELECT_METRICS", "write_cv"]

SELECT_METRICS = ("label_chi2", "chi2_flux", "chi2_labels", "chi2_sum", "rmse_scaled")
"""Metrics a best setting can be chosen by (median over folds, smaller is better):

* ``label_chi2`` (default): the label term of eq. A1 with latents from spectra,
  i.e. how well held-out labels are predicted from spectra, in units of their errors;
* ``chi2_flux``: eq. A1 with latents from spectra (paper Fig. 14 left);
* ``chi2_labels``: eq. A1 with latents from labels (Fig. 14 right);
* ``chi2_sum``: the sum of the two;
* ``rmse_scaled``: held-out label RMSE from spectra, each label divided by its scale
  ((p97.5 - p2.5) / 4), averaged over labels.
"""


# ------------------------------------------------------------------------------ grids


def parse_latent_grid(spec: str | Sequence[str | int], n_labels: int) -> list[tuple[str, int]]:
    """``"1x,2x,4x,8x"`` (or integers) -> [(as written, P)], duplicates removed: the
    grammar of :func:`starlux.spec.latent_grid` (``"kx"`` is k times the label count M;
    P is raised to the M + 1 the eq. 9 initialisation needs)."""
    return latent_grid(spec, n_labels)


def parse_reg_grid(spec: str | Sequence[float]) -> list[float]:
    """``"1,10,100,1000"`` -> [1.0, 10.0, 100.0, 1000.0] (duplicates removed)."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[float] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        try:
            r = float(item)
        except ValueError:
            raise ValueError(f"regularisation grid entry {item!r} is not a number") from None
        if not (math.isfinite(r) and r >= 0):
            raise ValueError(f"regularisation strengths must be finite and >= 0, got {r}")
        if r not in out:
            out.append(r)
    if not out:
        raise ValueError("empty regularisation grid")
    return out


def make_folds(dataset: Dataset, k: int, seed: int = 0) -> list[np.ndarray]:
    """:func:`starlux.data.label_folds` with a seed, after checking there are enough
    labelled objects for ``k`` folds."""
    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    folds = label_folds(dataset, k, np.random.default_rng(seed))
    if sum(len(f) for f in folds) < 2 * k:
        raise DataError(f"only {sum(len(f) for f in folds)} labelled objects: too few for "
                        f"{k} folds")
    return folds


# ------------------------------------------------------------------------- the metric


def heldout_chi2(model: LuxModel, data: Dataset, inputs: Sequence[str],
                 prior: str | None = None) -> dict[str, Any]:
    """Eq. A1 on ``data`` with latents inferred from ``inputs``.

    Returns ``{"chi2": total, "terms": {output: chi^2}, "n": {output: entries},
    "pred": Prediction}``; label terms use the catalogue errors, spectral terms the
    errors plus the model's fitted scatter in quadrature. Only observed entries count.
    """
    outputs = [k for k in model.specs if k in data]
    pred = model.predict(data, inputs=list(inputs), outputs=outputs, prior=prior)
    terms, counts = {}, {}
    for k in outputs:
        spec = model.specs[k]
        o = data[k].select(spec.names) if spec.kind == "label" else data[k]
        var = np.where(o.missing, 1.0, o.errors) ** 2
        if k in model.ln_scatter:
            var = var + np.exp(2.0 * model.ln_scatter[k]) * spec.scale**2
        r2 = np.where(o.missing, 0.0, (o.clean_values() - pred[k].values) ** 2 / var)
        terms[k] = float(r2.sum())
        counts[k] = int((~o.missing).sum())
    return {"chi2": float(sum(terms.values())), "terms": terms, "n": counts, "pred": pred}


# ---------------------------------------------------------------------- one CV task

_WORKER_DATA: dict[str, Any] = {}


def _init_worker(dataset: Dataset, folds: list[np.ndarray], config: Lux,
                 scales: dict[tuple[str, str], float]) -> None:
    _WORKER_DATA.update(dataset=dataset, folds=folds, config=config, scales=scales)


def _task(fold: int, p: int, reg: float) -> dict[str, Any]:
    w = _WORKER_DATA
    return _run_task(w["dataset"], w["folds"], w["config"], w["scales"], fold, p, reg)


def _run_task(dataset: Dataset, folds: list[np.ndarray], config: Lux,
              scales: dict[tuple[str, str], float], fold: int, p: int,
              reg: float) -> dict[str, Any]:
    """Train on all folds but ``fold`` with (P, Omega); metrics on ``fold``.

    ``scales``: one label scale per (output, column) for the whole CV run, so that
    ``rmse_scaled`` does not depend on each fold's own training statistics.
    """
    hold = folds[fold]
    train = dataset.take(np.setdiff1d(np.arange(dataset.n), hold))
    test = dataset.take(hold)
    cfg = replace(config, latents=p, reg=reg, calibrate=False, progress=False)
    t0 = time.perf_counter()
    model = cfg.fit(train)
    t_fit = time.perf_counter() - t0
    spectral = [k for k in model.spectral_outputs if k in test]
    labels = [k for k in model.label_outputs if k in test]
    row: dict[str, Any] = {"fold": fold, "P": p, "reg": reg, "n_train": train.n,
                           "n_test": test.n}
    from_flux = heldout_chi2(model, test, spectral)
    from_labels = heldout_chi2(model, test, labels)
    row["chi2_flux"] = from_flux["chi2"]
    row["chi2_labels"] = from_labels["chi2"]
    row["chi2_sum"] = from_flux["chi2"] + from_labels["chi2"]
    row["label_chi2"] = sum(from_flux["terms"][k] for k in labels)
    row["n_label_entries"] = sum(from_flux["n"].get(k, 0) for k in labels)
    for k in model.specs:
        row[f"chi2_flux[{k}]"] = from_flux["terms"].get(k, 0.0)
        row[f"chi2_labels[{k}]"] = from_labels["terms"].get(k, 0.0)
        row[f"n[{k}]"] = from_flux["n"].get(k, 0)
    scaled = []
    for k in labels:
        spec = model.specs[k]
        o = test[k].select(spec.names)
        r = from_flux["pred"][k].values - o.values
        for j, name in enumerate(spec.names):
            m = ~o.missing[:, j]
            rmse = float(np.sqrt(np.mean(r[m, j] ** 2))) if m.any() else math.nan
            row[f"rmse[{name}]" if len(labels) == 1 else f"rmse[{k}:{name}]"] = rmse
            scaled.append(rmse / scales.get((k, name), spec.scale[j]))
    row["rmse_scaled"] = float(np.nanmean(scaled)) if scaled else math.nan
    row["fit_seconds"] = t_fit
    return row


# ------------------------------------------------------------------------ the engine


@dataclass
class CVResult:
    """Result of :func:`cross_validate`.

    Attributes:
        rows: one dict per (fold, P, Omega) with every metric.
        summary: one dict per (P, Omega): median and mean over folds of each metric.
        best: the chosen summary row (see :func:`choose_best`).
        select: the metric used to choose; rule: ``"1se"`` or ``"min"``.
        grid: [(as written, P)] latent sizes; regs: the Omega values.
        folds: the held-out object indices of each fold.
        n_labels: M (total label columns).
    """

    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    best: dict[str, Any]
    select: str
    grid: list[tuple[str, int]]
    regs: list[float]
    folds: list[np.ndarray]
    n_labels: int
    rule: str = "1se"
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def best_latents(self) -> int:
        return int(self.best["P"])

    @property
    def best_reg(self) -> float:
        return float(self.best["reg"])

    def table(self, metric: str = "chi2_flux", stat: str = "median") -> np.ndarray:
        """(n_P, n_Omega) array of ``stat`` over folds of ``metric``."""
        ps = [p for _, p in self.grid]
        out = np.full((len(ps), len(self.regs)), np.nan)
        for r in self.summary:
            out[ps.index(r["P"]), self.regs.index(r["reg"])] = r[f"{metric}_{stat}"]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "select": self.select,
            "rule": self.rule,
            "best": self.best,
            "n_labels": self.n_labels,
            "latent_grid": [{"spec": s, "P": p} for s, p in self.grid],
            "reg_grid": self.regs,
            "folds": [len(f) for f in self.folds],
            "config": self.config,
            "summary": self.summary,
            "rows": self.rows,
        }


def _default_jobs(n_tasks: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    # JAX already multithreads one fit; use about half of the cores for workers
    return max(1, min(n_tasks, cores // 2))


def _summarise(rows: list[dict[str, Any]], grid: list[tuple[str, int]],
               regs: list[float]) -> list[dict[str, Any]]:
    metrics = [k for k in rows[0] if k not in ("fold", "latents", "P", "reg", "n_train", "n_test")]
    spec_of = {p: s for s, p in grid}
    summary = []
    for _, p in grid:
        for reg in regs:
            sel = [r for r in rows if r["P"] == p and r["reg"] == reg]
            out: dict[str, Any] = {"latents": spec_of[p], "P": p, "reg": reg,
                                   "n_folds": len(sel)}
            for m in metrics:
                v = np.array([r[m] for r in sel], dtype=float)
                out[f"{m}_median"] = float(np.nanmedian(v)) if np.isfinite(v).any() else math.nan
                out[f"{m}_mean"] = float(np.nanmean(v)) if np.isfinite(v).any() else math.nan
            summary.append(out)
    return summary


def cross_validate(
    dataset: Dataset,
    latents: str | Sequence[str | int] = "1x,2x,4x,8x",
    regs: str | Sequence[float] = "1,10,100,1000",
    folds: int = 5,
    config: Lux | None = None,
    select: str = "label_chi2",
    rule: str = "1se",
    n_jobs: int | None = None,
    executor: str = "thread",
    seed: int = 0,
    progress: bool = True,
) -> CVResult:
    """K-fold cross-validation over a grid of latent sizes and L2 strengths.

    Args:
        dataset: training objects with at least one spectral and one label output.
        latents: latent sizes, e.g. ``"1x,2x,4x,8x"`` (multiples of the label count M)
            or integers; see :func:`parse_latent_grid`.
        regs: L2 strengths Omega.
        folds: K.
        config: base :class:`Lux` configuration (``latents``, ``reg`` and
            ``calibrate`` are overridden per task).
        select: metric the best setting minimises (median over folds), one of
            :data:`SELECT_METRICS`. The default, the label term of eq. A1 with
            latents from spectra, measures the main task on held-out objects; the
            total eq. A1 from spectra is dominated by the spectra's own term, which
            falls by about one per extra latent per object (each held-out spectrum's
            own latents fit its noise), and with few latents the fitted scatter s
            absorbs the misfit, so it does not penalise either end reliably.
        rule: ``"1se"`` (default; see :func:`choose_best`) or ``"min"``.
        n_jobs: parallel workers (``None``: about half the cores, at most the number
            of tasks; 1: run in this process). The results do not depend on it.
        executor: ``"thread"`` (default: threads of this process, sharing the data
            and the compiled functions; JAX releases the GIL while it computes) or
            ``"process"`` (separate worker processes started with "spawn", each with
            its own copy of the data and its own compilation).
        seed: seed of the fold split.
        progress: show a progress bar over folds × grid points.
    """
    from tqdm.auto import tqdm

    from ..units import label_scaling

    if select not in SELECT_METRICS:
        raise ValueError(f"unknown selection metric {select!r}; use one of {SELECT_METRICS}")
    config = config or Lux()
    spectral = [k for k, o in dataset.outputs.items() if o.kind == "spectrum"]
    labels = [k for k, o in dataset.outputs.items() if o.kind == "label"]
    if not spectral or not labels:
        raise DataError("cross-validation needs a spectral and a label output; the dataset "
                        f"has {list(dataset.outputs)}")
    n_labels = sum(dataset[k].dim for k in labels)
    grid = parse_latent_grid(latents, n_labels)
    reg_list = parse_reg_grid(regs)
    fold_idx = make_folds(dataset, folds, seed)
    scales: dict[tuple[str, str], float] = {}
    for k in labels:
        o = dataset[k]
        _, scale = label_scaling(o.values, ~o.missing)
        scales.update({(k, n): float(s) for n, s in zip(o.names, scale, strict=True)})
    tasks = [(f, p, r) for f in range(folds) for _, p in grid for r in reg_list]
    jobs = _default_jobs(len(tasks)) if n_jobs is None else max(1, int(n_jobs))
    bar = tqdm(total=len(tasks), desc=f"cv {folds} folds x {len(grid) * len(reg_list)} "
               "settings", disable=None if progress else True)
    results: dict[tuple[int, int, float], dict[str, Any]] = {}
    if jobs == 1:
        for f, p, r in tasks:
            results[(f, p, r)] = _run_task(dataset, fold_idx, config, scales, f, p, r)
            bar.set_postfix_str(f"fold {f + 1} P={p} reg={r:g}")
            bar.update(1)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed

        if executor == "process":
            # "spawn": forking a process that has started JAX's threads is unsafe
            pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                       initializer=_init_worker,
                                       initargs=(dataset, fold_idx, config, scales))
            submit = lambda f, p, r: pool.submit(_task, f, p, r)  # noqa: E731
        elif executor == "thread":
            pool = ThreadPoolExecutor(max_workers=jobs)
            submit = lambda f, p, r: pool.submit(  # noqa: E731
                _run_task, dataset, fold_idx, config, scales, f, p, r)
        else:
            raise ValueError(f"unknown executor {executor!r}; use 'process' or 'thread'")
        with pool:
            futs = {submit(f, p, r): (f, p, r) for f, p, r in tasks}
            for fut in as_completed(futs):
                f, p, r = futs[fut]
                results[(f, p, r)] = fut.result()
                bar.set_postfix_str(f"fold {f + 1} P={p} reg={r:g}")
                bar.update(1)
    bar.close()
    spec_of = {p: s for s, p in grid}
    rows = [{"fold": t[0], "latents": spec_of[t[1]], **results[t]} for t in tasks]
    summary = _summarise(rows, grid, reg_list)
    best = choose_best(summary, rows, select, rule)
    cfg = {k: (list(v) if isinstance(v, tuple) else v)
           for k, v in vars(config).items() if k not in ("progress",)}
    return CVResult(rows=rows, summary=summary, best=dict(best), select=select, grid=grid,
                    regs=reg_list, folds=fold_idx, n_labels=n_labels, rule=rule,
                    config={"seed": seed, "folds": folds, "base": cfg})


def choose_best(summary: list[dict[str, Any]], rows: list[dict[str, Any]], select: str,
                rule: str = "1se") -> dict[str, Any]:
    """The chosen summary row.

    ``rule="min"``: smallest median over folds of ``select``. ``rule="1se"`` (the
    one-standard-error rule): the smallest P whose median is within one standard
    error (std over folds / sqrt(K)) of that minimum, and at that P the Omega with
    the smallest median. Extra latents that buy no significant held-out improvement
    are then not taken.
    """
    if rule not in ("min", "1se"):
        raise ValueError(f"unknown rule {rule!r}; use 'min' or '1se'")
    key = f"{select}_median"
    finite = [r for r in summary if np.isfinite(r[key])]
    if not finite:
        raise DataError(f"no grid point gave a finite {select}")
    best = min(finite, key=lambda r: (r[key], r["P"], -r["reg"]))
    if rule == "min":
        return best
    vals = np.array([r[select] for r in rows if r["P"] == best["P"] and r["reg"] == best["reg"]],
                    dtype=float)
    vals = vals[np.isfinite(vals)]
    se = float(np.std(vals, ddof=1) / np.sqrt(vals.size)) if vals.size > 1 else 0.0
    ok = [r for r in finite if r[key] <= best[key] + se]
    p_min = min(r["P"] for r in ok)
    return min((r for r in ok if r["P"] == p_min), key=lambda r: (r[key], -r["reg"]))


# ----------------------------------------------------------------------------- files


def _csv(rows: list[dict[str, Any]], path: Path) -> None:
    import csv

    from ..io.datasets import atomic_path

    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, restval="")
        w.writeheader()
        w.writerows({c: f"{v:.10g}" if isinstance(v, float) else v for c, v in r.items()}
                    for r in rows)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_cv(result: CVResult, out: str | os.PathLike) -> dict[str, Path]:
    """Write ``cv.csv`` (one row per setting, median/mean over folds), ``cv_folds.csv``
    (one row per fold and setting), ``cv.json`` (everything) and ``cv.png``."""
    from ..io.datasets import atomic_path
    from .plots import cv_heatmap

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "cv.csv", "folds_csv": out / "cv_folds.csv",
             "json": out / "cv.json", "png": out / "cv.png"}
    _csv(result.summary, paths["csv"])
    _csv(result.rows, paths["folds_csv"])
    with atomic_path(paths["json"]) as tmp, open(tmp, "w") as fh:
        json.dump(_json_safe(result.to_json()), fh, indent=1)
    cv_heatmap(result, paths["png"])
    return paths
