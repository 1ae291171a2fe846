"""``starlux demo``: the whole main job on data shipped inside the package.

Loads the data, splits it into training and held-out objects, trains a Lux model
(P and the model-error term chosen on internal folds), predicts the held-out labels
from their spectra alone, prints bias / RMSE / calibration per label, and writes a
folder that the other commands can be pointed at next:

* ``train.h5``, ``test.h5``: the two datasets (``starlux cv``, ``starlux report``);
* ``model.h5``: the trained model;
* ``predictions.fits``, ``predictions.csv``: the held-out label table (units, errors);
* ``metrics.csv`` and one one-to-one plot per label (PNG).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from .data import Dataset
from .datasets import load_apogee671, make_emulated
from .evaluate.metrics import format_metrics, label_metrics, metrics_to_csv
from .evaluate.plots import one_to_one_all
from .io.datasets import write_dataset
from .io.predictions import write_prediction
from .model import Lux

__all__ = ["run_demo", "load_demo_data", "next_commands"]

log = logging.getLogger(__name__)


def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def load_demo_data(data: str = "real", seed: int = 0) -> tuple[Dataset, Dataset, str]:
    """The demo's (train, test, description): ``"real"`` splits the 671 APOGEE giants
    3:1; ``"emulated"`` draws 600 training and 200 test stars from the emulator."""
    if data == "real":
        full = load_apogee671()
        train_idx, test_idx = _split(full.n, 0.25, seed)
        return full.take(train_idx), full.take(test_idx), (
            "671 real APOGEE giants (AnniesLasso test set, 100 pixels); labels with "
            "assumed errors 50 K / 0.05 / 0.03 dex")
    if data == "emulated":
        train, test = make_emulated(600, 200, seed=seed)
        return train, test, ("APOGEE-like spectra from the binspec_plus emulator (7214 "
                             "pixels), 600 training / 200 test stars, SNR 50-200, 5% "
                             "of training labels missing")
    raise ValueError(f"unknown demo data {data!r}; use 'real' or 'emulated'")


def next_commands(out: str | Path) -> list[str]:
    """The commands to run next on the demo's files."""
    out = Path(out)
    return [f"starlux report {out / 'model.h5'} {out / 'test.h5'} --out {out / 'report'}",
            f"starlux cv {out / 'train.h5'} --out {out / 'cv'}"]


def run_demo(out: str | Path = "starlux-demo", data: str = "real", seed: int = 0,
             progress: bool = True) -> list[dict]:
    """Run the demo; returns the metrics rows. ``data`` is ``"real"`` or ``"emulated"``."""
    t0 = time.time()
    out = Path(out)
    train, test, about = load_demo_data(data, seed)
    out.mkdir(parents=True, exist_ok=True)
    truth = test.extras.get("label_true")
    reference = test["label"].values if truth is None else truth
    ref_label = "catalogue" if truth is None else "truth"
    print(f"starlux demo: {about}")
    print(f"  training on {train.n} objects, predicting {test.n} held-out objects")
    write_dataset(out / "train.h5", train)
    write_dataset(out / "test.h5", test)
    model = Lux(seed=seed, progress=progress).fit(train)
    print(f"  chose P = {model.n_latents}, Omega = {model.reg:g} "
          f"({len(model.selection)} candidates scored on a held-out fold)")
    pred = model.predict(Dataset(outputs={"flux": test["flux"]}, ids=test.ids))
    names = model.specs["label"].names
    ref_err = test["label"].errors if truth is None else None
    rows = label_metrics(pred["label"].values, pred["label"].errors, reference, names,
                         reference_err=ref_err)
    print(format_metrics(rows, title=f"\nheld-out labels from spectra vs {ref_label}:"))
    model.save(out / "model.h5")
    metrics_to_csv(rows, out / "metrics.csv")
    for suffix in (".fits", ".csv"):
        write_prediction(out / f"predictions{suffix}", pred, model=str(out / "model.h5"))
    one_to_one_all(pred["label"].values, reference, names, out, pred["label"].errors,
                   reference_err=ref_err, reference_name=ref_label)
    print(f"\nwritten to {out}/ in {time.time() - t0:.1f} s: train.h5, test.h5, model.h5, "
          "predictions.fits / .csv, metrics.csv, one_to_one_*.png")
    print("next:\n" + "\n".join(f"  {c}" for c in next_commands(out)))
    log.debug("demo finished in %.1f s", time.time() - t0)
    return rows
