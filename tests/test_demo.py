"""The demo runs end to end on the embedded real data and writes what the next
commands need."""

from __future__ import annotations

import numpy as np

from starlux.demo import next_commands, run_demo
from starlux.io.datasets import read_dataset


def test_demo_on_real_data_writes_datasets_model_and_tables(tmp_path, capsys):
    rows = run_demo(tmp_path / "demo", data="real", progress=False)
    out = capsys.readouterr().out
    assert "RMSE" in out and "TEFF" in out
    assert "starlux report" in out and "starlux cv" in out  # the next commands
    files = {p.name for p in (tmp_path / "demo").iterdir()}
    assert {"train.h5", "test.h5", "model.h5", "metrics.csv", "predictions.csv",
            "predictions.fits", "one_to_one_TEFF.png", "one_to_one_LOGG.png",
            "one_to_one_PARAM_M_H.png"} <= files
    train, test = read_dataset(tmp_path / "demo" / "train.h5"), read_dataset(
        tmp_path / "demo" / "test.h5")
    assert train.n + test.n == 671
    teff = next(r for r in rows if r["label"] == "TEFF")
    assert teff["rmse"] < 250.0  # K; the catalogue's own scatter is ~50 K
    assert all(np.isfinite(r["z_std"]) and r["reference"].startswith("catalogue")
               for r in rows)


def test_next_commands_name_the_files_the_demo_wrote(tmp_path):
    cmds = next_commands(tmp_path)
    assert cmds[0].startswith("starlux report ") and "model.h5" in cmds[0]
    assert "test.h5" in cmds[0] and cmds[1].startswith("starlux cv ")
