"""Nonlinear (MLP) transforms with a small latent size against the linear default.

The paper's §6.1 proposes moving Lux's flexibility from a large latent space with linear
maps to a small latent space with nonlinear maps. This script measures that trade on
data with known true labels (the makers in ``shared/bench/``): each model is trained on
the training stars (flux + noisy labels) and predicts the test stars' labels from flux
alone. Per set and label:

* ``rmse``: RMSE vs the true labels, for each configuration, beside scikit-learn
  ``RidgeCV`` (the convention of ``bench_calibration.py``: flux standardised per pixel,
  missing entries at the training mean, alphas ``logspace(-1, 5, 13)``);
* ``std``: std((pred - truth) / err) with ``err`` the model's reported (calibrated)
  error; the target window is [0.8, 1.25];
* ``std_nf``: the std the same model's errors would have with its error model learned
  from the same held-out predictions against the training stars' true labels (no
  catalogue noise; ``bench_calibration.errors_noise_free_labels``): a miss that this
  brings into the window is limited by the training labels' noise;
* per configuration: training and prediction seconds and the peak resident memory of
  the process that trained it (each configuration runs in a fresh process).

Configurations (``--configs``):

========== ================================================================================
linear     ``Lux()``: the default (linear maps; P and Omega chosen on held-out folds)
linear-p   ``Lux(latents="1x+2")``: linear maps at the MLPs' small latent size P = M + 2
mlp-flux   ``Lux(latents="1x+2", transforms={"flux": MLP})``: an MLP for the flux only
mlp        ``Lux(latents="1x+2", transforms={"flux": MLP, "label": "mlp:16x1"})``: MLPs for
           flux and labels (the labels are then a nonlinear function of the latents too)
========== ================================================================================

with ``MLP = MLPTransform(width=32, depth=2, steps=100)`` (``--width``, ``--depth``,
``--steps``). Every configuration calibrates its errors (``Lux.calibrate``, 3 folds).

Sets (``--sets``): ``emu2000`` (``emulated_apogee.py --n-train 2000 --n-test 500 --seed
0``), ``emu4000`` (``--n-train 4000 --n-test 1000 --seed 2``, the set of
``bench_calibration.py``), ``toy2000`` (``line_toy.py --n-train 2000 --n-test 1000 --seed
0``). Generated data are cached under ``--work``.

Usage::

    python benchmarks/bench_nonlinear.py --work bench-out --json benchmarks/results/nonlinear.json
    python benchmarks/bench_nonlinear.py --sets emu2000 --configs mlp linear   # one set
    python benchmarks/bench_nonlinear.py --small --steps 10 --sets emu2000     # plumbing
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import label_stats, machine, peak_rss_mb, ridge_predict, text_table, write_json
from bench_calibration import (
    RIDGE_ALPHAS,
    SetSpec,
    add_set_arguments,
    errors_noise_free_labels,
    make_set,
)

SETS: dict[str, SetSpec] = {
    "emu2000": SetSpec("emu", 2000, 500, 0),
    "emu4000": SetSpec("emu", 4000, 1000, 2),
    "toy2000": SetSpec("toy", 2000, 1000, 0),
}
CONFIGS = ("linear", "linear-p", "mlp-flux", "mlp")
STD_WINDOW = (0.8, 1.25)


def lux_settings(config: str, width: int, depth: int, steps: int,
                 fold_rounds: str | None = None) -> dict:
    """The ``Lux`` keyword arguments of one configuration (``fold_rounds``: ``None``
    keeps the default, ``"scratch"`` fits each calibration fold from scratch)."""
    from starlux.transforms.mlp import MLPTransform

    mlp = MLPTransform(width=width, depth=depth, steps=steps)
    extra = {} if fold_rounds is None else {
        "fold_rounds": None if fold_rounds == "scratch" else int(fold_rounds)}
    return {k: {**v, **extra} for k, v in {"linear": {},
            "linear-p": {"latents": "1x+2"},
            "mlp-flux": {"latents": "1x+2", "transforms": {"flux": mlp}},
            "mlp": {"latents": "1x+2", "transforms": {"flux": mlp, "label": "mlp:16x1"}},
            }.items()}[config]


def run_one(a: argparse.Namespace) -> int:
    """Train one configuration on one set (in this process) and write its results."""
    from starlux.data import Dataset
    from starlux.model import Lux

    train, test, truth, snr = make_set(a.one_set, SETS[a.one_set], a.shared, a.work, a.small)
    kw = lux_settings(a.one_config, a.width, a.depth, a.steps, a.fold_rounds)
    t0 = time.perf_counter()
    model = Lux(progress=False, **kw).fit(train)
    t1 = time.perf_counter()
    pred = model.predict(Dataset(outputs={"flux": test["flux"]}, ids=test.ids), inputs=["flux"])
    t2 = time.perf_counter()
    stats = label_stats(pred["label"].values, pred["label"].errors, truth, snr=snr)
    names = list(train["label"].names)
    unc = model.error_uncertainty.get("label", np.full(len(names), np.nan))
    err_nf = errors_noise_free_labels(model, train, pred["label"])
    std_nf = [None] * len(names) if err_nf is None else \
        [s["zstd"] for s in label_stats(pred["label"].values, err_nf, truth)]
    stats = [dict(s, err_unc=float(u), zstd_noise_free_labels=nf)
             for s, u, nf in zip(stats, unc, std_nf, strict=True)]
    out = {"P": model.n_latents, "reg": model.reg, "train_s": t1 - t0, "predict_s": t2 - t1,
           "peak_rss_mb": peak_rss_mb(), "lux_kw": {k: str(v) for k, v in kw.items()},
           "labels": dict(zip(names, stats, strict=True))}
    Path(a.one_out).write_text(json.dumps(out))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    ap.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    ap.add_argument("--width", type=int, default=32, help="MLP hidden units per layer")
    ap.add_argument("--depth", type=int, default=2, help="MLP hidden layers")
    ap.add_argument("--steps", type=int, default=100, help="L-BFGS steps per MLP fit")
    ap.add_argument("--fold-rounds", default=None,
                    help="Lux.fold_rounds for every configuration: an integer, or "
                         "'scratch' (each calibration fold fitted from scratch); "
                         "default: Lux's own")
    add_set_arguments(ap)
    ap.add_argument("--no-ridge", action="store_true", help="skip the ridge reference")
    ap.add_argument("--json", type=Path, default=None, help="also write results here")
    ap.add_argument("--one-set", help=argparse.SUPPRESS)
    ap.add_argument("--one-config", help=argparse.SUPPRESS)
    ap.add_argument("--one-out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    if a.one_set:
        return run_one(a)

    print(f"# {machine()}")
    print(f"# MLP = MLPTransform(width={a.width}, depth={a.depth}, steps={a.steps}); "
          f"{'small sets (300/200)' if a.small else 'full sizes'}", flush=True)
    result = {"width": a.width, "depth": a.depth, "steps": a.steps, "small": a.small,
              "machine": machine(), "sets": {}}
    here = Path(__file__).resolve()
    for name in a.sets:
        train, test, truth, _ = make_set(name, SETS[name], a.shared, a.work, a.small)
        names = list(train["label"].names)
        rec: dict = {"n_train": train.n, "n_test": test.n, "seed": SETS[name].seed,
                     "configs": {}}
        if not a.no_ridge:
            t0 = time.perf_counter()
            yr = ridge_predict(train, test, RIDGE_ALPHAS, standardize=True)
            rec["ridge_rmse"] = dict(zip(names, np.sqrt(np.nanmean((yr - truth) ** 2, axis=0))
                                         .tolist(), strict=True))
            rec["ridge_s"] = time.perf_counter() - t0
        del train, test
        for config in a.configs:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "one.json"
                cmd = [sys.executable, str(here), "--one-set", name, "--one-config", config,
                       "--one-out", str(out), "--width", str(a.width), "--depth",
                       str(a.depth), "--steps", str(a.steps), "--shared", str(a.shared),
                       *(["--fold-rounds", a.fold_rounds] if a.fold_rounds else []),
                       "--work", str(a.work)] + (["--small"] if a.small else [])
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, env=dict(os.environ))
                rec["configs"][config] = json.loads(out.read_text())
            r = rec["configs"][config]
            print(f"  {name} {config}: P = {r['P']}, train {r['train_s']:.0f} s, predict "
                  f"{r['predict_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB "
                  f"(wall {time.perf_counter() - t0:.0f} s)", flush=True)
        result["sets"][name] = rec
        print_set(name, rec, names)
        write_json(a.json, result)  # after every set: partial results survive
    return 0


def print_set(name: str, rec: dict, names: list[str]) -> None:
    """RMSE and calibration tables of one set."""
    configs = list(rec["configs"])
    header = ["label", *[f"rmse {c}" for c in configs]]
    if "ridge_rmse" in rec:
        header.append("rmse ridge")
    header += [f"std {c}" for c in configs]
    header += [f"err_unc {c}" for c in configs]  # how well the error bars are known
    header += [f"std_nf {c}" for c in configs]  # with noise-free training labels
    rows = []
    for lab in names:
        row = [lab, *[rec["configs"][c]["labels"][lab]["rmse"] for c in configs]]
        if "ridge_rmse" in rec:
            row.append(rec["ridge_rmse"][lab])
        row += [rec["configs"][c]["labels"][lab]["zstd"] for c in configs]
        row += [rec["configs"][c]["labels"][lab].get("err_unc", "") for c in configs]
        row += [rec["configs"][c]["labels"][lab].get("zstd_noise_free_labels") or ""
                for c in configs]
        rows.append(row)
    print(f"\n{name}: {rec['n_train']} / {rec['n_test']} stars, RMSE vs truth and std of "
          f"standardised residuals (window {STD_WINDOW})")
    print(text_table(header, rows))
    def in_window(r: dict) -> str:
        ok = sum(STD_WINDOW[0] <= s["zstd"] <= STD_WINDOW[1] for s in r["labels"].values())
        return f"{ok}/{len(names)}"

    print(text_table(["config", "P", "train s", "predict s", "peak RSS MB", "std in window"],
                     [[c, r["P"], r["train_s"], r["predict_s"], r["peak_rss_mb"], in_window(r)]
                      for c, r in rec["configs"].items()]))
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
