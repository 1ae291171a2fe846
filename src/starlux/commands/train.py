"""``starlux train TRAIN_FILE --out MODEL [--latents 4x|INT] [--reg FLOAT] ...``.

Every option and the output path are checked before training starts, and ``--out``
is locked while the model is being trained, so a mistake or a second run never costs
a finished model or the input data.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from ..data import DataError, Dataset
from ..io.errors import FileFormatError
from ..io.formats import can_hold
from ..io.paths import check_output
from ..labels import label_info
from ..spec import ModelState
from .checks import check_folds, check_latents, require_objects, warn_constant_labels
from .options import at_least, latent_size, nonnegative_float, positive_int

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("train_file", metavar="TRAIN_FILE",
                   help="dataset file (.npz, .h5, .fits, or a label table .csv)")
    p.add_argument("--out", required=True, metavar="MODEL", help="model file to write (.h5)")
    p.add_argument("--latents", type=latent_size, default=None, metavar="INT|Kx",
                   help="latent size P: an integer or a multiple of the label count like "
                        "'4x' (default: chosen with the transform family on held-out folds "
                        "among M+1, 2x, 4x, 8x, the grid doubling while its top wins)")
    p.add_argument("--reg", type=nonnegative_float, default=None, metavar="OMEGA",
                   help="L2 penalty Omega >= 0 on the latents (default: 10 unless another "
                        "of 1, 100, 1000 wins on held-out folds after P)")
    p.add_argument("--iters", type=positive_int, default=5, metavar="INT",
                   help="agenda-1 iterations (at least 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--folds", type=at_least(2), default=3, metavar="INT",
                   help="folds for the model-error calibration (2 to the number of "
                        "labelled objects)")
    p.add_argument("--fold-rounds", default="scratch", metavar="INT|scratch",
                   help="calibration fold models: fitted from scratch (default: their "
                        "held-out predictions know nothing of a star's own labels), or "
                        "re-solve maps (and latents INT times) starting from the final "
                        "fit (faster; errors of labels with noisy catalogues too small)")
    p.add_argument("--transform", dest="transforms", action="append", default=[],
                   type=output_transform, metavar="OUTPUT=NAME",
                   help="the transform of one output, e.g. flux=mlp or flux=mlp:128x2 "
                        "(width x depth); repeat for more outputs (default: linear)")
    p.add_argument("--families", nargs="+", default=None, metavar="FAMILY",
                   type=transform_family,
                   help="transform families the automatic choice compares when neither "
                        "--latents nor --transform is given: 'linear' (every map linear) "
                        "or KIND=NAME items such as 'label=mlp:32x1' (default: linear "
                        "label=mlp:32x1)")
    p.add_argument("--no-calibrate", action="store_true",
                   help="skip learning the model-error term (Fisher errors only)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def output_transform(text: str) -> tuple[str, str]:
    """An argparse type: ``OUTPUT=TRANSFORM`` with a known transform name."""
    from ..transforms import make_transform

    name, sep, transform = text.partition("=")
    if not sep or not name.strip() or not transform.strip():
        raise argparse.ArgumentTypeError(f"expected OUTPUT=TRANSFORM like flux=mlp, got "
                                         f"{text!r}")
    try:
        make_transform(transform)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return name.strip(), transform.strip()


def transform_family(text: str) -> str:
    """An argparse type: a transform family (:func:`starlux.spec.parse_family`)."""
    from ..spec import parse_family

    try:
        parse_family(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def _fold_rounds(text: str) -> int | None:
    rounds = text.strip().lower()
    if rounds == "scratch":
        return None
    if not rounds.isdigit():
        raise ValueError(f"--fold-rounds must be a non-negative integer or 'scratch', "
                         f"got {text!r}")
    return int(rounds)


def run(args: argparse.Namespace) -> int:
    from ..io.datasets import read_dataset
    from ..io.locks import output_lock
    from ..model import Lux

    rounds = _fold_rounds(args.fold_rounds)
    check_output(args.out, [args.train_file])
    if not can_hold(args.out, "model"):
        raise FileFormatError(f"{args.out}: model files are HDF5; name it .h5")
    with output_lock(args.out):
        ds = require_objects(read_dataset(args.train_file), args.train_file)
        if not args.no_calibrate or args.latents is None or args.reg is None:
            check_folds(ds, args.folds, args.train_file)
        if args.latents is not None:
            check_latents(ds, args.latents, args.train_file)
        unknown = [k for k, _ in args.transforms if k not in ds]
        if unknown:
            raise DataError(f"--transform for unknown output(s) {unknown}; "
                            f"{args.train_file} has {list(ds.outputs)}")
        warn_constant_labels(ds, args.train_file)
        cfg = Lux(latents=args.latents, reg=args.reg, n_iter=args.iters, seed=args.seed,
                  folds=args.folds, calibrate=not args.no_calibrate, fold_rounds=rounds,
                  progress=not args.no_progress, transforms=dict(args.transforms) or None,
                  **({"families": tuple(args.families)} if args.families else {}))
        log.info(ds.describe())
        model = cfg.fit(ds)
        model.save(args.out)
    chosen = dict(model.config.transforms or ())
    family = ", ".join(f"{k}: {t.name}{_options(t)}" for k, t in chosen.items()) or "linear"
    log.info(f"trained P={model.n_latents}, Omega={model.reg:g}, maps: {family}; "
             f"final chi2={model.history[-1][1]:.6g}; wrote {args.out}")
    for line in error_model_lines(model, ds):
        log.info(line)
    return 0


def _options(transform) -> str:
    cfg = transform.config()
    if {"width", "depth"} <= set(cfg):
        return f" {cfg['width']}x{cfg['depth']}"
    return ""


def error_model_lines(state: ModelState, dataset: Dataset | None = None) -> list[str]:
    """What the calibration learned, per label output: the scale on the statistical
    errors, each label's model error at the training median, its held-out RMSE against
    the catalogue (``state.held_out`` against ``dataset``, the training set: the
    cross-validated accuracy, catalogue noise included) and how well its error bar is
    known (the catalogue noise limits that, and it belongs in a paper)."""
    lines = []
    for name, sigma in state.model_error.items():
        trend = "varies over label space" if name in state.model_error_trend else "constant"
        rmse = _held_out_rmse(state, dataset, name)
        lines.append(f"{name}: statistical errors x {state.error_scale.get(name, 1.0):.3g}; "
                     f"per label, the model error at the training median ({trend})"
                     + ("" if rmse is None else ", the cross-validated RMSE against the "
                        "catalogue (fold models that saw neither the star's labels nor "
                        "its spectrum; catalogue noise included)")
                     + " and how well the error bar is known (1 sigma):")
        unc = state.error_uncertainty.get(name)
        for j, col in enumerate(state.specs[name].names):
            unit = label_info(col).unit
            held = ("" if rmse is None or np.isnan(rmse[j]) else
                    f"   held-out RMSE {rmse[j]:9.4g} {unit:<4s}")
            known = ("" if unc is None or np.isnan(unc[j]) else
                     "   error bar known to no better than +-100 %" if unc[j] >= 1 else
                     f"   error bar known to +-{100 * unc[j]:.0f} %")
            lines.append(f"  {col:<10s} model error {sigma[j]:9.4g} {unit:<4s}{held}{known}")
    return lines


def _held_out_rmse(state: ModelState, dataset: Dataset | None, name: str
                   ) -> np.ndarray | None:
    """(D,) RMSE of the held-out predictions against the training catalogue, over the
    entries the error model used (screened sentinels left out); ``None`` without
    both."""
    held = state.held_out.get(name)
    if held is None or dataset is None or name not in dataset.outputs \
            or held["values"].shape[0] != dataset.n:
        return None
    obs = dataset[name].select(state.specs[name].names)
    r = np.where(held["used"], held["values"] - obs.values, np.nan)
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.nanmean(r**2, axis=0)) if np.isfinite(r).any() else None
