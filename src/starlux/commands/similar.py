"""``starlux similar MODEL DATA_FILE --reference IDS_OR_FILE [--top K] --out FILE``:
rank objects by latent distance to reference objects (:mod:`starlux.evaluate.similar`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..data import DataError, Dataset
from ..io.formats import can_hold
from ..io.paths import check_output
from .checks import require_objects
from .options import add_list_option, positive_int

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..evaluate.similar import METRICS

    p.add_argument("model", metavar="MODEL", help="model file (.h5)")
    p.add_argument("data_file", metavar="DATA_FILE", help="objects to search (.npz/.h5/.fits)")
    add_list_option(p, "--reference", required=True, metavar="IDS_OR_FILE",
                    help="reference objects: ids (row indices if the data have no ids), "
                         "a text file with one id per line, or a dataset file "
                         "(.npz/.h5/.fits) of reference objects")
    p.add_argument("--top", type=positive_int, default=50, metavar="K",
                   help="how many of the most similar objects to list (at least 1)")
    p.add_argument("--all", action="store_true", help="list every object (overrides --top)")
    p.add_argument("--out", required=True, metavar="FILE", help="ranking (CSV)")
    add_list_option(p, "--from", dest="inputs", default=None, unique=True, metavar="OUTPUT",
                    help="outputs to infer latents from (default: the spectra)")
    p.add_argument("--metric", default="mahalanobis", choices=METRICS,
                   help="latent distance: mahalanobis (training latent covariance), "
                        "euclidean, or posterior (both objects' latent uncertainties)")
    p.add_argument("--aggregate", default="min", choices=("min", "mean"),
                   help="distance to the nearest reference (min) or mean over references")
    p.add_argument("--keep-reference", action="store_true",
                   help="also rank reference objects found in DATA_FILE")


def _read_reference(values: list[str]) -> Dataset | list[str]:
    """A dataset file, a text file of ids, or the ids themselves."""
    from ..io.datasets import read_dataset

    path = Path(values[0])
    if len(values) == 1 and path.is_file():
        if can_hold(path, "dataset"):
            return require_objects(read_dataset(path), path)
        ids = [s.strip() for s in path.read_text().splitlines()]
        return [s for s in ids if s and not s.startswith("#")]
    return values


def run(args: argparse.Namespace) -> int:
    from ..evaluate.similar import rank_similar, resolve_reference
    from ..io.datasets import read_dataset
    from ..io.locks import output_lock
    from ..model import load_model

    ref_files = args.reference if len(args.reference) == 1 else []
    check_output(args.out, [args.model, args.data_file, *ref_files])
    with output_lock(args.out):
        model = load_model(args.model)
        ds = require_objects(read_dataset(args.data_file), args.data_file)
        ref = _read_reference(args.reference)
        if not isinstance(ref, Dataset):
            try:
                resolve_reference(ds, ref)
            except DataError as exc:
                raise DataError(f"{args.data_file}: --reference: {exc}") from None
        res = rank_similar(model, ds, ref, inputs=args.inputs, metric=args.metric,
                           aggregate=args.aggregate, top=None if args.all else args.top,
                           exclude_reference=not args.keep_reference)
        res.to_csv(args.out)
    log.info(f"ranked {len(res.order)} of {ds.n} objects by {args.metric} latent distance "
             f"to {len(res.reference_ids)} reference object(s); wrote {args.out}")
    for r in res.rows()[:5]:
        log.info(f"  {r['rank']:>3}  {r['id']}  score={r['score']:.4g}  "
                 f"(nearest reference {r['nearest_reference']})")
    return 0
