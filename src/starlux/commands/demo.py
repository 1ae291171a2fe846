"""``starlux demo [--out DIR] [--data real|emulated]``: the main job on shipped data."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="starlux-demo", metavar="DIR",
                   help="folder for the datasets, model, predictions and plots "
                        "(default: %(default)s)")
    p.add_argument("--data", choices=["real", "emulated"], default="real",
                   help="embedded data: 671 real APOGEE giants, or APOGEE-like spectra "
                        "from the binspec_plus emulator with known truth "
                        "(default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, metavar="INT",
                   help="random seed of the train/test split (or of the emulated "
                        "stars) and of the fit (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    run_demo(args.out, data=args.data, seed=args.seed, progress=not args.no_progress)
    return 0
