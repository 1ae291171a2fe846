"""Command line: ``starlux <command> ...`` (``starlux --help`` lists the commands)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

# command -> (module providing add_arguments(parser) and run(args) -> int, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("starlux.commands.demo", "train and validate on data shipped with starlux"),
    "train": ("starlux.commands.train", "train a Lux model on a dataset file"),
    "predict": ("starlux.commands.predict", "predict labels / spectra with a trained model"),
    "build-dataset": ("starlux.io.build", "build a dataset file from survey spectra/catalogues"),
    "cv": ("starlux.evaluate.cv", "K-fold cross-validation of P and Omega"),
    "report": ("starlux.evaluate.report", "validation report (plots + index.html)"),
    "similar": ("starlux.evaluate.similar", "rank objects by latent-space similarity"),
}


def _available() -> dict[str, tuple[str, str]]:
    return {k: v for k, v in COMMANDS.items() if importlib.util.find_spec(v[0]) is not None}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="starlux",
        description="Lux: a generative latent-variable model of stellar labels and spectra "
                    "(Horta et al. 2025).")
    parser.add_argument("--version", action="version", version=f"starlux {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _available().items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from .config import enable_compilation_cache

    enable_compilation_cache()
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("starlux: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:  # DataError / FileFormatError are ValueErrors
        print(f"starlux {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
