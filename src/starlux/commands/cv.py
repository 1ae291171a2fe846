"""``starlux cv TRAIN_FILE --out DIR [--latents 1x 2x 4x 8x] [--reg 1 10 100 1000]
[--folds 5] [--refit]``: K-fold cross-validation of P and Omega
(:mod:`starlux.evaluate.cv`)."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from ..io.paths import check_output
from .checks import check_folds, require_objects
from .options import (
    add_list_option,
    at_least,
    latent_size,
    nonnegative_float,
    positive_int,
)

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..evaluate.cv import SELECT_METRICS

    p.add_argument("train_file", metavar="TRAIN_FILE", help="training dataset (.npz/.h5/.fits)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_list_option(p, "--latents", default=["1x", "2x", "4x", "8x"], metavar="INT|Kx",
                    item_type=latent_size,
                    help="latent sizes: multiples of the label count or integers (P is "
                         "at least M+1)")
    add_list_option(p, "--reg", default=[1.0, 10.0, 100.0, 1000.0], metavar="OMEGA",
                    item_type=nonnegative_float, help="L2 strengths Omega (each >= 0)")
    p.add_argument("--folds", type=at_least(2), default=5, metavar="K",
                   help="number of folds K (each needs at least 2 labelled objects)")
    p.add_argument("--select", default="label_chi2", choices=SELECT_METRICS,
                   help="metric whose median over folds picks the best setting "
                        "(label_chi2: label term of eq. A1, latents from spectra)")
    p.add_argument("--rule", default="1se", choices=("1se", "min"),
                   help="1se: smallest P within one standard error of the best; min: "
                        "the smallest median")
    p.add_argument("--refit", action="store_true",
                   help="train the final model with the best setting on all the data "
                        "into DIR/model.h5")
    p.add_argument("--jobs", type=positive_int, default=None, metavar="INT",
                   help="parallel workers (default: about half the cores)")
    p.add_argument("--processes", action="store_true",
                   help="run the workers as separate processes instead of threads of "
                        "this one (each process copies the data and compiles anew)")
    p.add_argument("--iters", type=positive_int, default=5, metavar="INT",
                   help="agenda-1 iterations (at least 1)")
    p.add_argument("--n-iter", type=positive_int, dest="iters", help=argparse.SUPPRESS)
    p.add_argument("--prior", default="empirical", choices=("empirical", "l2", "none"),
                   help="latent prior at inference")
    p.add_argument("--seed", type=int, default=0, help="random seed of the folds and fits")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from ..evaluate.cv import choose_best, cross_validate, write_cv
    from ..io.datasets import read_dataset
    from ..io.locks import output_lock
    from ..model import Lux

    check_output(args.out, [args.train_file], folder=True)
    with output_lock(args.out):
        ds = require_objects(read_dataset(args.train_file), args.train_file)
        check_folds(ds, args.folds, args.train_file, per_fold=2)
        config = Lux(n_iter=args.iters, prior=args.prior, seed=args.seed,
                     progress=not args.no_progress)
        t0 = time.time()
        res = cross_validate(ds, latents=args.latents, regs=args.reg, folds=args.folds,
                             config=config, select=args.select, rule=args.rule,
                             n_jobs=args.jobs,
                             executor="process" if args.processes else "thread",
                             seed=args.seed, progress=not args.no_progress)
        paths = write_cv(res, args.out)
        b = res.best
        log.info(f"cross-validated {len(res.grid)} latent sizes x {len(res.regs)} strengths "
                 f"over {args.folds} folds in {time.time() - t0:.1f} s")
        log.info(f"best ({args.select}, rule {args.rule}): latents={b['latents']} "
                 f"(P={b['P']}), reg={b['reg']:g}; median over folds: eq. A1 chi2 from "
                 f"spectra={b['chi2_flux_median']:.6g}, from labels="
                 f"{b['chi2_labels_median']:.6g}, label chi2={b['label_chi2_median']:.6g}, "
                 f"scaled label RMSE={b['rmse_scaled_median']:.4g}")
        for metric in ("chi2_flux", "chi2_labels"):
            m = choose_best(res.summary, res.rows, metric, "min")
            log.info(f"  (smallest median {metric}: latents={m['latents']} (P={m['P']}), "
                     f"reg={m['reg']:g})")
        log.info(f"wrote {paths['csv']}, {paths['folds_csv']}, {paths['json']}, "
                 f"{paths['png']}")
        if args.refit:
            model = config.replace(latents=b["P"], reg=b["reg"]).fit(ds)
            out = Path(args.out) / "model.h5"
            model.save(str(out))
            log.info(f"refit on all {ds.n} objects with P={b['P']}, reg={b['reg']:g}; "
                     f"wrote {out}")
    return 0
