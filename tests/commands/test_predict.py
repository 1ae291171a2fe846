"""``starlux predict``: every output format, the streamed and in-memory paths, and
every bad option, output path or input file refused with one line naming it."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from astropy.table import Table

from starlux.cli import main
from starlux.io.datasets import write_dataset
from tests.conftest import make_bilinear

from .cli_helpers import check_bad_input, run_cli
from .conftest import N

PREDICT = ["predict", "{model}", "{train_npz}", "--out", "{dir}/p.npz", "--no-progress"]

CASES = {
    # options
    "predict_refuses_a_zero_chunk_size": (PREDICT + ["--chunk-size", "0"],
                                          "argument --chunk-size: must be at least 1"),
    "predict_refuses_an_input_given_twice_with_a_comma": (
        PREDICT + ["--from", "flux,flux"], "argument --from: 'flux' is given twice"),
    "predict_refuses_an_input_given_twice_with_a_space": (
        PREDICT + ["--from", "flux", "flux"], "'flux' is given twice"),
    "predict_refuses_an_output_given_twice": (PREDICT + ["--outputs", "label,label"],
                                              "argument --outputs: 'label' is given twice"),
    # output paths
    "predict_refuses_an_unknown_output_format_before_predicting": (
        ["predict", "{model}", "{train_npz}", "--out", "{dir}/p.txt"],
        "p.txt: unknown prediction format '.txt'"),
    "predict_refuses_an_out_path_equal_to_its_input": (
        ["predict", "{model}", "{train_npz}", "--out", "{train_npz}"], "--out is the input file"),
    "predict_refuses_an_out_path_equal_to_its_model": (
        ["predict", "{model}", "{train_h5}", "--out", "{model}"], "--out is the input file"),
    "predict_refuses_an_out_path_that_is_a_folder": (
        ["predict", "{model}", "{train_npz}", "--out", "{dir}"], "is a folder; give a file name"),
    # damaged files
    "predict_names_a_truncated_npz": (["predict", "{model}", "{trunc_npz}", "--out",
                                       "{dir}/p.npz"], "trunc.npz: cannot read as npz"),
    "predict_names_a_truncated_fits": (["predict", "{model}", "{trunc_fits}", "--out",
                                        "{dir}/p.npz"], "trunc.fits: file is truncated"),
    "predict_refuses_an_empty_npz": (["predict", "{model}", "{empty_npz}", "--out",
                                      "{dir}/p.npz"], "empty.npz: holds no objects"),
    "predict_refuses_an_empty_h5": (["predict", "{model}", "{empty_h5}", "--out",
                                     "{dir}/p.npz"], "empty.h5: holds no objects"),
    "predict_names_a_model_with_format_version_one": (
        ["predict", "{version_one}", "{train_npz}", "--out", "{dir}/p.npz"],
        "version_one.h5: unreadable model format_version 'one'"),
    "predict_names_a_model_of_a_future_format": (
        ["predict", "{version_7}", "{train_npz}", "--out", "{dir}/p.npz"],
        "version_7.h5: model format version 7 is not supported"),
    "predict_names_a_zeroed_model": (["predict", "{zeroed}", "{train_npz}", "--out",
                                      "{dir}/p.npz"], "zeroed.h5: not a readable HDF5"),
    "predict_names_a_model_zeroed_after_its_superblock": (
        ["predict", "{zeroed_tail}", "{train_npz}", "--out", "{dir}/p.npz"],
        "zeroed_tail.h5: corrupt model file"),
    "predict_names_a_missing_model": (["predict", "{dir}/absent.h5", "{train_npz}", "--out",
                                       "{dir}/p.npz"], "absent.h5: no such model file"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_the_problem(case, files, capsys):
    check_bad_input(CASES[case], files, capsys)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained by ``starlux train`` on 150 objects, 50 more to predict, truth."""
    tmp = tmp_path_factory.mktemp("predict")
    ds, truth = make_bilinear(n=200, p=4, d=20, noise=0.002, label_noise=0.02, seed=8)
    write_dataset(tmp / "train.h5", ds.take(np.arange(150)))
    write_dataset(tmp / "test.npz", ds.take(np.arange(150, 200)))
    assert main(["train", str(tmp / "train.h5"), "--out", str(tmp / "m.h5"), "--latents", "4",
                 "--no-progress"]) == 0
    return tmp, truth


def test_a_trained_model_predicts_into_every_output_format(trained, capsys):
    tmp, truth = trained
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
    t = Table.read(tmp / "pred.csv")
    assert {"id", "TEFF", "TEFF_ERR", "chi2_flux"} <= set(t.colnames)
    # the published table names the model that made it (in-memory path: .npz input)
    from astropy.io import fits

    from starlux.stream import model_checksum

    hdr = fits.getheader(tmp / "pred.fits", 1)
    assert hdr["MODEL"] == str(tmp / "m.h5")
    assert hdr["MODELSHA"] == model_checksum(tmp / "m.h5")


def test_labels_predict_spectra_when_asked_with_from_and_outputs(trained):
    tmp, truth = trained
    assert main(["predict", str(tmp / "m.h5"), str(tmp / "test.npz"), "--out",
                 str(tmp / "spec.npz"), "--from", "label", "--outputs", "flux"]) == 0
    flux = np.load(tmp / "spec.npz")["flux"]
    assert flux.shape == (50, 20)
    assert np.abs(flux - truth["flux"][150:]).max() < 0.05


def test_predict_reads_integer_flux_from_h5(files, tmp_path, capsys):
    src, data = files["train_h5"], tmp_path / "int.h5"
    with h5py.File(src) as f, h5py.File(data, "w") as g:
        for k in f:
            g[k] = f[k][()]
        del g["flux"]
        g["flux"] = np.rint(f["flux"][()] * 100).astype(np.int16)
    rc, _, err = run_cli(["predict", files["model"], data, "--out", tmp_path / "p.npz",
                          "--chunk-size", "16", "--no-progress"], capsys)
    assert rc == 0, err
    assert np.isfinite(np.load(tmp_path / "p.npz")["z"]).all()


def test_predict_streams_h5_with_fixed_length_byte_label_names(files, tmp_path, capsys):
    src, data = files["train_h5"], tmp_path / "bytes.h5"
    with h5py.File(src) as f, h5py.File(data, "w") as g:
        for k in f:
            g[k] = f[k][()]
        del g["label_names"]
        g["label_names"] = np.array([b"TEFF", b"LOGG", b"FE_H"])  # fixed-length S4
    rc, _, err = run_cli(["predict", files["model"], data, "--out", tmp_path / "p.h5",
                          "--from", "flux", "label", "--no-progress"], capsys)
    assert rc == 0, err


def test_predict_reports_on_stdout_and_is_quiet_with_q(files, tmp_path, capsys):
    argv = ["predict", files["model"], files["train_npz"], "--out", tmp_path / "p.npz"]
    rc, out, err = run_cli(argv, capsys)
    assert rc == 0 and f"predicted {N} objects" in out and err == ""
    rc, out, err = run_cli([*argv, "-q"], capsys)
    assert rc == 0 and out == "" and err == ""
