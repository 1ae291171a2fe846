"""``starlux cv``: the choice of P on data with a known latent size, its files, and
bad options refused with one line naming them."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from starlux.cli import main
from starlux.evaluate.cv import _run_task, make_folds
from starlux.io.datasets import write_dataset
from starlux.model import Lux
from tests.evaluate.helpers import make_latent

from .cli_helpers import check_bad_input

CASES = {
    "cv_refuses_a_latent_size_that_is_not_a_size": (
        ["cv", "{train_npz}", "--out", "{dir}/cv", "--latents", "2x,big"],
        "argument --latents: expected an integer"),
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
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_the_problem(case, files, capsys):
    check_bad_input(CASES[case], files, capsys)
    assert not (files["dir"] / "cv").exists()


def test_cv_cli_picks_true_latent_size(tmp_path):
    """Labels M = 2, spectra built from P = 6 latents: the CV (2 worker threads)
    must choose 3x = 6 out of 2x, 3x, 6x; its numbers must equal a serial run;
    --refit writes a model with P = 6."""
    ds = make_latent(n=150, m=2, p=6, d=30, seed=0)
    data = tmp_path / "train.npz"
    write_dataset(data, ds)
    out = tmp_path / "cv"
    rc = main(["cv", str(data), "--out", str(out), "--latents", "2x,3x,6x", "--reg", "10",
               "--folds", "3", "--jobs", "2", "--refit", "--no-progress"])
    assert rc == 0
    for name in ("cv.csv", "cv_folds.csv", "cv.json", "cv.png", "model.h5"):
        assert (out / name).stat().st_size > 0
    res = json.loads((out / "cv.json").read_text())
    assert res["best"]["P"] == 6
    assert [g["P"] for g in res["latent_grid"]] == [4, 6, 12]
    summary = list(csv.DictReader(open(out / "cv.csv")))
    assert len(summary) == 3
    med = {int(r["P"]): float(r["label_chi2_median"]) for r in summary}
    assert med[4] > 2 * med[6]  # too few latents: clearly worse
    for key in ("chi2_flux_median", "chi2_labels_median", "rmse_scaled_median"):
        assert all(np.isfinite(float(r[key])) for r in summary)
    # parallel results equal a serial in-process computation of the same task
    from starlux.units import label_scaling

    folds = make_folds(ds, 3, seed=0)
    o = ds["label"]
    _, scale = label_scaling(o.values, ~o.missing)
    scales = {("label", n): float(s) for n, s in zip(o.names, scale, strict=True)}
    row = _run_task(ds, folds, Lux(progress=False), scales, 1, 6, 10.0)
    par = next(r for r in res["rows"] if r["fold"] == 1 and r["P"] == 6)
    for key in ("chi2_flux", "chi2_labels", "label_chi2", "rmse_scaled", "rmse[TEFF]"):
        assert par[key] == pytest.approx(row[key], rel=1e-9), key
    from starlux.model import LuxModel

    model = LuxModel.load(str(out / "model.h5"))
    assert model.n_latents == 6 and model.reg == 10.0
