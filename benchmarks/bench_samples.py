"""Posterior samples against the reported errors and the truth.

For each set (made as in ``bench_calibration.py``), starlux is trained with default
settings (or ``--transform flux=mlp``) and predicts the test stars from flux with
``samples=K``. One row per set and label:

* ``sd_ratio``: median over stars of std(samples) / reported error (target 0.9-1.1);
* ``q68`` / ``q95``: fraction of stars whose true label lies inside the central 68.3 % /
  95.4 % interval of its samples;
* ``g68`` / ``g95``: the same for the Gaussian intervals value +- 1 / 2 errors (the two
  should agree: the samples carry the same error model).

Usage::

    python benchmarks/bench_samples.py --work bench-out --sets emu600 toy600
    python benchmarks/bench_samples.py --work bench-out --transform flux=mlp --latents 7
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common  # noqa: F401  (sys.path set-up)
import numpy as np
from _common import machine, text_table, write_json
from bench_calibration import SETS, add_set_arguments, make_set

from starlux.model import Lux


def sample_stats(samples: np.ndarray, values: np.ndarray, errors: np.ndarray,
                 truth: np.ndarray) -> dict[str, float]:
    """The row of one label: samples (N, K), values / errors / truth (N,)."""
    lo68, hi68, lo95, hi95 = np.percentile(samples, [15.87, 84.13, 2.28, 97.72], axis=1)
    return {
        "sd_ratio": float(np.median(samples.std(axis=1) / errors)),
        "q68": float(np.mean((truth > lo68) & (truth < hi68))),
        "q95": float(np.mean((truth > lo95) & (truth < hi95))),
        "g68": float(np.mean(np.abs(values - truth) < errors)),
        "g95": float(np.mean(np.abs(values - truth) < 2 * errors)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", nargs="+", default=["emu600", "toy600"], choices=sorted(SETS))
    add_set_arguments(ap)
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--sampler", default="gaussian", choices=("gaussian", "nuts"))
    ap.add_argument("--transform", action="append", default=[], metavar="OUTPUT=NAME")
    ap.add_argument("--latents", default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    transforms = dict(t.split("=", 1) for t in args.transform) or None
    latents = None if args.latents is None else (
        int(args.latents) if args.latents.isdigit() else args.latents)
    print(machine())
    rows, result = [], {"samples": args.samples, "sampler": args.sampler,
                        "transforms": transforms, "latents": latents, "sets": {}}
    for name in args.sets:
        train, test, truth, _ = make_set(name, SETS[name], args.shared, args.work, args.small)
        t0 = time.perf_counter()
        model = Lux(progress=False, latents=latents, transforms=transforms).fit(train)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = model.predict(test, samples=args.samples, sampler=args.sampler)["label"]
        predict_s = time.perf_counter() - t0
        labels = {}
        for j, label in enumerate(pred.names):
            s = sample_stats(pred.samples[:, :, j], pred.values[:, j], pred.errors[:, j],
                             truth[:, j])
            labels[label] = s
            rows.append([name, label, s["sd_ratio"], s["q68"], s["g68"], s["q95"], s["g95"]])
        result["sets"][name] = {"P": model.n_latents, "train_s": train_s,
                                "predict_s": predict_s, "labels": labels}
        print(f"{name}: P={model.n_latents}, train {train_s:.0f} s, predict with "
              f"{args.samples} samples {predict_s:.1f} s", flush=True)
    print(text_table(["set", "label", "sd_ratio", "q68", "g68", "q95", "g95"], rows))
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
