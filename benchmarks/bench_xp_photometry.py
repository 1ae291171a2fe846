"""What Gaia and 2MASS photometry add to labels from Gaia XP spectra (paper §6.1):
TEFF and LOGG (extinction and temperature are degenerate in the XP shape) and the
K-band extinction A_K (``ak_targ``), with the peers given the same photometry.

Data: the XP benchmark's (:mod:`bench_xp`): ``../shared/data/gaiaxp-apogee-dr17``, read
with ``starlux.read_xp(..., labels=[teff, logg, fe_h, alpha_m, ak_targ],
photometry=True)``: 343 median-normalised XP samples, APOGEE DR17 labels, ``ak_targ``
(APOGEE's targeting A_K, error 0.035 mag: ``starlux.io.photometry.AK_TARG_ERROR``) and
output ``phot``: BP-G, RP-G, J-G, H-G, K-G in mag (errors 0.01 mag per Gaia band and
0.03 mag per 2MASS band, added in quadrature; the file has none). Sample ``all`` of
:func:`bench_xp.sample_rows` (3,000 < TEFF < 7,000 K), splits of :func:`bench_xp.split`
(20,000 training / 5,000 test stars, seeds ``--splits``, default 0 1 2).

Methods, on the same stars of each split:

* ``starlux``: ``Lux()`` with every default, trained on flux + labels, labels predicted
  from the flux;
* ``starlux+phot``: ``Lux()`` trained on flux + phot + labels (``phot`` is a
  ``"spectrum"``-kind input with a fitted scatter, so the held-out folds that choose P
  and calibrate the errors predict from flux + phot too), predicted from flux + phot;
* ``starlux+phot(label)`` (``--phot-as-label``): the same photometry given to the model
  as a label-kind output (predicted on the held-out folds, not used there), used as an
  input at prediction: the alternative the ``"spectrum"`` kind was chosen over;
* the peers of :mod:`bench_xp` (``ridge``, ``knn``, ``hgb``, ``mlp``: one scikit-learn
  model per label) on the log flux, and ``<peer>+phot`` on the log flux and the five
  relative magnitudes (missing ones at the training median).

Reported (means over splits, each split kept): per label RMSE, robust scatter and bias
against APOGEE (:func:`bench_xp.metrics`), for starlux std(z) and the fraction within
1 sigma; TEFF and LOGG RMSE of the stars with A_K > 0.3 mag (the reddened ones); for
A_K, RMSE and robust scatter against ``ak_targ`` on the test stars with
-0.5 < ak_targ < 5 mag (the screened sentinels, -85 and 13.7 mag, left out), beside the
RMSE of the training median (what a model that learned nothing would score).

Usage::

    python benchmarks/bench_xp_photometry.py --json benchmarks/results/xp_photometry.json \\
        --figure benchmarks/results/xp_photometry.png
    python benchmarks/bench_xp_photometry.py --small --splits 0     # plumbing

Predictions are cached under ``--work``, one file per split and method.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from _common import json_default, machine, write_json
from bench_xp import DATA, PEERS, fit_peer, log_flux, metrics, sample_rows, split

import starlux
from starlux.config import enable_compilation_cache
from starlux.data import Dataset

LABELS = ["teff", "logg", "fe_h", "alpha_m", "ak_targ"]
AK = LABELS.index("ak_targ")
AK_RANGE = (-0.5, 5.0)
REDDENED = 0.3
STARLUX = ("starlux", "starlux+phot", "starlux+phot(label)")
N_TRAIN, N_TEST = 20000, 5000


def peer_inputs(ds: Dataset, train: np.ndarray, phot: bool) -> np.ndarray:
    """log flux, and with ``phot`` the relative magnitudes (missing ones at the
    training stars' median)."""
    x = log_flux(ds)
    if not phot:
        return x
    p = ds["phot"]
    v = np.where(p.missing, np.nan, p.values)
    med = np.nanmedian(v[train], axis=0)
    return np.concatenate([x, np.where(np.isnan(v), med[None, :], v)], axis=1)


def run_starlux(ds: Dataset, tr: np.ndarray, te: np.ndarray, method: str) -> dict:
    """Train ``Lux()`` on the training stars and predict the test stars' labels."""
    outputs = ["flux", "label"] if method == "starlux" else ["flux", "phot", "label"]
    data = ds.with_outputs(outputs)
    if method == "starlux+phot(label)":
        p = data["phot"]
        data = Dataset(outputs={**data.outputs, "phot": replace(p, kind="label")},
                       ids=data.ids, extras=data.extras)
    inputs = [k for k in outputs if k != "label"]
    t0 = time.perf_counter()
    model = starlux.Lux(progress=False).fit(data.take(tr))
    t1 = time.perf_counter()
    pred = model.predict(data.take(te).with_outputs(inputs), inputs=inputs,
                         outputs=["label"])
    t2 = time.perf_counter()
    lab = pred["label"]
    chosen = dict(model.config.transforms or ())
    return {"values": lab.values, "errors": lab.errors, "train_s": t1 - t0,
            "predict_s": t2 - t1,
            "family": "linear" if not chosen else ",".join(
                f"{k}={t.name}" for k, t in chosen.items()),
            "latents": model.n_latents, "reg": model.reg,
            "phot_scatter": (np.exp(np.asarray(model.ln_scatter["phot"])).tolist()
                             if "phot" in model.ln_scatter else None)}


def _row(pred: np.ndarray, cat: np.ndarray, cat_err: np.ndarray,
         err: np.ndarray | None, ok: np.ndarray) -> dict:
    r = pred[ok] - cat[ok]
    row = {"n": int(ok.sum()), "rmse": float(np.sqrt(np.mean(r ** 2))),
           "robust": float(1.4826 * np.median(np.abs(r - np.median(r)))),
           "bias": float(np.mean(r))}
    if err is not None:
        z = r / np.hypot(err[ok], np.nan_to_num(cat_err[ok]))
        row["z_std"] = float(np.std(z))
        row["within_1sigma"] = float(np.mean(np.abs(z) < 1))
    return row


def score(pred: np.ndarray, cat: np.ndarray, cat_err: np.ndarray, err: np.ndarray | None,
          ak_train_median: float) -> dict:
    """:func:`bench_xp.metrics` for the four labels, A_K against ``ak_targ``, and TEFF
    / LOGG of the reddened stars."""
    out = metrics(pred[:, :AK], cat[:, :AK], cat_err[:, :AK],
                  None if err is None else err[:, :AK])
    ak = cat[:, AK]
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(ak) & (ak > AK_RANGE[0]) & (ak < AK_RANGE[1]) \
            & np.isfinite(pred[:, AK])
        red = ok & (ak > REDDENED)
    out["ak_targ"] = _row(pred[:, AK], ak, cat_err[:, AK],
                          None if err is None else err[:, AK], ok)
    out["ak_targ"]["rmse_median"] = float(np.sqrt(np.mean((ak[ok] - ak_train_median) ** 2)))
    out["ak_targ"]["corr"] = float(np.corrcoef(ak[ok], pred[ok, AK])[0, 1])
    for j, name in enumerate(("teff", "logg")):
        good = red & np.isfinite(cat[:, j]) & np.isfinite(pred[:, j])
        out[name]["rmse_reddened"] = float(np.sqrt(np.mean((pred[good, j] - cat[good, j]) ** 2)))
        out[name]["n_reddened"] = int(good.sum())
    return out


def mean_over_splits(per_split: list[dict]) -> dict:
    out: dict = {}
    for name in LABELS:
        keys = [k for k, v in per_split[0][name].items() if isinstance(v, int | float)]
        out[name] = {k: float(np.mean([s[name][k] for s in per_split])) for k in keys
                     if all(s[name].get(k) is not None for s in per_split)}
    return out


def figure(path: Path, cat: np.ndarray, preds: dict[str, np.ndarray], title: str) -> None:
    """Rows: methods; columns: TEFF residual against A_K, LOGG residual against A_K,
    predicted against catalogue A_K."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from starlux.labels import delta_label

    methods = list(preds)
    fig, axes = plt.subplots(len(methods), 3, figsize=(12, 3.1 * len(methods)),
                             squeeze=False, constrained_layout=True)
    ak = cat[:, AK]
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(ak) & (ak > AK_RANGE[0]) & (ak < AK_RANGE[1])
    for i, m in enumerate(methods):
        p = preds[m]
        for j, name in enumerate(("teff", "logg")):
            ax = axes[i, j]
            sel = ok & np.isfinite(cat[:, j]) & np.isfinite(p[:, j])
            r = p[sel, j] - cat[sel, j]
            lim = np.percentile(np.abs(r), 99)
            ax.hexbin(ak[sel], r, gridsize=60, bins="log", mincnt=1, cmap="viridis",
                      extent=(AK_RANGE[0], 2.0, -lim, lim))
            ax.axhline(0, color="k", lw=0.6)
            ax.set_xlim(-0.3, 2.0)
            ax.set_xlabel("APOGEE $A_K$ (ak_targ, mag)")
            ax.set_ylabel(delta_label(name.upper(), "pred. − APOGEE"))
            rms = np.sqrt(np.mean(r ** 2))
            red = ak[sel] > REDDENED
            ax.text(0.03, 0.95, f"{m}\nRMSE {rms:.3g}; A_K > {REDDENED}: "
                    f"{np.sqrt(np.mean(r[red] ** 2)):.3g}", transform=ax.transAxes, va="top",
                    fontsize=8, bbox={"fc": "w", "alpha": 0.8, "lw": 0})
        ax = axes[i, 2]
        sel = ok & np.isfinite(p[:, AK])
        ax.hexbin(ak[sel], p[sel, AK], gridsize=60, bins="log", mincnt=1, cmap="viridis",
                  extent=(-0.3, 2.0, -0.3, 2.0))
        ax.plot([-0.3, 2], [-0.3, 2], "w-", lw=0.8)
        ax.plot([-0.3, 2], [-0.3, 2], "k--", lw=0.5)
        ax.set_xlim(-0.3, 2.0)
        ax.set_ylim(-0.3, 2.0)
        ax.set_xlabel("APOGEE $A_K$ (ak_targ, mag)")
        ax.set_ylabel("predicted $A_K$ (mag)")
        r = p[sel, AK] - ak[sel]
        ax.text(0.03, 0.95, f"{m}\nRMSE {np.sqrt(np.mean(r ** 2)):.3f} mag",
                transform=ax.transAxes, va="top", fontsize=8,
                bbox={"fc": "w", "alpha": 0.8, "lw": 0})
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--splits", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", default=None,
                    help="default: starlux, starlux+phot and every peer with and without "
                         "photometry")
    ap.add_argument("--phot-as-label", action="store_true",
                    help="also run starlux+phot(label)")
    ap.add_argument("--work", type=Path, default=Path("bench-out/xp_photometry"))
    ap.add_argument("--small", action="store_true", help="2,000 / 1,000 stars (plumbing)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--figure", type=Path, default=None,
                    help="residuals against A_K, first split")
    args = ap.parse_args(argv)
    enable_compilation_cache()
    args.work.mkdir(parents=True, exist_ok=True)
    methods = args.methods or ["starlux", "starlux+phot",
                               *(["starlux+phot(label)"] if args.phot_as_label else []),
                               *[f"{p}{s}" for p in PEERS for s in ("", "+phot")]]

    ds = starlux.read_xp(args.data, labels=LABELS, photometry=True)
    cat_all = np.where(ds["label"].missing, np.nan, ds["label"].values)
    cat_err_all = np.where(ds["label"].missing, np.nan, ds["label"].errors)
    rows = sample_rows(ds, "all")
    n_tr, n_te = (2000, 1000) if args.small else (N_TRAIN, N_TEST)
    results: dict = {"machine": machine(), "data": args.data.name, "n_stars": ds.n,
                     "sample": "all", "n_sample": int(rows.size), "n_train": n_tr,
                     "n_test": n_te, "phot": list(ds["phot"].names), "methods": {}}
    fig_preds: dict[str, np.ndarray] = {}
    fig_cat = None
    for method in methods:
        per_split, runs = [], []
        for s in args.splits:
            tr, te = split(rows, n_tr, n_te, s)
            cache = args.work / f"all_{n_tr}_{s}_{method}.json"
            if cache.exists():
                run = json.loads(cache.read_text())
            elif method in STARLUX:
                run = run_starlux(ds, tr, te, method)
            else:
                peer, phot = method.split("+")[0], method.endswith("+phot")
                x = peer_inputs(ds, tr, phot)
                t0 = time.perf_counter()
                values = fit_peer(peer, x[tr], cat_all[tr], x[te], s)
                run = {"values": values, "train_s": time.perf_counter() - t0}
            if not cache.exists():
                cache.write_text(json.dumps(run, default=json_default))
            values = np.asarray(run["values"], float)
            errors = np.asarray(run["errors"], float) if "errors" in run else None
            ak_med = float(np.nanmedian(np.where(
                (cat_all[tr, AK] > AK_RANGE[0]) & (cat_all[tr, AK] < AK_RANGE[1]),
                cat_all[tr, AK], np.nan)))
            per_split.append(score(values, cat_all[te], cat_err_all[te], errors, ak_med))
            runs.append({k: v for k, v in run.items() if k not in ("values", "errors")}
                        | {"split": s})
            if s == args.splits[0]:
                fig_preds[method] = values
                fig_cat = cat_all[te]
            last = per_split[-1]
            print(f"split {s} {method}: RMSE " + " ".join(
                f"{n} {last[n]['rmse']:.4g}" for n in LABELS)
                + f"  TEFF(A_K>{REDDENED}) {last['teff']['rmse_reddened']:.4g}"
                + (("  z_std " + " ".join(f"{last[n]['z_std']:.2f}" for n in LABELS))
                   if errors is not None else "")
                + f"  train {run.get('train_s', float('nan')):.0f} s", flush=True)
        results["methods"][method] = {"mean": mean_over_splits(per_split),
                                      "splits": per_split, "runs": runs}
    print(report(results))
    if args.json is not None:
        write_json(args.json, results)
    if args.figure is not None and fig_cat is not None:
        shown = {m: fig_preds[m] for m in ("starlux", "starlux+phot", "hgb", "hgb+phot")
                 if m in fig_preds}
        figure(args.figure, fig_cat, shown,
               f"Gaia XP (+ photometry) -> APOGEE labels, split {args.splits[0]} "
               f"({n_tr:,} training / {n_te:,} test stars)")
    return 0


def report(results: dict) -> str:
    """Markdown table of the means over splits."""
    n = len(next(iter(results["methods"].values()))["splits"])
    lines = [f"\n{results['n_train']:,} train / {results['n_test']:,} test, mean over "
             f"{n} split(s); A_K: {REDDENED} < ... reddened\n",
             "| method | TEFF K | TEFF K, A_K > 0.3 | LOGG | LOGG, A_K > 0.3 | FE_H | ALPHA_M "
             "| A_K mag | A_K robust | A_K corr |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m, r in results["methods"].items():
        x = r["mean"]
        lines.append(f"| {m} | {x['teff']['rmse']:.0f} | {x['teff']['rmse_reddened']:.0f} | "
                     f"{x['logg']['rmse']:.3f} | {x['logg']['rmse_reddened']:.3f} | "
                     f"{x['fe_h']['rmse']:.3f} | {x['alpha_m']['rmse']:.3f} | "
                     f"{x['ak_targ']['rmse']:.3f} | {x['ak_targ']['robust']:.3f} | "
                     f"{x['ak_targ']['corr']:.3f} |")
    first = next(iter(results["methods"].values()))["mean"]["ak_targ"]
    lines.append(f"\nA_K RMSE of the training median: {first['rmse_median']:.3f} mag")
    for m, r in results["methods"].items():
        if "z_std" in r["mean"]["teff"]:
            lines.append(f"{m} std(z): " + ", ".join(
                f"{k} {r['mean'][k]['z_std']:.2f}" for k in LABELS))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
