"""``starlux predict MODEL DATA_FILE --out PRED_FILE [--from flux label]``.

An ``.h5`` (or ``.fits``) DATA_FILE is streamed block by block
(:func:`starlux.stream.predict_file`): memory is bounded by ``--chunk-size`` whatever
the number of objects, finished blocks are kept in ``PRED_FILE.partial/`` so an
interrupted run resumes where it stopped, and ``--scheduler ADDRESS`` runs the blocks
on a Dask cluster. Other inputs (``.npz``, label tables) are read whole and predicted
in memory, unless ``--stream`` is given. ``--out`` is checked and locked first.
"""

from __future__ import annotations

import argparse
import logging

from ..io.errors import FileFormatError
from ..io.formats import can_hold, format_name, format_of, suffixes
from ..io.paths import check_output
from ..sampling import SAMPLERS
from .checks import require_objects
from .options import add_list_option, nonnegative_int, positive_int

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 1024


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model file (.h5) from starlux train")
    p.add_argument("data_file", metavar="DATA_FILE",
                   help="dataset file (.h5 and .fits are streamed; .npz, .csv ...)")
    p.add_argument("--out", required=True, metavar="PRED_FILE",
                   help="predictions (.npz, .h5, or a label table .fits / .csv)")
    add_list_option(p, "--from", dest="inputs", default=None, unique=True, metavar="OUTPUT",
                    help="outputs to infer latents from, e.g. flux, label, or flux label "
                         "(default: the spectra)")
    add_list_option(p, "--outputs", default=None, unique=True, metavar="OUTPUT",
                    help="outputs to predict (default: the labels, plus spectra not used "
                         "as inputs)")
    p.add_argument("--chunk-size", type=positive_int, default=DEFAULT_CHUNK, metavar="INT",
                   help="objects per block (at least 1; bounds memory)")
    p.add_argument("--precision", choices=("auto", "float32", "float64"), default="auto",
                   help="float32 Gram products with float64 solves and refinement (auto: "
                        "for spectra), or float64 throughout")
    p.add_argument("--samples", type=nonnegative_int, default=0, metavar="K",
                   help="also write K posterior samples per object of every predicted "
                        "output (label_samples, shape N x K x M; needs .h5 or .npz)")
    p.add_argument("--sampler", choices=SAMPLERS, default="gaussian",
                   help="gaussian: the exact latent posterior of linear transforms "
                        "(Laplace for nonlinear ones); nuts: numpyro's No-U-Turn sampler")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask.distributed scheduler address (e.g. tcp://host:8786): run "
                        "the blocks on that cluster; DATA_FILE must be readable there")
    p.add_argument("--stream", action="store_true",
                   help="stream any input format block by block (always for .h5 / .fits)")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="ignore finished blocks of an interrupted run and start afresh")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..io.locks import output_lock
    from ..model import load_model

    check_output(args.out, [args.model, args.data_file])
    # before, not after, the work
    format_of(args.out, "prediction arrays", "label table", what="prediction")
    if args.samples and not can_hold(args.out, "prediction arrays"):
        raise FileFormatError(f"{args.out}: posterior samples (--samples) need an array "
                              f"file ({', '.join(suffixes('prediction arrays'))})")
    draws = dict(samples=args.samples, sampler=args.sampler, seed=args.seed)
    stream = (args.stream or args.scheduler is not None
              or format_name(args.data_file) in ("hdf5", "fits"))
    with output_lock(args.out):
        if stream:
            from ..stream import predict_file

            summary = predict_file(
                args.model, args.data_file, args.out, inputs=args.inputs,
                outputs=args.outputs, chunk_size=args.chunk_size, precision=args.precision,
                scheduler=args.scheduler, resume=args.resume, progress=args.progress,
                **draws)
            log.info(str(summary))
            return 0

        from ..io.datasets import read_dataset
        from ..io.predictions import write_prediction

        model = load_model(args.model)
        ds = require_objects(read_dataset(args.data_file), args.data_file)
        pred = model.predict(ds, inputs=args.inputs, outputs=args.outputs,
                             chunk_size=args.chunk_size, precision=args.precision, **draws)
        from ..stream import model_checksum

        write_prediction(args.out, pred, model=str(args.model),
                         model_sha256=model_checksum(args.model))
    log.info(f"predicted {len(pred.z)} objects from {', '.join(pred.inputs)}; "
             f"wrote {args.out}")
    return 0
