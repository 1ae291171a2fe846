"""Command line: ``starlux <command> ...`` (``starlux --help`` lists the commands).

This is the only place where exceptions become exit codes: a bad file or option is
one line on stderr, ``starlux COMMAND: error: FILE: problem``, and exit code 2; an
unexpected error is one line too, with exit code 1 (``STARLUX_DEBUG=1`` shows the
traceback instead). Progress and results are logged through the ``starlux`` logger:
information on stdout, warnings and errors on stderr; ``-v`` / ``-q`` on every
command set its level.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

__all__ = ["main", "build_parser"]

# command -> (module providing add_arguments(parser) and run(args) -> int, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("starlux.commands.demo", "train and validate on data shipped with starlux"),
    "train": ("starlux.commands.train", "train a Lux model on a dataset file"),
    "predict": ("starlux.commands.predict", "predict labels / spectra with a trained model"),
    "build-dataset": ("starlux.commands.build_dataset",
                      "build a dataset file from survey spectra/catalogues"),
    "cv": ("starlux.commands.cv", "K-fold cross-validation of P and Omega"),
    "report": ("starlux.commands.report", "validation report (plots + index.html)"),
    "similar": ("starlux.commands.similar", "rank objects by latent-space similarity"),
}
class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` after every option's help, unless it is a flag, the
    default is None (nothing to show) or the help text already explains the default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (action.nargs == 0 or action.default in (None, argparse.SUPPRESS)
                or "default" in text):
            return text
        if isinstance(action.default, (list, tuple)):  # as it is typed: 1x 2x 4x
            shown = " ".join(f"{v:g}" if isinstance(v, float) else str(v)
                             for v in action.default)
            return f"{text} (default: {shown})"
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common_options() -> argparse.ArgumentParser:
    common = Parser(add_help=False, allow_abbrev=False)
    group = common.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true",
                       help="more messages (debug details)")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="only warnings and errors")
    return common


def build_parser() -> Parser:
    """The ``starlux`` parser with every available sub-command."""
    from . import __version__

    parser = Parser(
        prog="starlux", allow_abbrev=False, formatter_class=HelpFormatter,
        description="Lux: a generative latent-variable model of stellar labels and spectra "
                    "(Horta et al. 2025).")
    parser.add_argument("--version", action="version", version=f"starlux {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    common = _common_options()
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common],
                           allow_abbrev=False, formatter_class=HelpFormatter)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


class _Formatter(logging.Formatter):
    """Information as plain lines; warnings and errors as ``starlux CMD: warning: ...``."""

    def __init__(self, prog: str):
        super().__init__()
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        text = " ".join(record.getMessage().split()) if record.levelno >= logging.WARNING \
            else record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"{self.prog}: {record.levelname.lower()}: {text}"
        return text


class _StdStream(logging.Handler):
    """A handler writing to whatever ``sys.stdout`` / ``sys.stderr`` is at the time
    (so that redirections, e.g. pytest's capture, are honoured)."""

    def __init__(self, name: str, max_level: int | None = None):
        super().__init__()
        self.stream_name = name
        if max_level is not None:
            self.addFilter(lambda r: r.levelno < max_level)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = getattr(sys, self.stream_name)
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


@contextmanager
def _logging(prog: str, level: int) -> Iterator[logging.Logger]:
    """Route the ``starlux`` logger (and Python warnings) to stdout / stderr."""
    logger = logging.getLogger("starlux")
    out, err = _StdStream("stdout", max_level=logging.WARNING), _StdStream("stderr")
    out.setLevel(logging.DEBUG)
    err.setLevel(logging.WARNING)
    for h in (out, err):
        h.setFormatter(_Formatter(prog))
        logger.addHandler(h)
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(level)
    logger.propagate = False

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        logger.warning(str(message))

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        try:
            yield logger
        finally:
            for h in (out, err):
                logger.removeHandler(h)
            logger.setLevel(old_level)
            logger.propagate = old_propagate


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``starlux`` with ``argv``; return the exit code (argparse exits on --help,
    --version and usage errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    prog = f"starlux {args.command}"
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    if args.quiet:  # no progress bars either
        for flag, value in (("no_progress", True), ("progress", False)):
            if hasattr(args, flag):
                setattr(args, flag, value)
    debug = os.environ.get("STARLUX_DEBUG", "") not in ("", "0")
    with _logging(prog, level) as log:
        from .config import enable_compilation_cache

        enable_compilation_cache()
        log.debug(f"{prog} with " + ", ".join(
            f"{k}={v!r}" for k, v in sorted(vars(args).items()) if not k.startswith("_")))
        try:
            return int(importlib.import_module(args._module).run(args) or 0)
        except KeyboardInterrupt:
            log.error("interrupted")
            return 130
        except (ValueError, OSError) as exc:  # DataError / FileFormatError are ValueErrors
            if debug:
                raise
            log.error(_one_line(exc))
            return 2
        except Exception as exc:
            if debug:
                raise
            log.error(f"unexpected {type(exc).__name__}: {_one_line(exc)} (set "
                      "STARLUX_DEBUG=1 for a traceback)")
            return 1


if __name__ == "__main__":
    sys.exit(main())
