"""``starlux predict MODEL DATA_FILE --out PRED_FILE [--from flux|label|flux,label]``."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model file (.h5) from starlux train")
    p.add_argument("data_file", metavar="DATA_FILE", help="dataset file (.npz or .h5)")
    p.add_argument("--out", required=True, metavar="PRED_FILE",
                   help="predictions (.npz, .h5, or a label table .fits / .csv)")
    p.add_argument("--from", dest="inputs", default=None,
                   help="outputs to infer latents from, comma-separated, e.g. flux, label, "
                        "flux,label (default: the spectra)")
    p.add_argument("--outputs", default=None,
                   help="outputs to predict, comma-separated (default: the labels, plus "
                        "spectra not used as inputs)")
    p.add_argument("--chunk-size", type=int, default=None, help="objects per block")


def run(args: argparse.Namespace) -> int:
    from ..io.datasets import read_dataset
    from ..io.models import load_model
    from ..io.predictions import write_prediction

    model = load_model(args.model)
    ds = read_dataset(args.data_file)
    inputs = args.inputs.split(",") if args.inputs else None
    outputs = args.outputs.split(",") if args.outputs else None
    pred = model.predict(ds, inputs=inputs, outputs=outputs, chunk_size=args.chunk_size)
    write_prediction(args.out, pred)
    print(f"predicted {len(pred.z)} objects from {', '.join(pred.inputs)}; wrote {args.out}")
    return 0
