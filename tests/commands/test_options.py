"""The option types every command shares: one list syntax and checked numbers."""

from __future__ import annotations

import argparse

import pytest

from starlux.cli import build_parser
from starlux.commands.options import (
    add_list_option,
    at_least,
    latent_size,
    nonnegative_float,
    split_values,
)


def test_lists_are_space_or_comma_separated_alike():
    parser = build_parser()
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


def test_empty_items_of_a_list_are_dropped():
    assert split_values(["flux,,label", " ", "x"]) == ["flux", "label", "x"]
    assert split_values("a, b") == ["a", "b"]


def test_a_list_option_converts_checks_choices_and_refuses_repeats(capsys):
    p = argparse.ArgumentParser(exit_on_error=False)
    add_list_option(p, "--k", item_type=int, item_choices=(1, 2, 3), unique=True)
    assert p.parse_args(["--k", "1,3"]).k == [1, 3]
    for bad, words in ((["--k", "4"], "invalid choice 4"), (["--k", "1", "1"], "given twice"),
                       (["--k", "x"], "invalid literal"), (["--k", ","], "at least one")):
        with pytest.raises(argparse.ArgumentError, match=words):
            p.parse_args(bad)


def test_numbers_are_checked_by_their_type():
    assert at_least(2)("2") == 2
    with pytest.raises(argparse.ArgumentTypeError, match="must be at least 2, got 1"):
        at_least(2)("1")
    with pytest.raises(argparse.ArgumentTypeError, match="expected an integer"):
        at_least(1)("1.5")
    assert nonnegative_float("0") == 0.0
    for bad in ("-1", "nan", "inf", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            nonnegative_float(bad)


def test_a_latent_size_on_the_command_line_follows_the_one_grammar():
    assert latent_size("8") == 8
    assert latent_size("4x") == "4x"
    assert latent_size(" 1x+1 ") == "1x+1"
    for bad in ("0", "0x", "-2", "four", "2x+"):
        with pytest.raises(argparse.ArgumentTypeError, match="like '4x'"):
            latent_size(bad)
    cv = build_parser().parse_args(["cv", "t.h5", "--out", "C", "--latents", "1x+1,2x"])
    assert cv.latents == ["1x+1", "2x"]
