"""The command line itself: the parser, help and version, and the one place where
errors become one line and an exit code (each command: tests/commands/)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from starlux.cli import build_parser, main
from starlux.io.datasets import write_dataset
from starlux.model import Lux

from .conftest import make_bilinear


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small training file, an empty dataset and a model."""
    tmp = tmp_path_factory.mktemp("cli")
    ds, _ = make_bilinear(n=40, p=4, d=8, noise=0.01, label_noise=0.02, seed=8)
    write_dataset(tmp / "train.h5", ds)
    write_dataset(tmp / "empty.npz", ds.take(np.arange(0)))
    Lux(latents=4, n_iter=1, calibrate=False, progress=False).fit(ds).save(tmp / "model.h5")
    return tmp


def test_a_damaged_file_a_missing_model_and_a_bad_latent_size_are_one_line_errors(
        files, capsys, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    assert main(["train", str(bad), "--out", str(tmp_path / "m.h5"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.npz" in err[0]
    assert main(["predict", str(tmp_path / "nomodel.h5"), str(files / "train.h5"), "--out",
                 str(tmp_path / "p.npz")]) == 2
    assert "nomodel.h5" in capsys.readouterr().err
    assert main(["train", str(files / "train.h5"), "--out", str(tmp_path / "m.h5"),
                 "--latents", "2", "--no-progress"]) == 2
    assert "P >= M + 1" in capsys.readouterr().err
    assert not (tmp_path / "m.h5").exists()


def test_debug_environment_shows_the_traceback(files, monkeypatch):
    monkeypatch.setenv("STARLUX_DEBUG", "1")
    with pytest.raises(ValueError, match="holds no objects"):
        main(["predict", str(files / "model.h5"), str(files / "empty.npz"), "--out",
              str(files / "p.npz")])


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("demo", "train", "predict", "build-dataset"):
        assert cmd in out


def _subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub.choices


def test_version_prints_the_package_version(capsys):
    from starlux import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"starlux {__version__}"


def test_no_command_accepts_an_abbreviated_option(capsys):
    _, commands = _subparsers()
    for name, p in commands.items():
        assert not p.allow_abbrev, name
        longs = [s for a in p._actions for s in a.option_strings
                 if s.startswith("--") and len(s) > 5 and s not in ("--help",)]
        with pytest.raises(SystemExit) as exc:
            p.parse_args([longs[0][:-2], "x"])
        assert exc.value.code == 2, name
    assert "unrecognized arguments" in capsys.readouterr().err


def test_every_option_of_our_commands_has_help_and_shows_its_default():
    _, commands = _subparsers()
    for name in ("train", "predict", "build-dataset", "cv", "similar"):
        p = commands[name]
        for a in p._actions:
            if a.option_strings and a.help is not argparse.SUPPRESS:
                assert a.help, f"{name} {a.option_strings}"
    text = commands["train"].format_help()
    assert "(default: 5)" in text and "(default: 3)" in text
    assert "(default: 1024)" in commands["predict"].format_help()


def test_every_command_has_verbose_and_quiet():
    _, commands = _subparsers()
    for name, p in commands.items():
        opts = {s for a in p._actions for s in a.option_strings}
        assert {"-v", "--verbose", "-q", "--quiet"} <= opts, name


@pytest.mark.parametrize("exc,rc,message", [
    (RuntimeError("bug in a reader"), 1, "unexpected RuntimeError: bug in a reader (set "
                                         "STARLUX_DEBUG=1 for a traceback)"),
    (KeyboardInterrupt(), 130, "interrupted"),
    (PermissionError(13, "Permission denied", "/x/y.h5"), 2, "/x/y.h5: Permission denied"),
])
def test_any_failure_is_one_line_with_an_exit_code(monkeypatch, capsys, exc, rc, message):
    import starlux.commands.train as train

    def fail(args):
        raise exc

    monkeypatch.setattr(train, "run", fail)
    assert main(["train", "t.npz", "--out", "m.h5"]) == rc
    err = capsys.readouterr().err
    assert err == f"starlux train: error: {message}\n"
    if rc == 1:
        monkeypatch.setenv("STARLUX_DEBUG", "1")
        with pytest.raises(RuntimeError):
            main(["train", "t.npz", "--out", "m.h5"])
