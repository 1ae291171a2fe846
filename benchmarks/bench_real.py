"""starlux vs ridge regression on the real 671-star APOGEE set, over random splits.

The set (671 giants x 100 normalised pixels, catalogue TEFF / LOGG / [M/H]) ships no
label errors; they are taken as 50 K / 0.05 / 0.03 dex, as in ``starlux demo``. For each
split seed, ``np.random.default_rng(seed).permutation(671)`` puts the first ``--n-train``
stars in the training set and the rest in the test set. On each split:

* starlux ``Lux()`` with default settings (``--fast``: ``Lux(latents=6,
  calibrate=False)``) is trained on flux + labels and predicts the test labels from flux;
* scikit-learn ``RidgeCV`` (flux -> labels, ``alphas = logspace(-4, 3, 30)``, one alpha
  per label chosen by GCV on the training stars only) is fitted on the same split. It
  always sees the raw flux; flux entries that starlux treats as missing are replaced by
  the training stars' per-pixel mean, in both sets. (With no replacement, split seed 671
  gives 156.6 K / 0.283 / 0.139, the figures of the shared benchmark README.)

``--flux-transform`` takes one or more of ``raw``, ``standardize`` (per pixel
(f - mean) / std and errors / std, mean and std of the training stars' observed
entries, applied to both sets) and ``continuum-subtract`` (f - 1, errors unchanged).
Entries missing in the raw data stay missing. With more than one transform, the
invariance table gives, per label, the RMSE relative to ``raw`` (mean over splits) and
the mean bias; the target is within 3 % of raw with no offset. If a transform makes the
missing-entry rules mask extra entries (e.g. inverse variance < 0.1 after scaling the
errors), the count is printed.

Printed per label (means over splits): RMSE of starlux and of ridge vs the catalogue,
their ratio (mean of the per-split ratios), starlux's bias, and the pooled
std((pred - catalogue) / sqrt(err^2 + catalogue_err^2)) with its 1-sigma coverage.

Usage::

    python benchmarks/bench_real.py                       # Lux() defaults, seeds 1..5
    python benchmarks/bench_real.py --fast --seeds 1 2    # quick plumbing check
    python benchmarks/bench_real.py --flux-transform raw standardize continuum-subtract
    python benchmarks/bench_real.py --ridge-only --seeds 1 2 3 4 5 671
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import error_model_maximum
import numpy as np
from _common import (
    fit_predict_labels,
    label_stats,
    machine,
    ridge_predict,
    text_table,
    write_json,
)
from bench_calibration import relearned_errors

from starlux.data import Dataset

LABEL_ERRORS = np.array([50.0, 0.05, 0.03])
RIDGE_ALPHAS = np.logspace(-4, 3, 30)
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "src/starlux/sample_data/apogee_671.npz"
TRANSFORMS = ("raw", "standardize", "continuum-subtract")


def load(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """flux, flux_err, label, label names of the 671-star file (sample_data layout)."""
    with np.load(path) as f:
        label = f["label"] if "label" in f.files else f["labels"]
        names = [str(s) for s in f["label_names"]]
        return f["flux"].astype(float), f["flux_err"].astype(float), label.astype(float), names


def split(n: int, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """First ``n_train`` of ``default_rng(seed).permutation(n)`` train, the rest test."""
    perm = np.random.default_rng(seed).permutation(n)
    return perm[:n_train], perm[n_train:]


def make_sets(flux, err, label, names, tr, te, transform: str
              ) -> tuple[Dataset, Dataset, int]:
    """Train / test Datasets with ``transform`` applied to the flux.

    Entries missing in the raw data are kept missing (error 9999). Returns the sets and
    the number of entries that the transform made missing on top of those.
    """
    raw_miss = Dataset.from_arrays(flux=flux, flux_err=err)["flux"].missing
    f, e = flux.copy(), err.copy()
    if transform == "standardize":
        obs = np.where(raw_miss[tr], np.nan, flux[tr])
        mu, sd = np.nanmean(obs, 0), np.nanstd(obs, 0)
        sd = np.where(sd > 0, sd, 1.0)
        f, e = (flux - mu) / sd, err / sd
    elif transform == "continuum-subtract":
        f = flux - 1.0
    elif transform != "raw":
        raise ValueError(f"unknown transform {transform!r}")
    e = np.where(raw_miss, 9999.0, e)
    lerr = np.broadcast_to(LABEL_ERRORS, label.shape)

    def part(idx: np.ndarray) -> Dataset:
        return Dataset.from_arrays(flux=f[idx], flux_err=e[idx], label=label[idx],
                                   label_err=lerr[idx].copy(), label_names=names)

    train, test = part(tr), part(te)
    extra = int(train["flux"].missing.sum() + test["flux"].missing.sum()
                - raw_miss[tr].sum() - raw_miss[te].sum())
    return train, test, extra


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="671-star .npz with flux, flux_err, label(s), label_names")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5],
                    help="split seeds (default 1 2 3 4 5)")
    ap.add_argument("--n-train", type=int, default=500, help="training stars per split")
    ap.add_argument("--flux-transform", nargs="+", choices=TRANSFORMS, default=["raw"],
                    help="flux transform(s) for starlux; several give an invariance table")
    ap.add_argument("--fast", action="store_true",
                    help="quick run with Lux(latents=6, calibrate=False)")
    ap.add_argument("--ridge-only", action="store_true", help="skip starlux")
    ap.add_argument("--json", type=Path, default=None, help="also write results here")
    a = ap.parse_args(argv)

    flux, err, label, names = load(a.data)
    lux_kw = {"latents": 6, "calibrate": False} if a.fast else {}
    transforms = [] if a.ridge_only else list(dict.fromkeys(a.flux_transform))
    print(f"# {machine()}")
    print(f"# data {a.data.name}: {len(label)} stars x {flux.shape[1]} px; "
          f"{a.n_train} train per split; seeds {a.seeds}; "
          f"starlux Lux({', '.join(f'{k}={v}' for k, v in lux_kw.items())})")
    ridge_rmse, lux = [], {t: {"rmse": [], "pred": [], "err": [], "cat": [], "bias": [],
                               "err_prev": [], "unc": []} for t in transforms}
    per_split = []
    for seed in a.seeds:
        tr, te = split(len(label), a.n_train, seed)
        train, test, _ = make_sets(flux, err, label, names, tr, te, "raw")
        yr = ridge_predict(train, test, RIDGE_ALPHAS)
        rr = np.sqrt(np.mean((yr - label[te]) ** 2, axis=0))
        ridge_rmse.append(rr)
        rec = {"seed": seed, "ridge_rmse": rr.tolist()}
        for t in transforms:
            train, test, extra = make_sets(flux, err, label, names, tr, te, t)
            lab, model, secs = fit_predict_labels(train, test, **lux_kw)
            val, sig = lab.values, lab.errors
            r = val - label[te]
            lux[t]["rmse"].append(np.sqrt(np.mean(r**2, axis=0)))
            lux[t]["bias"].append(r.mean(0))
            lux[t]["pred"].append(val)
            lux[t]["err"].append(sig)
            lux[t]["cat"].append(label[te])
            # the previous error-model rule on the same held-out and test predictions
            prev = relearned_errors(model, train, lab, rule=error_model_maximum)
            lux[t]["err_prev"].append(None if prev is None else prev[0])
            lux[t]["unc"].append(model.error_uncertainty.get("label"))
            rec[t] = {"rmse": lux[t]["rmse"][-1].tolist(), "bias": r.mean(0).tolist(),
                      "P": int(model.n_latents), "train_s": secs[0], "predict_s": secs[1],
                      "extra_missing_entries": extra}
            print(f"  seed {seed} {t:<18} P={model.n_latents:<3} "
                  f"train {secs[0]:.2f} s  RMSE "
                  + " ".join(f"{v:.4g}" for v in lux[t]["rmse"][-1])
                  + f"  (ridge {' '.join(f'{v:.4g}' for v in rr)})"
                  + (f"  [{extra} extra missing entries]" if extra else ""), flush=True)
        if not transforms:
            print(f"  seed {seed} ridge RMSE " + " ".join(f"{v:.4g}" for v in rr), flush=True)
        per_split.append(rec)

    ridge_rmse = np.array(ridge_rmse)
    result: dict = {"seeds": a.seeds, "n_train": a.n_train, "lux_kw": lux_kw,
                    "label_names": names, "per_split": per_split,
                    "ridge_rmse_mean": ridge_rmse.mean(0).tolist()}
    rows = [["ridge RMSE", *ridge_rmse.mean(0).tolist()]]
    for t in transforms:
        rm = np.array(lux[t]["rmse"])
        pooled = label_stats(np.concatenate(lux[t]["pred"]), np.concatenate(lux[t]["err"]),
                             np.concatenate(lux[t]["cat"]),
                             ref_err=np.broadcast_to(LABEL_ERRORS, (sum(map(len, lux[t]["cat"])),
                                                                    len(names))))
        ratio = (rm / ridge_rmse).mean(0)
        bias = np.array(lux[t]["bias"]).mean(0)
        tag = "" if len(transforms) == 1 else f" [{t}]"
        if all(e is not None for e in lux[t]["err_prev"]):
            pooled_prev = label_stats(np.concatenate(lux[t]["pred"]),
                                      np.concatenate(lux[t]["err_prev"]),
                                      np.concatenate(lux[t]["cat"]),
                                      ref_err=np.broadcast_to(LABEL_ERRORS, (
                                          sum(map(len, lux[t]["cat"])), len(names))))
            rows.append([f"pooled std(z), previous rule{tag}",
                         *[p["zstd"] for p in pooled_prev]])
            result.setdefault(t, {})["pooled_prev"] = pooled_prev
        if all(u is not None for u in lux[t]["unc"]):
            unc = np.mean(lux[t]["unc"], axis=0)
            rows.append([f"error-bar uncertainty, mean{tag}", *unc.tolist()])
            result.setdefault(t, {})["err_unc_mean"] = unc.tolist()
        rows += [[f"starlux RMSE{tag}", *rm.mean(0).tolist()],
                 [f"starlux / ridge{tag}", *ratio.tolist()],
                 [f"starlux bias{tag}", *bias.tolist()],
                 [f"starlux pooled std(z){tag}", *[p["zstd"] for p in pooled]],
                 [f"starlux pooled 1-sigma cov.{tag}", *[p["cov1"] for p in pooled]]]
        result.setdefault(t, {}).update(
            rmse_mean=rm.mean(0).tolist(), ratio_to_ridge=ratio.tolist(),
            bias_mean=bias.tolist(), pooled=pooled)
    print(f"\nmeans over {len(a.seeds)} splits; z = (pred - catalogue) / "
          "sqrt(err^2 + catalogue_err^2)")
    print(text_table(["", *names], rows))
    if "raw" in transforms and len(transforms) > 1:
        raw = np.array(lux["raw"]["rmse"])
        inv = []
        for t in transforms:
            if t == "raw":
                continue
            rel = (np.array(lux[t]["rmse"]) / raw).mean(0)
            dbias = np.array(lux[t]["bias"]).mean(0) - np.array(lux["raw"]["bias"]).mean(0)
            inv += [[f"{t}: RMSE / raw", *rel.tolist()],
                    [f"{t}: bias - raw bias", *dbias.tolist()]]
            result[t]["rmse_over_raw"] = rel.tolist()
            result[t]["bias_minus_raw"] = dbias.tolist()
        print("\ninvariance (target: RMSE / raw within 0.97-1.03, no bias offset)")
        print(text_table(["", *names], inv))
    write_json(a.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
