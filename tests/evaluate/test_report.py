"""The report: every listed file is written, optional figures are skipped cleanly."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from starlux import Dataset
from starlux.cli import main
from starlux.evaluate.report import (
    estimate_snr,
    find_label,
    latent_embedding,
    make_report,
)
from starlux.io.datasets import write_dataset
from starlux.model import Lux

from .helpers import make_latent, write_windows


def test_labels_are_found_by_alias_and_snr_is_estimated():
    assert find_label(["teff", "logg", "m_h"], "feh") == "m_h"
    assert find_label(["PARAM_M_H", "FE_H"], "feh") == "FE_H"
    assert find_label(["TEFF"], "mgfe") is None
    ds = make_latent(n=10, d=8, noise=0.02)
    snr, src = estimate_snr(ds)
    assert "median" in src and np.allclose(snr, 50.0, rtol=0.1)
    ds2 = Dataset(outputs=ds.outputs, ids=ds.ids, extras={"SNR": np.arange(10.0)})
    assert np.array_equal(estimate_snr(ds2)[0], np.arange(10.0))


WL = np.linspace(15600.0, 15900.0, 40)


@pytest.fixture(scope="module")
def trained():
    train = make_latent(n=160, m=4, p=6, d=40, seed=0, wavelength=WL)
    test = make_latent(n=80, m=4, p=6, d=40, seed=1, wavelength=WL)
    return Lux(latents=6, calibrate=False, progress=False).fit(train), test


def test_report_cli_writes_every_file(tmp_path, trained):
    model, test = trained
    wl = WL
    model.save(str(tmp_path / "model.h5"))
    write_dataset(tmp_path / "test.npz", test)
    mg = np.zeros(40)
    mg[[5, 6, 7, 30]] = 0.8
    write_windows(tmp_path / "win", wl, {"Mg": mg, "Fe": (np.arange(40) % 3 == 0) * 1.0})
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


def test_report_skips_diagrams_without_known_labels(tmp_path, trained):
    model, test = trained
    names = ("A", "B", "C", "D")
    model = copy.deepcopy(model)
    model.specs["label"].names = names
    ds = Dataset.from_arrays(flux=test["flux"].values, flux_err=test["flux"].errors,
                             label=test["label"].values, label_err=test["label"].errors,
                             label_names=names, ids=test.ids, wavelength=WL)
    rep = make_report(model, ds, tmp_path, n_realizations=0, tsne=False, progress=False)
    skipped = dict(rep.skipped)
    assert "Kiel diagram" in skipped and "Tinsley-Wallerstein diagram" in skipped
    assert not (tmp_path / "kiel.png").exists()
    assert (tmp_path / "one_to_one_A.png").exists() and (tmp_path / "index.html").exists()


def test_tsne_and_pca_embed_the_latents_in_two_dimensions():
    pytest.importorskip("sklearn")
    z = np.random.default_rng(0).normal(size=(40, 5))
    z[:, 0] = 1.0  # the constant latent is dropped
    xy = latent_embedding(z, "tsne", max_iter=250)
    assert xy.shape == (40, 2) and np.isfinite(xy).all()
    assert latent_embedding(z, "pca").shape == (40, 2)
