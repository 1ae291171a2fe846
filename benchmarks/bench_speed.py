"""Core speed targets (issue 6): training and prediction at APOGEE size on this machine.

Trains the default ``Lux(latents=48)`` on N = 5,000 synthetic stars x 7,514 pixels with
M = 12 labels (5 % missing), then predicts 10,000 other stars from their spectra with
the in-memory Python API, and prints a table: training seconds, prediction seconds
(cold: including JAX compilation; warm: a second call), peak resident memory, and the
label accuracy against the truth as a sanity check.

Beside it, in the same run, a plain-NumPy exact alternating-least-squares fit of the
same training data (``numpy_als.py``: the same agenda, float64 BLAS) and starlux's own
fit without the calibration folds, for the ratio of the core's speed to NumPy's.

Targets on the 2-core development machine (the design issue): training <= 40 s with
calibration and at most half the NumPy fit's time, prediction of 10,000 stars <= 5 s,
peak memory <= 3 GB.

    python benchmarks/bench_speed.py            # the full-size benchmark
    python benchmarks/bench_speed.py --quick    # 1,000 x 1,000 smoke test
"""

from __future__ import annotations

import argparse
import gc
import time

import _common  # noqa: F401  (sys.path set-up)
import numpy as np
from _common import machine, peak_rss_mb, table
from numpy_als import fit as numpy_fit
from synthetic import make_arrays, make_truth

from starlux import Dataset
from starlux.model import Lux


def _dataset(arr: dict, labels: bool) -> Dataset:
    kw = dict(flux=arr["flux"], flux_err=arr["flux_err"], wavelength=arr["wavelength"],
              ids=arr["id"])
    if labels:
        kw.update(label=arr["label"], label_err=arr["label_err"],
                  label_names=arr["label_names"])
    return Dataset.from_arrays(**kw)


