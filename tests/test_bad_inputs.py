"""Bad inputs on the command line: each is refused before any work with one line on
stderr that names the file or option and the problem, a non-zero exit code and no
traceback. Table-driven: ``(command line, expected message)``; ``{name}`` stands for
the path of a small file made by the ``files`` fixture."""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import pytest

from starlux.cli import main
from starlux.io.datasets import dataset_to_arrays, write_arrays, write_dataset
from starlux.model import Lux

from .conftest import make_bilinear

N = 40


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small dataset, model and damaged files; returns {name: path}."""
    tmp = tmp_path_factory.mktemp("bad")
    ds, _ = make_bilinear(n=N, p=4, d=8, noise=0.01, label_noise=0.02, seed=2)
    f = {"dir": tmp}
    for ext in ("npz", "h5", "fits"):
        f[f"train_{ext}"] = tmp / f"train.{ext}"
        write_dataset(f[f"train_{ext}"], ds)
    model = Lux(latents=4, n_iter=1, calibrate=False, progress=False).fit(ds)
    f["model"] = tmp / "model.h5"
    model.save(f["model"])
    for ext in ("npz", "fits"):
        raw = f[f"train_{ext}"].read_bytes()
        f[f"trunc_{ext}"] = tmp / f"trunc.{ext}"
        f[f"trunc_{ext}"].write_bytes(raw[: len(raw) // 2])
    for ext in ("npz", "h5"):
        f[f"empty_{ext}"] = tmp / f"empty.{ext}"
        write_dataset(f[f"empty_{ext}"], ds.take(np.arange(0)))
    arrays = dataset_to_arrays(ds)
    f["float_names"] = tmp / "float_names.npz"
    write_arrays(f["float_names"], {**arrays, "label_names": np.array([1.0, 2.0, 3.0])})
    for name, version in (("version_one", "one"), ("version_7", 7)):
        f[name] = tmp / f"{name}.h5"
        shutil.copy(f["model"], f[name])
        with h5py.File(f[name], "a") as h:
            h.attrs["format_version"] = version
    f["zeroed"] = tmp / "zeroed.h5"
    f["zeroed"].write_bytes(bytes(f["model"].stat().st_size))
    raw = bytearray(f["model"].read_bytes())
    raw[2048:] = bytes(len(raw) - 2048)  # a valid superblock, the rest zeroed
    f["zeroed_tail"] = tmp / "zeroed_tail.h5"
    f["zeroed_tail"].write_bytes(bytes(raw))
    f["catalog"] = tmp / "labels.csv"
    write_dataset(f["catalog"], ds.with_outputs(["label"]))
    f["a_file"] = tmp / "a_file"
    f["a_file"].write_text("not a folder")
    return f


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Exit code, stdout, stderr of ``starlux ARGV`` (argparse's exits included)."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, err: str, message: str) -> None:
    assert rc != 0
    assert "Traceback" not in err
    errors = [line for line in err.strip().splitlines() if ": error: " in line]
    assert len(errors) == 1, err
    assert message in errors[0], err


TRAIN = ["train", "{train_npz}", "--out", "{dir}/m.h5", "--no-progress", "--latents", "4",
         "--no-calibrate", "--iters", "1"]
PREDICT = ["predict", "{model}", "{train_npz}", "--out", "{dir}/p.npz", "--no-progress"]

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
    "cv_refuses_a_latent_size_that_is_not_a_size": (
        ["cv", "{train_npz}", "--out", "{dir}/cv", "--latents", "2x,big"],
        "argument --latents: expected an integer"),
    "train_refuses_an_abbreviated_option": (TRAIN + ["--latent", "4"],
                                            "unrecognized arguments: --latent"),
    "predict_refuses_a_zero_chunk_size": (PREDICT + ["--chunk-size", "0"],
                                          "argument --chunk-size: must be at least 1"),
    "predict_refuses_an_input_given_twice_with_a_comma": (
        PREDICT + ["--from", "flux,flux"], "argument --from: 'flux' is given twice"),
    "predict_refuses_an_input_given_twice_with_a_space": (
        PREDICT + ["--from", "flux", "flux"], "'flux' is given twice"),
    "predict_refuses_an_output_given_twice": (PREDICT + ["--outputs", "label,label"],
                                              "argument --outputs: 'label' is given twice"),
    "similar_refuses_a_negative_top": (
        ["similar", "{model}", "{train_npz}", "--reference", "0", "--out", "{dir}/s.csv",
         "--top", "-3"], "argument --top: must be at least 1"),
    "similar_names_reference_ids_not_in_the_data": (
        ["similar", "{model}", "{train_npz}", "--reference", "nope", "--out", "{dir}/s.csv"],
        "train.npz: --reference: 1 reference id(s) not in the dataset: nope"),
    "cv_refuses_one_fold": (["cv", "{train_npz}", "--out", "{dir}/cv", "--folds", "1"],
                            "must be at least 2"),
    "cv_refuses_a_nan_reg": (["cv", "{train_npz}", "--out", "{dir}/cv", "--reg", "1,nan"],
                             "argument --reg: must be a finite number >= 0"),
    "cv_refuses_folds_with_fewer_than_two_labelled_stars": (
        ["cv", "{train_npz}", "--out", "{dir}/cv", "--folds", "30"],
        "--folds 30 is too many for (each fold needs 2)"),
    "cv_refuses_an_out_folder_that_is_a_file": (
        ["cv", "{train_npz}", "--out", "{a_file}"], "--out must be a folder"),
    "cv_refuses_the_old_spelling_abbreviated": (
        ["cv", "{train_npz}", "--out", "{dir}/cv", "--n-it", "3"], "unrecognized arguments"),
    # output paths
    "predict_refuses_an_unknown_output_format_before_predicting": (
        ["predict", "{model}", "{train_npz}", "--out", "{dir}/p.txt"],
        "p.txt: unknown prediction format '.txt'"),
    "train_refuses_a_model_name_that_is_not_h5": (
        ["train", "{train_npz}", "--out", "{dir}/m.npz"], "model files are HDF5; name it .h5"),
    "train_refuses_an_out_path_equal_to_its_input": (
        ["train", "{train_npz}", "--out", "{train_npz}"], "--out is the input file"),
    "predict_refuses_an_out_path_equal_to_its_input": (
        ["predict", "{model}", "{train_npz}", "--out", "{train_npz}"], "--out is the input file"),
    "predict_refuses_an_out_path_equal_to_its_model": (
        ["predict", "{model}", "{train_h5}", "--out", "{model}"], "--out is the input file"),
    "predict_refuses_an_out_path_that_is_a_folder": (
        ["predict", "{model}", "{train_npz}", "--out", "{dir}"], "is a folder; give a file name"),
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
    # damaged files
    "train_names_a_truncated_npz": (["train", "{trunc_npz}", "--out", "{dir}/m.h5"],
                                    "trunc.npz: cannot read as npz"),
    "predict_names_a_truncated_npz": (["predict", "{model}", "{trunc_npz}", "--out",
                                       "{dir}/p.npz"], "trunc.npz: cannot read as npz"),
    "predict_names_a_truncated_fits": (["predict", "{model}", "{trunc_fits}", "--out",
                                        "{dir}/p.npz"], "trunc.fits: file is truncated"),
    "train_refuses_an_empty_npz": (["train", "{empty_npz}", "--out", "{dir}/m.h5"],
                                   "empty.npz: holds no objects"),
    "predict_refuses_an_empty_npz": (["predict", "{model}", "{empty_npz}", "--out",
                                      "{dir}/p.npz"], "empty.npz: holds no objects"),
    "predict_refuses_an_empty_h5": (["predict", "{model}", "{empty_h5}", "--out",
                                     "{dir}/p.npz"], "empty.h5: holds no objects"),
    "train_refuses_float_label_names": (["train", "{float_names}", "--out", "{dir}/m.h5"],
                                        "'label_names' must hold strings"),
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
    argv, message = CASES[case]
    argv = [a.format(**files) for a in argv]
    rc, _, err = run_cli(argv, capsys)
    assert_one_line_error(rc, err, message.format(**files))
    assert not (files["dir"] / "m.h5").exists() and not (files["dir"] / "p.npz").exists()


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


def test_debug_environment_shows_the_traceback(files, monkeypatch):
    monkeypatch.setenv("STARLUX_DEBUG", "1")
    with pytest.raises(ValueError, match="holds no objects"):
        main(["predict", str(files["model"]), str(files["empty_npz"]), "--out",
              str(files["dir"] / "p.npz")])


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


# --- suspicious but readable inputs: a warning naming the problem -------------------


def test_unknown_dataset_keys_draw_a_warning_naming_them(files, tmp_path):
    from starlux.io.datasets import read_dataset

    path = tmp_path / "extra.npz"
    arrays = dataset_to_arrays(read_dataset(files["train_npz"]))
    write_arrays(path, {**arrays, "junk": np.arange(3), "label_eror": np.ones((N, 3))})
    with pytest.warns(UserWarning, match=r"unknown key\(s\) \['junk'\]"):
        ds = read_dataset(path)
    assert "label_eror" in ds.extras  # one value per object: kept as an extra


def test_annies_lasso_labels_key_is_read_as_label_with_a_warning(files, tmp_path):
    from starlux.io.datasets import read_dataset

    arrays = dataset_to_arrays(read_dataset(files["train_npz"]))
    arrays["labels"], arrays["labels_err"] = arrays.pop("label"), arrays.pop("label_err")
    path = tmp_path / "cannon.npz"
    write_arrays(path, arrays)
    with pytest.warns(UserWarning, match="reading the key 'labels' as 'label'"):
        ds = read_dataset(path)
    assert list(ds["label"].names) == ["TEFF", "LOGG", "FE_H"]


def test_model_from_a_newer_starlux_draws_a_warning(files, tmp_path):
    from starlux.io.models import load_model

    path = tmp_path / "newer.h5"
    shutil.copy(files["model"], path)
    with h5py.File(path, "a") as h:
        h.attrs["starlux_version"] = "99.0"
    with pytest.warns(UserWarning, match="newer.h5: written by starlux 99.0"):
        load_model(path)


def test_train_warns_about_a_constant_label_before_training(files, tmp_path, capsys):
    from starlux.io.datasets import read_dataset

    arrays = dataset_to_arrays(read_dataset(files["train_npz"]))
    arrays["label"][:, 2] = -0.5
    path = tmp_path / "constant.npz"
    write_arrays(path, arrays)
    rc, out, err = run_cli(["train", path, "--out", tmp_path / "m.h5", "--latents", "4",
                            "--no-calibrate", "--iters", "1", "--no-progress"], capsys)
    assert rc == 0, err
    assert "warning: " in err and "label 'FE_H'" in err and "trained P=4" in out
    from starlux.commands.checks import warn_constant_labels

    with pytest.warns(UserWarning, match="label 'FE_H' .* same value -0.5 for all 40"):
        assert warn_constant_labels(read_dataset(path), path) == ["FE_H"]
