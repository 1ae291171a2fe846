"""Command line: train / predict round trip on dataset files, and clean errors."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from starlux.cli import main
from starlux.io.datasets import write_dataset

from .conftest import make_bilinear


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    ds, truth = make_bilinear(n=200, p=4, d=20, noise=0.002, label_noise=0.02, seed=8)
    write_dataset(tmp / "train.h5", ds.take(np.arange(150)))
    write_dataset(tmp / "test.npz", ds.take(np.arange(150, 200)))
    return tmp, truth


def test_train_and_predict_all_formats(files, capsys):
    tmp, truth = files
    assert main(["train", str(tmp / "train.h5"), "--out", str(tmp / "m.h5"), "--latents", "4",
                 "--no-progress"]) == 0
    for ext in ("npz", "h5", "fits", "csv"):
        out = tmp / f"pred.{ext}"
        assert main(["predict", str(tmp / "m.h5"), str(tmp / "test.npz"), "--out",
                     str(out)]) == 0
        assert out.exists()
    pred = np.load(tmp / "pred.npz")
    assert pred["label"].shape == (50, 3) and pred["z"].shape == (50, 4)
    assert pred["chi2_flux"].shape == (50,)
    assert list(pred["label_names"]) == ["TEFF", "LOGG", "FE_H"]
    resid = pred["label"] - truth["labels"][150:]
    assert np.all(np.abs(resid).mean(0) < 5 * pred["label_err"].mean(0))
    from astropy.table import Table

    t = Table.read(tmp / "pred.csv")
    assert {"id", "TEFF", "TEFF_ERR", "chi2_flux"} <= set(t.colnames)
    # labels -> spectra
    assert main(["predict", str(tmp / "m.h5"), str(tmp / "test.npz"), "--out",
                 str(tmp / "spec.npz"), "--from", "label", "--outputs", "flux"]) == 0
    assert np.load(tmp / "spec.npz")["flux"].shape == (50, 20)


def test_errors_are_one_line(files, capsys, tmp_path):
    tmp, _ = files
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    assert main(["train", str(bad), "--out", str(tmp_path / "m.h5"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.npz" in err[0]
    assert main(["predict", str(tmp_path / "nomodel.h5"), str(tmp / "test.npz"), "--out",
                 str(tmp_path / "p.npz")]) == 2
    assert "nomodel.h5" in capsys.readouterr().err
    assert main(["train", str(tmp / "train.h5"), "--out", str(tmp_path / "m.h5"),
                 "--latents", "2", "--no-progress"]) == 2
    assert "P >= M + 1" in capsys.readouterr().err


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("demo", "train", "predict", "build-dataset"):
        assert cmd in out


def test_compilation_cache_dir_from_environment(tmp_path, monkeypatch):
    from starlux.config import default_cache_dir

    monkeypatch.setenv("STARLUX_CACHE_DIR", "off")
    assert default_cache_dir() is None
    monkeypatch.setenv("STARLUX_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("STARLUX_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "starlux" / "jax"


def _subparsers():
    from starlux.cli import build_parser

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


def test_lists_are_space_or_comma_separated_alike():
    parser, _ = _subparsers()
    base = ["predict", "m.h5", "d.h5", "--out", "p.h5"]
    a = parser.parse_args([*base, "--from", "flux,label", "--outputs", "label"])
    b = parser.parse_args([*base, "--from", "flux", "label", "--outputs", "label"])
    assert a.inputs == b.inputs == ["flux", "label"]
    cv = parser.parse_args(["cv", "t.h5", "--out", "C", "--latents", "1x", "2x,4x",
                            "--reg", "1,10", "100", "--n-iter", "3"])
    assert cv.latents == ["1x", "2x", "4x"] and cv.reg == [1.0, 10.0, 100.0]
    assert cv.iters == 3  # the old spelling is a hidden alias of --iters
    bd = parser.parse_args(["build-dataset", "--catalog", "a.csv", "--labels", "TEFF,LOGG",
                            "--catalog", "b.csv", "--labels", "FE_H", "MG_H", "--out", "x.h5"])
    assert bd.labels == [["TEFF", "LOGG"], ["FE_H", "MG_H"]]


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
