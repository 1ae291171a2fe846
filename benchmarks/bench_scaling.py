"""Streaming prediction time and peak memory for N = 10^4, 10^5, 10^6 objects.

Synthetic APOGEE-sized spectra (7,514 pixels, float32 flux and errors, 1 % bad pixels)
are generated block by block into an uncompressed, row-chunked HDF5 file of ``--base``
objects (10^5 by default: 6 GB); larger N are HDF5 *virtual* datasets that repeat those
rows (10^6 x 7,514 x 2 float32 would be 60 GB of disk; the repeated file reads the same
bytes through the same h5py path). Each N runs in a fresh process
(``starlux.stream.predict_file`` with P = 48, 12 labels, 1,024 objects per block, output
to ``.h5``), which reports its wall time, steady throughput (after the first block, which
includes JAX compilation) and peak resident memory (``getrusage``).

    python benchmarks/bench_scaling.py --n 1e4 1e5            # ~3 min + 6 GB of disk
    nohup python benchmarks/bench_scaling.py --n 1e6 > scaling_1e6.log &
    python benchmarks/bench_scaling.py --quick                 # small smoke test

Results are appended to ``WORKDIR/results.jsonl``; ``--clean`` removes the data files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (sys.path set-up)
from _common import HERE, machine, peak_rss_mb, table


def _child(args) -> None:
    import h5py
    import numpy as np
    from synthetic import make_truth, truth_model

    from starlux.stream import predict_file

    truth = make_truth(args.pixels, 12, args.latents, seed=0)
    model = truth_model(truth)
    marks = []
    t0 = time.perf_counter()
    s = predict_file(model, args.data, args.out, chunk_size=args.chunk_size,
                     progress=args.progress, resume=False, precision=args.precision,
                     callback=lambda i, rows: marks.append((time.perf_counter(), rows.stop)))
    wall = time.perf_counter() - t0
    steady = float("nan")
    if len(marks) > 2:
        (ta, na), (tb, nb) = marks[0], marks[-1]
        steady = (nb - na) / (tb - ta)
    with h5py.File(args.out, "r") as f, h5py.File(args.data, "r") as fd:
        k = min(2000, s.n_objects)
        resid = f["label"][:k] - fd["label_true"][:k]
        zrms = float(np.sqrt(np.mean((resid / f["label_err"][:k]) ** 2)))
    print(json.dumps({"n": s.n_objects, "seconds": wall, "objects_per_s": s.n_objects / wall,
                      "steady_objects_per_s": steady, "peak_rss_mb": peak_rss_mb(),
                      "z_rms": zrms, "precision": args.precision,
                      "chunk_size": args.chunk_size}))


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", nargs="+", type=float, default=[1e4, 1e5])
    ap.add_argument("--base", type=float, default=1e5,
                    help="objects actually generated on disk (larger N repeat them)")
    ap.add_argument("--pixels", type=int, default=7514)
    ap.add_argument("--latents", type=int, default=48)
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--workdir", default="/tmp/starlux-bench")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--clean", action="store_true", help="delete the data files at the end")
    ap.add_argument("--quick", action="store_true", help="N = 2,000 and 8,000 at 500 px")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args)
        return []
    if args.quick:
        args.n, args.base, args.pixels = [2000, 8000], 4000, 500
    from synthetic import make_truth, write_h5, write_repeated_h5

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    base_n = int(args.base)
    need_gb = base_n * args.pixels * 8 / 1e9
    free_gb = shutil.disk_usage(work).free / 1e9
    print(machine())
    print(f"disk: {free_gb:.0f} GB free in {work}; base file needs {need_gb:.1f} GB")
    base = work / f"base_{base_n}_{args.pixels}.h5"
    if not base.exists():
        if need_gb > 0.5 * free_gb:
            sys.exit(f"not enough disk for the {need_gb:.1f} GB base file; use --base")
        t0 = time.perf_counter()
        tmp = base.with_suffix(".tmp.h5")
        write_h5(str(tmp), make_truth(args.pixels, 12, args.latents, seed=0), base_n,
                 progress=args.progress)
        os.replace(tmp, base)
        print(f"wrote {base} in {time.perf_counter() - t0:.0f} s")
    rows = []
    for nf in args.n:
        n = int(nf)
        data = work / f"data_{n}_{args.pixels}.h5"
        write_repeated_h5(str(data), str(base), n)
        out = work / f"pred_{n}.h5"
        cmd = [sys.executable, os.path.join(HERE, "bench_scaling.py"), "--child",
               "--data", str(data), "--out", str(out), "--pixels", str(args.pixels),
               "--latents", str(args.latents), "--chunk-size", str(args.chunk_size),
               "--precision", args.precision] + (["--progress"] if args.progress else [])
        print(f"N = {n:,}: running ...", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"N = {n} failed:\n{proc.stderr[-3000:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["machine"] = machine()
        rows.append(res)
        with open(work / "results.jsonl", "a") as fh:
            fh.write(json.dumps(res) + "\n")
        print(table([res], _COLS), flush=True)
        out.unlink(missing_ok=True)
        data.unlink(missing_ok=True)
    print(table(rows, _COLS))
    if args.clean:
        base.unlink(missing_ok=True)
    return rows


_COLS = [("n", ",d"), ("seconds", ".1f"), ("objects_per_s", ".0f"),
         ("steady_objects_per_s", ".0f"), ("peak_rss_mb", ".0f"), ("z_rms", ".2f")]


if __name__ == "__main__":
    main()
