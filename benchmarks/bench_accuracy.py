"""Held-out label accuracy of starlux (default settings) on the shared benchmarks.

Two benchmarks with known true labels (made by the scripts in ``../shared/bench``):

* ``emulated``: APOGEE-like spectra from the binspec_plus emulator
  (``emulated_apogee.py --n-train 4000 --n-test 1000``); starlux is compared with ridge
  regression (flux -> label, one RidgeCV per label) trained on the same noisy labels.
* ``linetoy``: the line-formation toy (``line_toy.py --n-train 5000 --n-test 2000
  --seed 0``); starlux uses all 5,000 training stars and is compared with the Cannon's
  and ridge's figures in ``../shared/bench/README.md`` (which could use only the 2,746
  stars with complete labels).

Usage::

    python benchmarks/bench_accuracy.py emulated --shared ../shared --work bench-out
    python benchmarks/bench_accuracy.py linetoy --shared ../shared --work bench-out

Prints a markdown table of RMSE vs truth per label (and the standardised-residual
scatter of starlux's reported errors) and writes it to ``WORK/accuracy_<name>.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from starlux import Dataset
from starlux.io import read_dataset
from starlux.model import Lux

CANNON_LINETOY = {"TEFF": 46.8, "LOGG": 0.129, "FE_H": 0.082, "C_FE": 0.076, "N_FE": 0.122,
                  "O_FE": 0.055, "MG_FE": 0.053, "AL_FE": 0.077, "SI_FE": 0.049,
                  "CA_FE": 0.070, "MN_FE": 0.073, "NI_FE": 0.055}
RIDGE_LINETOY = {"TEFF": 34.1, "LOGG": 0.175, "FE_H": 0.087, "C_FE": 0.050, "N_FE": 0.105,
                 "O_FE": 0.043, "MG_FE": 0.042, "AL_FE": 0.054, "SI_FE": 0.032,
                 "CA_FE": 0.039, "MN_FE": 0.053, "NI_FE": 0.030}


def ridge_rmse(train: Dataset, test: Dataset, truth: np.ndarray) -> np.ndarray:
    """RMSE vs truth of per-label RidgeCV (flux -> label) on the observed labels."""
    from sklearn.linear_model import RidgeCV

    x_tr, x_te = train["flux"].values, test["flux"].values
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-12
    x_tr, x_te = (x_tr - mu) / sd, (x_te - mu) / sd
    out = []
    for j in range(train["label"].dim):
        ok = ~train["label"].missing[:, j]
        reg = RidgeCV(alphas=np.logspace(-1, 5, 13)).fit(x_tr[ok], train["label"].values[ok, j])
        out.append(np.sqrt(np.mean((reg.predict(x_te) - truth[:, j]) ** 2)))
    return np.array(out)


def load_linetoy(path: Path) -> tuple[Dataset, Dataset, np.ndarray]:
    d = np.load(path)
    names = [str(s) for s in d["label_names"]]

    def part(p: str) -> Dataset:
        return Dataset.from_arrays(flux=d[f"{p}_flux"], flux_err=d[f"{p}_flux_err"],
                                   label=d[f"{p}_label"], label_err=d[f"{p}_label_err"],
                                   label_names=names, wavelength=d["wavelength"])

    return part("train"), part("test"), d["test_label_true"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", choices=["emulated", "linetoy"])
    ap.add_argument("--shared", default="../shared", help="the shared/ folder")
    ap.add_argument("--work", default="bench-out", help="folder for generated data/results")
    ap.add_argument("--latents", default=None, help="override P (default: automatic)")
    a = ap.parse_args(argv)
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    bench = Path(a.shared) / "bench"
    if a.bench == "emulated":
        prefix = work / "emu4k"
        if not Path(f"{prefix}_train.npz").exists():
            subprocess.run([sys.executable, str(bench / "emulated_apogee.py"), "--n-train",
                            "4000", "--n-test", "1000", "--out-prefix", str(prefix)], check=True)
        train = read_dataset(f"{prefix}_train.npz")
        test = read_dataset(f"{prefix}_test.npz")
        truth = test.extras["label_true"]
    else:
        path = work / "linetoy.npz"
        if not path.exists():
            subprocess.run([sys.executable, str(bench / "line_toy.py"), "--n-train", "5000",
                            "--n-test", "2000", "--seed", "0", "--out", str(path)], check=True)
        train, test, truth = load_linetoy(path)
    latents = a.latents if a.latents is None or not a.latents.isdigit() else int(a.latents)
    t0 = time.time()
    model = Lux(latents=latents).fit(train)
    t_train = time.time() - t0
    t0 = time.time()
    pred = model.predict(test.with_outputs(["flux"]))
    t_pred = time.time() - t0
    names = model.specs["label"].names
    resid = pred["label"].values - truth
    rmse = np.sqrt(np.mean(resid**2, axis=0))
    zstd = (resid / pred["label"].errors).std(0)
    rows = [("starlux (default; " + f"P={model.n_latents}, Ω={model.reg:g}; "
             f"{train.n} train stars; {t_train:.0f} s / {t_pred:.1f} s)", rmse)]
    if a.bench == "emulated":
        rows.append((f"ridge regression on the same noisy labels ({train.n} stars)",
                     ridge_rmse(train, test, truth)))
    else:
        rows.append(("The Cannon (README figures; 2,746 stars)",
                     np.array([CANNON_LINETOY[n] for n in names])))
        rows.append(("ridge regression (README figures; 2,746 stars)",
                     np.array([RIDGE_LINETOY[n] for n in names])))
    lines = ["| method | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, vals in rows:
        lines.append(f"| {label} | " + " | ".join(f"{v:.4g}" for v in vals) + " |")
    lines.append("| starlux std((pred − truth)/err) | "
                 + " | ".join(f"{v:.2f}" for v in zstd) + " |")
    table = "\n".join(lines)
    print(table)
    print("selection:", model.selection)
    (work / f"accuracy_{a.bench}.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
