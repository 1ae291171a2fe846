"""Accuracy of ``precision="float32"`` / ``"auto"`` against ``"float64"`` predictions.

Trains a Lux model (P = 20) on APOGEE-like spectra from the binspec_plus emulator shipped
with starlux (7,214 pixels, 5 labels), then predicts held-out stars from their spectra
with each precision and prints, per label, the largest difference in predicted value
(in units of the reported error) and in the reported error (relative), plus the speed.
``float32, no refinement`` shows what the float64 refinement step buys.

    python benchmarks/bench_precision.py [--n-train 1500] [--n-test 2000]
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401  (sys.path set-up)
import numpy as np
from _common import machine, table

from starlux.datasets import make_emulated_apogee
from starlux.infer import BlockPredictor, concat_predictions
from starlux.model import Lux


def run(model, test, precision: str, refine: bool = True):
    bp = BlockPredictor(model, ["flux"], ["label"], precision=precision)
    if not refine:
        bp.n_refine = 0
    parts, t = [], 0.0
    for a in range(0, test.n, 1024):
        rows = slice(a, min(test.n, a + 1024))
        t0 = time.perf_counter()
        parts.append(bp.predict_dataset_rows(test, rows, 1024))
        t += time.perf_counter() - t0 if a else 0.0  # the first block compiles
    return concat_predictions(parts), t


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-train", type=int, default=1500)
    ap.add_argument("--n-test", type=int, default=4096)
    ap.add_argument("--latents", type=int, default=20)
    args = ap.parse_args(argv)
    print(machine())
    train = make_emulated_apogee(args.n_train, seed=0)
    test = make_emulated_apogee(args.n_test, seed=1).with_outputs(["flux"])
    model = Lux(latents=args.latents, progress=False).fit(train)
    ref, t64 = run(model, test, "float64")
    names = ref["label"].names
    rows = [{"precision": "float64", "s (after 1st block)": t64}]
    for prec, refine in (("auto", True), ("float32", True), ("float32", False)):
        p, t = run(model, test, prec, refine)
        dv = np.abs(p["label"].values - ref["label"].values) / ref["label"].errors
        de = np.abs(p["label"].errors - ref["label"].errors) / ref["label"].errors
        row = {"precision": prec + ("" if refine else ", no refinement"),
               "s (after 1st block)": t}
        for j, n in enumerate(names):
            row[f"{n} dv/err"] = float(dv[:, j].max())
        row["max derr/err"] = float(de.max())
        row["median dv/err"] = float(np.median(dv))
        rows.append(row)
    cols = [("precision", "s"), ("s (after 1st block)", ".2f")]
    cols += [(f"{n} dv/err", ".1e") for n in names]
    cols += [("median dv/err", ".1e"), ("max derr/err", ".1e")]
    print(table(rows, cols))
    print(f"{args.n_test} test stars, P = {model.n_latents}; dv/err: largest |value - "
          "float64 value| / float64 error over the stars")
    return rows


if __name__ == "__main__":
    main()
