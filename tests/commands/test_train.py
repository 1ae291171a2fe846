"""``starlux train``: every bad option, output path or input file is refused before
training with one line naming it; warnings about suspicious labels come first."""

from __future__ import annotations

import os

import pytest

from starlux.io.datasets import dataset_to_arrays, read_dataset, write_arrays

from .cli_helpers import assert_one_line_error, check_bad_input, run_cli
from .conftest import N

TRAIN = ["train", "{train_npz}", "--out", "{dir}/m.h5", "--no-progress", "--latents", "4",
         "--no-calibrate", "--iters", "1"]

CASES = {
    # options
    "train_refuses_a_nan_reg": (TRAIN + ["--reg", "nan"],
                                "argument --reg: must be a finite number >= 0"),
    "train_refuses_a_negative_reg": (TRAIN + ["--reg", "-1"], "must be a finite number >= 0"),
    "train_refuses_one_fold": (TRAIN + ["--folds", "1"], "argument --folds: must be at least 2"),
    "train_refuses_more_folds_than_labelled_stars": (
        TRAIN + ["--folds", "500"], f"--folds 500 is more than the {N} objects with labels"),
    "train_refuses_zero_iterations": (TRAIN + ["--iters", "0"],
                                      "argument --iters: must be at least 1"),
    "train_refuses_a_bad_fold_rounds": (TRAIN + ["--fold-rounds", "x"],
                                        "--fold-rounds must be a non-negative integer"),
    "train_refuses_a_latent_size_that_is_not_a_size": (
        ["train", "{train_npz}", "--out", "{dir}/m.h5", "--latents", "abc"],
        "argument --latents: expected an integer or a multiple of the label count like '4x'"),
    "train_refuses_a_latent_size_below_the_label_count": (
        ["train", "{train_npz}", "--out", "{dir}/m.h5", "--latents", "2"],
        "train.npz: --latents 2: latent size P=2 is too small"),
    "train_refuses_an_unknown_transform_family": (
        TRAIN + ["--families", "linear", "flux=mlp"],
        "argument --families: transform family must be 'linear' or KIND=TRANSFORM items"),
    "train_refuses_an_unknown_transform_in_a_family": (
        TRAIN + ["--families", "label=spline"], "argument --families: unknown transform"),
    "train_refuses_an_abbreviated_option": (TRAIN + ["--latent", "4"],
                                            "unrecognized arguments: --latent"),
    # output paths
    "train_refuses_a_model_name_that_is_not_h5": (
        ["train", "{train_npz}", "--out", "{dir}/m.npz"], "model files are HDF5; name it .h5"),
    "train_refuses_an_out_path_equal_to_its_input": (
        ["train", "{train_npz}", "--out", "{train_npz}"], "--out is the input file"),
    # damaged files
    "train_names_a_truncated_npz": (["train", "{trunc_npz}", "--out", "{dir}/m.h5"],
                                    "trunc.npz: cannot read as npz"),
    "train_refuses_an_empty_npz": (["train", "{empty_npz}", "--out", "{dir}/m.h5"],
                                   "empty.npz: holds no objects"),
    "train_refuses_float_label_names": (["train", "{float_names}", "--out", "{dir}/m.h5"],
                                        "'label_names' must hold strings"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_the_problem(case, files, capsys):
    check_bad_input(CASES[case], files, capsys)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a non-root POSIX user for folder permissions")
def test_train_refuses_an_unwritable_out_folder_before_training(files, tmp_path, capsys):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        rc, _, err = run_cli(["train", files["train_npz"], "--out", locked / "m.h5"], capsys)
    finally:
        locked.chmod(0o700)
    assert_one_line_error(rc, err, "is not writable")


def test_train_warns_about_a_constant_label_before_training(files, tmp_path, capsys):
    arrays = dataset_to_arrays(read_dataset(files["train_npz"]))
    arrays["label"][:, 2] = -0.5
    path = tmp_path / "constant.npz"
    write_arrays(path, arrays)
    rc, out, err = run_cli(["train", path, "--out", tmp_path / "m.h5", "--latents", "4",
                            "--no-calibrate", "--iters", "1", "--no-progress"], capsys)
    assert rc == 0, err
    assert "warning: " in err and "label 'FE_H'" in err and "trained P=4" in out
    assert (tmp_path / "m.h5").exists()


def test_train_says_what_the_calibration_learned_and_how_well(files, tmp_path, capsys):
    rc, out, err = run_cli(["train", files["train_npz"], "--out", tmp_path / "m.h5",
                            "--latents", "4", "--iters", "2", "--no-progress"], capsys)
    assert rc == 0, err
    assert "label: statistical errors x " in out
    lines = [s for s in out.splitlines() if s.strip().startswith(("TEFF", "LOGG", "FE_H"))]
    assert len(lines) == 3 and all("error bar known to" in s for s in lines), out
    assert all("held-out RMSE" in s for s in lines), out
    # the cross-validated RMSE against the catalogue, in the label's units
    teff = float(lines[0].split("held-out RMSE")[1].split()[0])
    assert 0 < teff < 1000, lines[0]
