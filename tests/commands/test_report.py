"""``starlux report``: every listed file is written, and ``--wave-range`` is checked."""

from __future__ import annotations

import numpy as np
import pytest

from starlux.cli import main
from starlux.commands.report import parse_wave_range
from starlux.io.datasets import write_dataset
from starlux.model import Lux
from tests.evaluate.helpers import make_latent, write_windows

WL = np.linspace(15600.0, 15900.0, 40)


def test_report_cli_writes_every_file(tmp_path):
    train = make_latent(n=160, m=4, p=6, d=40, seed=0, wavelength=WL)
    test = make_latent(n=80, m=4, p=6, d=40, seed=1, wavelength=WL)
    model = Lux(latents=6, calibrate=False, progress=False).fit(train)
    model.save(str(tmp_path / "model.h5"))
    write_dataset(tmp_path / "test.npz", test)
    mg = np.zeros(40)
    mg[[5, 6, 7, 30]] = 0.8
    write_windows(tmp_path / "win", WL, {"Mg": mg, "Fe": (np.arange(40) % 3 == 0) * 1.0})
    out = tmp_path / "report"
    rc = main(["report", str(tmp_path / "model.h5"), str(tmp_path / "test.npz"), "--out",
               str(out), "--windows", str(tmp_path / "win"), "--realizations", "3",
               "--no-tsne", "--no-progress"])
    assert rc == 0
    names = ["TEFF", "LOGG", "FE_H", "MG_FE"]
    expected = ([f"one_to_one_{n}.png" for n in names]
                + ["residuals_vs_snr.png", "kiel.png", "tinsley_wallerstein.png",
                   "chi2_hist.png", "spectra.png", "derivative_spectra.png",
                   "derivative_spectra_zoom.png", "derivative_spectra_masked.png",
                   "derivative_spectra_masked_zoom.png", "precision_vs_snr.png",
                   "latents_pca.png", "metrics.csv", "index.html"])
    for name in expected:
        assert (out / name).stat().st_size > 0, name
    page = (out / "index.html").read_text()
    for name in expected:
        if name.endswith(".png"):
            assert f"src='{name}'" in page, name
    assert "t-SNE latent map" in page  # listed as skipped
    metrics = (out / "metrics.csv").read_text()
    assert "label (windows only)" in metrics  # FE_H and MG_FE from their windows alone
    assert not list(out.glob(".*tmp*"))  # atomic writes leave nothing behind


def test_a_wave_range_is_two_increasing_numbers_given_either_way():
    assert parse_wave_range(None) is None
    assert parse_wave_range(["15700", "15850"]) == parse_wave_range(["15700,15850"]) == (
        15700.0, 15850.0)
    with pytest.raises(ValueError, match="takes two numbers"):
        parse_wave_range(["15700"])
    with pytest.raises(ValueError, match="MIN must be below MAX; got 15850 15700"):
        parse_wave_range(["15850", "15700"])
