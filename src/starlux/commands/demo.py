"""``starlux demo [--out DIR] [--data real|emulated]``."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="starlux-demo", help="report folder (default ./starlux-demo)")
    p.add_argument("--data", choices=["real", "emulated"], default="real",
                   help="embedded data: 671 real APOGEE giants (default) or emulated spectra")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    run_demo(args.out, data=args.data, seed=args.seed, progress=not args.no_progress)
    return 0
