"""The sections of the validation report and the helpers they share."""

from __future__ import annotations

import numpy as np
import pytest

from starlux import Dataset
from starlux.evaluate.report_sections import (
    Report,
    ReportContext,
    default_zoom,
    estimate_snr,
    labels_section,
    latent_embedding,
    noise_realizations,
    pick_objects,
    reference_labels,
)
from starlux.model import Lux

from .helpers import make_latent


@pytest.fixture(scope="module")
def model_and_data():
    train = make_latent(n=80, m=2, p=4, d=12, seed=0)
    test = make_latent(n=20, m=2, p=4, d=12, seed=1)
    return Lux(latents=4, n_iter=2, calibrate=False, progress=False).fit(train), test


def test_snr_comes_from_an_snr_column_or_the_median_flux_over_error():
    ds = make_latent(n=10, d=8, noise=0.02)
    snr, src = estimate_snr(ds)
    assert "median" in src and np.allclose(snr, 50.0, rtol=0.1)
    ds2 = Dataset(outputs=ds.outputs, ids=ds.ids, extras={"SNR": np.arange(10.0)})
    assert np.array_equal(estimate_snr(ds2)[0], np.arange(10.0))


def test_tsne_and_pca_embed_the_latents_in_two_dimensions():
    pytest.importorskip("sklearn")
    z = np.random.default_rng(0).normal(size=(40, 5))
    z[:, 0] = 1.0  # the constant latent is dropped
    xy = latent_embedding(z, "tsne", max_iter=250)
    assert xy.shape == (40, 2) and np.isfinite(xy).all()
    assert latent_embedding(z, "pca").shape == (40, 2)


def test_pca_keeps_the_two_widest_directions_and_an_unknown_method_is_refused():
    rng = np.random.default_rng(1)
    z = np.c_[np.ones(50), 10 * rng.normal(size=50), rng.normal(size=50),
              0.01 * rng.normal(size=50)]
    xy = latent_embedding(z, "pca")
    spread = xy.std(axis=0)
    assert spread[0] == pytest.approx(z[:, 1].std(), rel=0.05)
    assert spread[1] == pytest.approx(z[:, 2].std(), rel=0.2)
    with pytest.raises(ValueError, match="unknown embedding 'umap'"):
        latent_embedding(z, "umap")


def test_objects_are_picked_across_the_range_of_a_value():
    values = np.array([5.0, np.nan, 1.0, 3.0, 2.0, 4.0])
    ok = np.array([True, True, True, True, False, True])
    picked = pick_objects(values, ok, 3)
    assert values[picked].tolist() == [1.0, 4.0, 5.0]  # the ends and the middle
    assert pick_objects(values, ok, 10).tolist() == [2, 3, 5, 0]
    assert pick_objects(np.full(3, np.nan), np.array([False, True, True]), 1).tolist() == [1]


def test_the_zoom_is_the_fe_and_mg_stretch_when_the_grid_covers_it():
    assert default_zoom(None) is None
    assert default_zoom(np.linspace(15100, 17000, 50)) == (15700.0, 15850.0)
    assert default_zoom(np.linspace(5000, 6000, 501)) == (5000.0, 5100.0)  # 2 Å steps
    assert default_zoom(np.arange(3360.0, 10220.0, 20.0)) is None  # Gaia XP: no zoom


def test_labels_are_compared_with_the_truth_when_the_data_carry_it(model_and_data):
    model, test = model_and_data
    ref, err, what = reference_labels(model, test, "label")
    assert what == "catalogue" and err is not None
    np.testing.assert_array_equal(ref, test["label"].values)
    truth = test["label"].values[:, ::-1] + 1.0  # columns in the data's order
    sim = Dataset(outputs=test.outputs, ids=test.ids, extras={"label_true": truth})
    ref, err, what = reference_labels(model, sim, "label")
    assert what == "truth" and err is None
    np.testing.assert_array_equal(ref, truth)


def test_noise_realisations_spread_the_labels_by_the_flux_noise(model_and_data):
    model, test = model_and_data
    reps = noise_realizations(model, test, k=3, seed=0)
    assert reps.shape == (3, 20, 2)
    spread = reps.std(axis=0)
    assert (spread > 0).all()
    again = noise_realizations(model, test, k=3, seed=0)
    np.testing.assert_array_equal(reps, again)


def test_the_labels_section_writes_a_plot_per_label_and_a_metrics_row(model_and_data,
                                                                      tmp_path):
    model, test = model_and_data
    pred = model.predict(test, inputs=["flux"], outputs=["label"])
    snr, src = estimate_snr(test)
    ctx = ReportContext(model=model, dataset=test, out=tmp_path, flux_output="flux",
                        label_outputs=["label"], pred=pred, pred_lab=None,
                        has_labels=np.ones(20, bool), snr=snr, snr_source=src,
                        wavelength=None, zoom=None)
    rep = Report(out=tmp_path, index=tmp_path / "index.html")
    labels_section(ctx, rep)
    assert rep.metrics == [] and rep.skipped[0][0] == "one-to-one plots of label"
    ctx.reference["label"], ctx.reference_err["label"], ctx.reference_name["label"] = \
        reference_labels(model, test, "label")
    rep = Report(out=tmp_path, index=tmp_path / "index.html")
    labels_section(ctx, rep)
    assert [r["label"] for r in rep.metrics] == ["TEFF", "LOGG"]
    assert [f.path.name for f in rep.figures] == ["one_to_one_TEFF.png", "one_to_one_LOGG.png",
                                                  "residuals_vs_snr.png"]
    assert all(f.path.stat().st_size > 0 for f in rep.figures)
