"""``starlux train TRAIN_FILE --out MODEL [--latents 4x|INT] [--reg FLOAT] ...``."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("train_file", metavar="TRAIN_FILE", help="dataset file (.npz or .h5)")
    p.add_argument("--out", required=True, metavar="MODEL", help="model file to write (.h5)")
    p.add_argument("--latents", default=None,
                   help="latent size P: an integer or a multiple of the label count like "
                        "'4x' (default: chosen on a held-out fold among M+1, 2x, 4x, 8x)")
    p.add_argument("--reg", type=float, default=None,
                   help="L2 penalty Omega on the latents (default: chosen on a held-out "
                        "fold among 1, 10, 100, 1000 after P)")
    p.add_argument("--iters", type=int, default=5, help="agenda-1 iterations (default 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--folds", type=int, default=3,
                   help="folds for the model-error calibration (default 3)")
    p.add_argument("--fold-rounds", default="0", metavar="INT|scratch",
                   help="calibration fold models: re-solve maps (and latents INT times) "
                        "starting from the final fit (default 0), or 'scratch' to fit each "
                        "fold from scratch (about 3x slower)")
    p.add_argument("--no-calibrate", action="store_true",
                   help="skip learning the model-error term (Fisher errors only)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from ..io.datasets import read_dataset
    from ..model import Lux

    ds = read_dataset(args.train_file)
    latents = args.latents
    if latents is not None and latents.isdigit():
        latents = int(latents)
    rounds = args.fold_rounds.strip().lower()
    if rounds != "scratch" and not rounds.isdigit():
        raise ValueError(f"--fold-rounds must be a non-negative integer or 'scratch', "
                         f"got {args.fold_rounds!r}")
    cfg = Lux(latents=latents, reg=args.reg, n_iter=args.iters, seed=args.seed,
              folds=args.folds, calibrate=not args.no_calibrate,
              fold_rounds=None if rounds == "scratch" else int(rounds),
              progress=not args.no_progress)
    print(ds.describe())
    model = cfg.fit(ds)
    model.save(args.out)
    print(f"trained P={model.n_latents}, Omega={model.reg:g}; "
          f"final chi2={model.history[-1][1]:.6g}; wrote {args.out}")
    return 0