def _model_units(ds: Dataset) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(y, w) per output in model units for the NumPy reference (labels centred and
    scaled as starlux does; missing entries weight 0)."""
    from starlux.units import label_scaling

    out = {}
    for name, o in ds.outputs.items():
        obs = ~o.missing
        y = np.where(obs, o.values, 0.0).astype(np.float64)
        w = np.where(obs, 1.0 / np.where(obs, o.errors, 1.0) ** 2, 0.0)
        if o.kind == "label":
            c, s = label_scaling(o.values, obs)
            y = np.where(obs, (y - c) / s, 0.0)
            w = w * s**2
        out[name] = (y, w)
    return out


GRAM_PRODUCTS = 21
"""Full-size weighted Gram products in one default training with calibration (P fixed,
linear maps): agenda 1, 2 x n_iter = 10; the clipping round, 2; agenda 2 (scatter
maps, penalised latents, final maps), 3; the spectra-only latents of the
discriminative re-fit, 1; three calibration folds, each a map solve and spectra-only
latents on 2/3 of the stars, 4; their held-out predictions, 1."""


def gram_floor(n: int, d: int, p: int) -> dict:
    """Time one float32 packed Gram product ``w (n, d) @ packed outer products (d,
    (p+1)(p+2)/2)`` with JAX, the operation every exact solve of training is built
    on: its rate is the machine's arithmetic floor for the core."""
    import jax
    import jax.numpy as jnp

    k = (p + 1) * (p + 2) // 2
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.random((n, d), np.float32))
    packed = jnp.asarray(rng.random((d, k), np.float32))
    product = jax.jit(lambda a, b: a @ b)
    product(w, packed).block_until_ready()
    t0 = time.perf_counter()
    for _ in range(3):
        product(w, packed).block_until_ready()
    seconds = (time.perf_counter() - t0) / 3
    return {"gram_s": seconds, "gram_gflops": 2.0 * n * d * k / seconds / 1e9,
            "floor_s": GRAM_PRODUCTS * seconds}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--n-test", type=int, default=10000)
    ap.add_argument("--pixels", type=int, default=7514)
    ap.add_argument("--labels", type=int, default=12)
    ap.add_argument("--latents", type=int, default=48)
    ap.add_argument("--quick", action="store_true", help="1,000 x 1,000 pixels, P = 24")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--no-numpy", dest="numpy", action="store_false",
                    help="skip the plain-NumPy reference fit")
    ap.add_argument("--compilation-cache", metavar="DIR", default=None,
                    help="persistent JAX compilation cache (starlux.enable_compilation_cache):"
                         " run twice to measure a warm cache (compilation skipped)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.pixels, args.latents = 1000, 2000, 1000, 24
    if args.compilation_cache:
        from starlux import enable_compilation_cache

        enable_compilation_cache(args.compilation_cache)
    print(machine())
    truth = make_truth(args.pixels, args.labels, args.latents, seed=0)
    train = _dataset(make_arrays(truth, args.n_train, seed=1), labels=True)
    res: dict = {"n_train": args.n_train, "pixels": args.pixels, "M": args.labels,
                 "P": args.latents}
    t0 = time.perf_counter()
    model = Lux(latents=args.latents, progress=args.progress).fit(train)
    res["train_s"] = time.perf_counter() - t0
    res["rss_train_mb"] = peak_rss_mb()
    if args.numpy:
        t0 = time.perf_counter()
        Lux(latents=args.latents, progress=False, calibrate=False).fit(train)
        res["train_nocal_s"] = time.perf_counter() - t0
        outputs = _model_units(train)
        t0 = time.perf_counter()
        numpy_fit(outputs, ["label"], args.latents, reg=10.0)
        res["numpy_als_s"] = time.perf_counter() - t0
        del outputs
        res["train_over_numpy"] = res["train_s"] / res["numpy_als_s"]
        res.update(gram_floor(args.n_train, args.pixels, args.latents))
    del train
    gc.collect()
    # the test stars in blocks of 2,000 (the generator's float64 temporaries would
    # otherwise dominate the peak memory); the Dataset keeps the float32 spectra
    blocks = [make_arrays(truth, 2000, seed=2 + 1000 * i)
              for i in range((args.n_test + 1999) // 2000)]
    arr = {k: np.concatenate([b[k] for b in blocks])[:args.n_test]
           for k in ("flux", "flux_err", "label_true", "id")}
    arr["wavelength"] = blocks[0]["wavelength"]
    del blocks
    test = _dataset(arr, labels=False)
    label_true = arr["label_true"]
    del arr
    gc.collect()
    t0 = time.perf_counter()
    pred = model.predict(test)
    res["predict_cold_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = model.predict(test)
    res["predict_warm_s"] = time.perf_counter() - t0
    res["n_test"] = args.n_test
    res["peak_rss_mb"] = peak_rss_mb()
    resid = pred["label"].values - label_true
    zres = resid / pred["label"].errors
    res["z_rms"] = float(np.sqrt(np.mean(zres**2)))
    res["zstd_min"], res["zstd_max"] = float(zres.std(0).min()), float(zres.std(0).max())
    names = list(pred["label"].names)
    rmse = np.sqrt(np.mean(resid**2, axis=0))
    cols = [("n_train", "d"), ("pixels", "d"), ("M", "d"), ("P", "d"), ("train_s", ".1f")]
    if args.numpy:
        cols += [("train_nocal_s", ".1f"), ("numpy_als_s", ".1f"), ("train_over_numpy", ".2f")]
    print(table([res], cols + [("n_test", "d"), ("predict_cold_s", ".1f"),
                        ("predict_warm_s", ".1f"), ("rss_train_mb", ".0f"),
                        ("peak_rss_mb", ".0f"),
                        ("z_rms", ".2f"), ("zstd_min", ".2f"), ("zstd_max", ".2f")]))
    if args.numpy:
        print(f"arithmetic floor: one float32 packed Gram product {res['gram_s']:.2f} s "
              f"({res['gram_gflops']:.0f} GFLOP/s); the {GRAM_PRODUCTS} of a training with "
              f"calibration {res['floor_s']:.1f} s at that rate, before any other work or "
              f"compilation; half the NumPy fit is {0.5 * res['numpy_als_s']:.1f} s")
    print("targets: train_s <= 40 and <= 0.5 x numpy_als_s, predict (10,000 stars) <= 5 s, "
          "peak RSS <= 3000 MB (train_nocal_s: starlux without the calibration folds; "
          "rss_train_mb: peak after training; peak_rss_mb: after prediction too)")
    print("held-out RMSE vs truth: " + ", ".join(f"{n} {v:.3g}" for n, v in
                                                  zip(names[:4], rmse[:4], strict=True))
          + "  (z_rms: RMS of residual / reported error; zstd_min/max: the smallest and "
          "largest per-label std of residual / reported error)")
    return res


if __name__ == "__main__":
    main()
