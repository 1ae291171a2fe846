"""``starlux predict MODEL DATA_FILE --out PRED_FILE [--from flux|label|flux,label]``.

An ``.h5`` (or ``.fits``) DATA_FILE is streamed block by block
(:func:`starlux.stream.predict_file`): memory is bounded by ``--chunk-size`` whatever
the number of objects, finished blocks are kept in ``PRED_FILE.partial/`` so an
interrupted run resumes where it stopped, and ``--scheduler ADDRESS`` runs the blocks
on a Dask cluster. Other inputs (``.npz``, label tables) are read whole and predicted
in memory, unless ``--stream`` is given.
"""

from __future__ import annotations

import argparse

_STREAMED = (".h5", ".hdf5", ".fits", ".fit")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model file (.h5) from starlux train")
    p.add_argument("data_file", metavar="DATA_FILE",
                   help="dataset file (.h5 and .fits are streamed; .npz, .csv ...)")
    p.add_argument("--out", required=True, metavar="PRED_FILE",
                   help="predictions (.npz, .h5, or a label table .fits / .csv)")
    p.add_argument("--from", dest="inputs", default=None,
                   help="outputs to infer latents from, comma-separated, e.g. flux, label, "
                        "flux,label (default: the spectra)")
    p.add_argument("--outputs", default=None,
                   help="outputs to predict, comma-separated (default: the labels, plus "
                        "spectra not used as inputs)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="objects per block (bounds memory; default 1024)")
    p.add_argument("--precision", choices=("auto", "float32", "float64"), default="auto",
                   help="float32 Gram products with float64 solves and refinement (auto: "
                        "for spectra), or float64 throughout")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask.distributed scheduler address (e.g. tcp://host:8786): run "
                        "the blocks on that cluster; DATA_FILE must be readable there")
    p.add_argument("--stream", action="store_true",
                   help="stream any input format block by block (default for .h5 / .fits)")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="ignore finished blocks of an interrupted run and start afresh")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..io.models import load_model

    inputs = args.inputs.split(",") if args.inputs else None
    outputs = args.outputs.split(",") if args.outputs else None
    stream = (args.stream or args.scheduler is not None
              or Path(args.data_file).suffix.lower() in _STREAMED)
    if stream:
        from ..stream import predict_file

        summary = predict_file(
            args.model, args.data_file, args.out, inputs=inputs, outputs=outputs,
            chunk_size=args.chunk_size or 1024, precision=args.precision,
            scheduler=args.scheduler, resume=args.resume, progress=args.progress)
        print(summary)
        return 0

    from ..io.datasets import read_dataset
    from ..io.predictions import write_prediction

    model = load_model(args.model)
    ds = read_dataset(args.data_file)
    pred = model.predict(ds, inputs=inputs, outputs=outputs, chunk_size=args.chunk_size,
                         precision=args.precision)
    write_prediction(args.out, pred)
    print(f"predicted {len(pred.z)} objects from {', '.join(pred.inputs)}; wrote {args.out}")
    return 0
