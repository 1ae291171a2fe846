"""``starlux demo``: the whole main job on data shipped inside the package.

Loads the data, splits it into training and held-out objects, trains a Lux model
(P and the model-error term chosen on internal folds), predicts the held-out labels
from their spectra alone, prints bias / RMSE / mean uncertainty per label, and writes a
report folder: one-to-one plots (PNG), the metrics table (CSV), the model (HDF5) and
the predictions (CSV).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .data import Dataset
from .evaluate.metrics import format_metrics, label_metrics, metrics_to_csv
from .evaluate.plots import one_to_one_all
from .io.predictions import write_prediction
from .model import Lux
from .samples import load_apogee_671, make_emulated_apogee

__all__ = ["run_demo"]


def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def run_demo(out: str | Path = "starlux-demo", data: str = "real", seed: int = 0,
             progress: bool = True) -> list[dict]:
    """Run the demo; returns the metrics rows. ``data`` is ``"real"`` or ``"emulated"``."""
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if data == "real":
        full = load_apogee_671()
        train_idx, test_idx = _split(full.n, 0.25, seed)
        train, test = full.take(train_idx), full.take(test_idx)
        reference = test["label"].values
        ref_label = "catalogue (ASPCAP)"
        about = ("671 real APOGEE giants (AnniesLasso test set, 100 pixels); labels "
                 "with assumed errors 50 K / 0.05 / 0.03 dex")
    elif data == "emulated":
        train = make_emulated_apogee(600, seed=seed)
        test = make_emulated_apogee(200, seed=seed + 1, missing=0.0)
        reference = test.extras["label_true"]
        ref_label = "truth"
        about = ("APOGEE-like spectra from the binspec_plus emulator (7214 pixels), "
                 "600 training / 200 test stars, SNR 50-200, 5% labels missing")
    else:
        raise ValueError(f"unknown demo data {data!r}; use 'real' or 'emulated'")
    print(f"starlux demo: {about}")
    print(f"  training on {train.n} objects, predicting {test.n} held-out objects")
    model = Lux(seed=seed, progress=progress).fit(train)
    print(f"  chose P = {model.n_latents}, Omega = {model.reg:g} "
          f"({len(model.selection)} candidates scored on a held-out fold)")
    pred = model.predict(Dataset(outputs={"flux": test["flux"]}, ids=test.ids))
    names = model.specs["label"].names
    rows = label_metrics(pred["label"].values, pred["label"].errors, reference, names,
                         reference_err=test["label"].errors if data == "real" else None)
    print(format_metrics(rows, title=f"\nheld-out labels from spectra vs {ref_label}:"))
    model.save(out / "model.h5")
    metrics_to_csv(rows, out / "metrics.csv")
    write_prediction(out / "predictions.csv", pred)
    one_to_one_all(pred["label"].values, reference, names, out, pred["label"].errors,
                   xlabel=ref_label)
    print(f"\nreport written to {out}/ (one_to_one_*.png, metrics.csv, predictions.csv, "
          f"model.h5) in {time.time() - t0:.1f} s")
    return rows
