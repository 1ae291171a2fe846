"""``starlux build-dataset``: bad requests and unreadable files are one line, exit
code 2, and write nothing (what the pipeline builds: tests/io/test_build.py)."""

from __future__ import annotations

import pytest

from starlux.cli import main
from tests.io.io_helpers import ALLSTAR, OVERLAP_IDS, make_apstar, shared

from .cli_helpers import check_bad_input

CASES = {
    "build_dataset_refuses_an_out_path_equal_to_its_catalogue": (
        ["build-dataset", "--catalog", "{catalog}", "--labels", "TEFF", "--out", "{catalog}"],
        "--out is the input file"),
    "build_dataset_refuses_a_catalogue_given_twice": (
        ["build-dataset", "--catalog", "{catalog}", "--labels", "TEFF", "--catalog",
         "{catalog}", "--labels", "LOGG", "--out", "{dir}/b.h5"], "given twice to --catalog"),
    "build_dataset_refuses_a_label_given_twice": (
        ["build-dataset", "--catalog", "{catalog}", "--labels", "TEFF,TEFF", "--out",
         "{dir}/b.h5"], "argument --labels: 'TEFF' is given twice"),
    "build_dataset_refuses_a_dataset_file_as_spectra": (
        ["build-dataset", "--spectra", "{train_npz}", "--out", "{dir}/b.h5"],
        "train.npz: is a .npz file, not FITS"),
    "build_dataset_needs_an_input": (["build-dataset", "--out", "{dir}/b.h5"],
                                     "give --spectra and/or --catalog"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_the_problem(case, files, capsys):
    check_bad_input(CASES[case], files, capsys)
    assert not (files["dir"] / "b.h5").exists()


def cli(argv: list, capsys) -> tuple[int, str, str]:
    rc = main(["build-dataset", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_an_unreadable_spectrum_is_one_line_and_exit_code_2(tmp_path, capsys):
    good = make_apstar(tmp_path / "apStar-good.fits", "2M00000001+0000001")
    raw = good.read_bytes()
    bad = tmp_path / "apStar-cut.fits"
    bad.write_bytes(raw[: len(raw) // 2])
    out = tmp_path / "never.h5"
    rc, stdout, err = cli(["--spectra", good, bad, "--out", out], capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"starlux build-dataset: error: {bad}: ")
    assert "truncated" in lines[0]
    assert not out.exists()
    rc, _, err = cli(["--spectra", tmp_path / "nope*.fits", "--out", out], capsys)
    assert rc == 2 and "no files match" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv,message", [
    (["--labels", "TEFX"], "unknown label column(s) ['TEFX']"),
    (["--labels", "TEFF", "--labels", "LOGG"], "one --labels list per --catalog"),
    (["--labels", "TEFF", "--no-normalize"], "drop --no-normalize"),
])
def test_a_bad_request_is_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    files = [make_apstar(tmp_path / "apStar-0.fits", OVERLAP_IDS[0], seed=0)]
    rc, _, err = cli(["--spectra", *files, "--catalog", shared(*ALLSTAR), *argv,
                      "--out", tmp_path / "x.h5"], capsys)
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.h5").exists()
