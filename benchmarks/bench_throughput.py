"""Throughput on the current JAX device: prediction objects/s and training s/iteration.

Prints ``jax.devices()`` and a table. Prediction is the per-block kernel of
``starlux.infer.BlockPredictor`` (what ``predict`` and ``predict_file`` run for each
block) on synthetic float32 spectra held in memory, warm (compiled), for each
``precision``; file reading is not included (see ``bench_scaling.py`` for end-to-end
streaming). Training seconds per iteration are the difference between fits with
``n_iter`` = 1 and 3 (the default configuration otherwise, without calibration folds),
divided by 2: one agenda-1 iteration (every map given the latents, then the latents).

    python benchmarks/bench_throughput.py                     # CPU or GPU, whatever JAX has
    JAX_PLATFORMS=cpu python benchmarks/bench_throughput.py   # force the CPU
    python benchmarks/bench_throughput.py --no-train --blocks 20
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401  (sys.path set-up)
import jax
from _common import machine, peak_rss_mb, table
from synthetic import make_arrays, make_dataset, make_truth, truth_model

from starlux.infer import BlockPredictor
from starlux.model import Lux


def predict_rate(model, arrays: list[dict], chunk: int, precision: str, blocks: int) -> dict:
    bp = BlockPredictor(model, ["flux"], ["label"], precision=precision)
    t0 = time.perf_counter()
    bp.run({"flux": (arrays[0]["flux"], arrays[0]["flux_err"], None)}, chunk=chunk)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    c0 = time.process_time()
    for i in range(blocks):
        a = arrays[i % len(arrays)]
        bp.run({"flux": (a["flux"], a["flux_err"], None)}, chunk=chunk)
    wall = time.perf_counter() - t0
    return {"what": f"predict ({precision})", "objects/s": blocks * chunk / wall,
            "s/block": wall / blocks, "cpu/wall": (time.process_time() - c0) / wall,
            "first call s": compile_s}


def train_rate(truth, n: int, latents: int) -> dict:
    ds = make_dataset(truth, n, seed=3)
    times = {}
    for it in (1, 3):
        t0 = time.perf_counter()
        Lux(latents=latents, n_iter=it, calibrate=False, progress=False).fit(ds)
        times[it] = time.perf_counter() - t0
    return {"what": f"train N={n}", "s/iteration": (times[3] - times[1]) / 2,
            "first call s": times[1]}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pixels", type=int, default=7514)
    ap.add_argument("--latents", type=int, default=48)
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--blocks", type=int, default=10, help="timed blocks per precision")
    ap.add_argument("--precision", nargs="+", default=["auto", "float64"])
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--no-train", action="store_true")
    args = ap.parse_args(argv)
    print("jax.devices():", jax.devices())
    print(machine())
    truth = make_truth(args.pixels, 12, args.latents, seed=0)
    model = truth_model(truth)
    arrays = [make_arrays(truth, args.chunk_size, seed=s, labels=False) for s in (1, 2)]
    rows = [predict_rate(model, arrays, args.chunk_size, p, args.blocks)
            for p in args.precision]
    if not args.no_train:
        rows.append(train_rate(truth, args.n_train, args.latents))
    for r in rows:
        r["device"] = jax.devices()[0].platform
    print(table(rows, [("what", "s"), ("device", "s"), ("objects/s", ".0f"),
                       ("s/block", ".3f"), ("cpu/wall", ".2f"), ("s/iteration", ".2f"),
                       ("first call s", ".1f")]))
    print(f"pixels {args.pixels}, P {args.latents}, block {args.chunk_size} objects; "
          f"peak RSS {peak_rss_mb():.0f} MB")
    return rows


if __name__ == "__main__":
    main()
