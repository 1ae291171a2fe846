"""starlux on data from a peer's own generator (pollux's bilinear integration-test data).

The .npz is written by ``shared/bench/peers/pollux_make_data.py`` (labels = A z,
flux = B z, z, A, B ~ N(0, 1), errors uniform in 0.01-0.1; arrays ``train_*``,
``test_*``, ``test_label_true`` and a ``meta_json`` with ``n_latents``). starlux
``Lux(latents=P)`` (P = the true latent size unless ``--latents``; other settings
default) is trained on the training flux + labels and predicts the test labels from
flux alone. Printed per label: RMSE vs the true labels, bias, std((pred - truth) / err),
1-sigma coverage, and with ``--peer-json`` (the JSON written by ``bench_pollux.py``,
e.g. ``benchmarks/results/pollux_seed7.json``) the ratio starlux / pollux of the RMSE
(target: <= 1.1 for every label).

``--standardize`` first standardises the flux per pixel, (f - mean) / std and
errors / std with the training stars' mean and std (applied to both sets), as a check
that a per-pixel affine change of the flux leaves the labels unchanged.

Usage::

    python shared/bench/peers/pollux_make_data.py --n-train 2000 --n-test 1000 \\
        --n-pix 7514 --n-labels 12 --n-latents 48 --seed 7 --out pollux_7.npz
    python benchmarks/bench_peer_data.py --data pollux_7.npz \\
        --peer-json benchmarks/results/pollux_seed7.json [--standardize]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import error_model_maximum
import numpy as np
from _common import (
    fit_predict_labels,
    label_stats,
    machine,
    peak_rss_mb,
    text_table,
    write_json,
)
from bench_calibration import relearned_errors

from starlux.data import Dataset


def load(path: Path, standardize: bool) -> tuple[Dataset, Dataset, np.ndarray, dict]:
    """Train / test Datasets, the test stars' true labels and the generation metadata."""
    with np.load(path) as f:
        d = {k: f[k] for k in f.files}
    meta = json.loads(str(d.pop("meta_json"))) if "meta_json" in d else {}
    m = d["train_label"].shape[1]
    names = [str(s) for s in d["label_names"]] if "label_names" in d else \
        [f"L{j}" for j in range(m)]
    fl_tr, fe_tr, fl_te, fe_te = (d["train_flux"], d["train_flux_err"], d["test_flux"],
                                  d["test_flux_err"])
    if standardize:
        mu, sd = fl_tr.mean(0), fl_tr.std(0)
        sd = np.where(sd > 0, sd, 1.0)
        fl_tr, fl_te = (fl_tr - mu) / sd, (fl_te - mu) / sd
        fe_tr, fe_te = fe_tr / sd, fe_te / sd
    train = Dataset.from_arrays(flux=fl_tr, flux_err=fe_tr, label=d["train_label"],
                                label_err=d["train_label_err"], label_names=names)
    test = Dataset.from_arrays(flux=fl_te, flux_err=fe_te)
    return train, test, d["test_label_true"], meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help=".npz from pollux_make_data.py")
    ap.add_argument("--latents", type=int, default=None,
                    help="P (default: the true latent size from the file's metadata)")
    ap.add_argument("--peer-json", type=Path, default=None,
                    help="pollux results JSON (bench_pollux.py --out) for the ratio")
    ap.add_argument("--standardize", action="store_true",
                    help="standardise the flux per pixel on the training stars first")
    ap.add_argument("--json", type=Path, default=None, help="also write results here")
    a = ap.parse_args(argv)

    train, test, truth, meta = load(a.data, a.standardize)
    p = a.latents or meta.get("n_latents")
    if p is None:
        ap.error("the file has no meta_json n_latents; give --latents")
    print(f"# {machine()}")
    print(f"# data {a.data.name}: {train.n} train / {test.n} test, "
          f"{train['flux'].dim} px, M = {train['label'].dim}, true P = "
          f"{meta.get('n_latents')}; Lux(latents={p}); flux "
          f"{'standardised per pixel' if a.standardize else 'as generated'}")
    extra = int(train["flux"].missing.sum() + test["flux"].missing.sum())
    if extra:
        print(f"# note: {extra} flux entries are missing under starlux's rules")
    lab, model, (t_fit, t_pred) = fit_predict_labels(train, test, latents=p)
    val, err = lab.values, lab.errors
    stats = label_stats(val, err, truth)
    names = list(train["label"].names)
    rmse = np.array([s["rmse"] for s in stats])
    header = ["", *names, "mean"]
    rows = [["starlux RMSE", *rmse.tolist(), float(rmse.mean())],
            ["starlux bias", *[s["bias"] for s in stats], ""],
            ["std((pred-truth)/err)", *[s["zstd"] for s in stats], ""],
            ["1-sigma coverage", *[s["cov1"] for s in stats], ""]]
    unc = model.error_uncertainty.get("label")
    prev = relearned_errors(model, train, lab, rule=error_model_maximum)
    if unc is not None:
        rows.append(["error-bar uncertainty", *np.asarray(unc).tolist(), ""])
    if prev is not None:  # the previous rule on the same held-out and test predictions
        stats_prev = label_stats(val, prev[0], truth)
        rows += [["std, previous rule", *[s["zstd"] for s in stats_prev], ""],
                 ["uncertainty, previous", *prev[1].tolist(), ""]]
    out = {"data": a.data.name, "meta": meta, "latents": p, "standardize": a.standardize,
           "train_s": t_fit, "predict_s": t_pred, "peak_rss_mb": peak_rss_mb(),
           "label_names": names, "stats": stats, "rmse": rmse.tolist(),
           "mean_rmse": float(rmse.mean()),
           "err_unc": None if unc is None else np.asarray(unc).tolist(),
           "zstd_prev": None if prev is None else [s["zstd"] for s in stats_prev],
           "err_unc_prev": None if prev is None else prev[1].tolist()}
    if a.peer_json:
        peer = json.loads(a.peer_json.read_text())
        pr = np.array(peer["rmse_vs_true"])
        rows += [["pollux RMSE", *pr.tolist(), float(pr.mean())],
                 ["starlux / pollux", *(rmse / pr).tolist(), float(rmse.mean() / pr.mean())]]
        out["peer"] = {"file": a.peer_json.name, "rmse": pr.tolist(),
                       "ratio": (rmse / pr).tolist(), "train_s": peer.get("train_wall_s"),
                       "test_s": peer.get("test_wall_s")}
        print(f"# pollux: train {peer.get('train_wall_s', float('nan')):.0f} s, test "
              f"{peer.get('test_wall_s', float('nan')):.0f} s, peak "
              f"{peer.get('ru_maxrss_MB', float('nan')):.0f} MB")
    print(f"# starlux: train {t_fit:.1f} s, predict {t_pred:.2f} s, peak RSS "
          f"{peak_rss_mb():.0f} MB")
    print(text_table(header, rows))
    write_json(a.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
