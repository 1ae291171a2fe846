"""Training: exact recovery, missing labels, masked pixels, live latents, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from starlux import Dataset
from starlux.fit import fit_scatter
from starlux.model import Lux
from starlux.units import label_scaling

from .conftest import make_bilinear

FAST = dict(progress=False, calibrate=False)


def _split(ds: Dataset, n_train: int):
    idx = np.arange(ds.n)
    return ds.take(idx[:n_train]), ds.take(idx[n_train:])


def test_noiseless_bilinear_data_are_recovered_exactly():
    ds, truth = make_bilinear(n=400, p=5, d=40)
    train, test = _split(ds, 300)
    model = Lux(latents=5, reg=0.0, **FAST).fit(train)
    pred = model.predict(test.with_outputs(["flux"]))
    np.testing.assert_allclose(pred["label"].values, truth["labels"][300:], rtol=0,
                               atol=1e-3 * np.abs(truth["labels"]).std(0).max())
    # training chi^2 decreases through agenda 1 and ends tiny (noise-free data)
    chi = [c for s, c in model.history if s.startswith(("maps, round", "latents, round"))]
    assert chi[-1] < chi[0]
    assert model.history[-1][1] / (300 * 43) < 1e-2


def test_label_only_inference_reproduces_spectra():
    ds, truth = make_bilinear(n=400, p=4, d=40)
    train, test = _split(ds, 300)
    model = Lux(latents=4, reg=0.0, **FAST).fit(train)
    pred = model.predict(test.with_outputs(["label"]), inputs=["label"], outputs=["flux"])
    np.testing.assert_allclose(pred["flux"].values, truth["flux"][300:], atol=2e-4)


@pytest.mark.parametrize("missing", [0.05, 0.3])
def test_labels_are_unbiased_when_some_training_labels_are_missing(missing):
    ds, truth = make_bilinear(n=900, p=4, d=60, noise=0.002, label_noise=0.02,
                              missing=missing, seed=1)
    train, test = _split(ds, 700)
    assert np.isnan(train["label"].values).mean() == pytest.approx(missing, abs=0.03)
    model = Lux(latents=4, **FAST).fit(train)
    pred = model.predict(test.with_outputs(["flux"]))
    resid = pred["label"].values - truth["labels"][700:]
    scale = truth["labels"].std(0)
    # bias well below the catalogue label errors, and the scatter itself small
    lerr = truth["lerr"][0]
    assert np.all(np.abs(resid.mean(0)) < 3 * resid.std(0) / np.sqrt(len(resid)) + 0.25 * lerr)
    assert np.all(resid.std(0) < 0.05 * scale)


def test_missing_values_get_zero_weight_not_invented():
    ds, _ = make_bilinear(n=300, p=4, d=30, noise=0.001, seed=2)
    flux = ds["flux"].values.copy()
    err = ds["flux"].errors.copy()
    rng = np.random.default_rng(0)
    bad = rng.random(flux.shape) < 0.05
    flux_nan, flux_big = flux.copy(), flux.copy()
    flux_nan[bad] = np.nan
    flux_big[bad] = 1e6  # garbage value, but with error 9999 -> missing
    err_big = err.copy()
    err_big[bad] = 9999.0
    lab = dict(label=ds["label"].values, label_err=ds["label"].errors,
               label_names=ds["label"].names)
    a = Dataset.from_arrays(flux=flux_nan, flux_err=err, **lab)
    b = Dataset.from_arrays(flux=flux_big, flux_err=err_big, **lab)
    ma = Lux(latents=4, **FAST).fit(a)
    mb = Lux(latents=4, **FAST).fit(b)
    np.testing.assert_allclose(ma.params["flux"]["W"], mb.params["flux"]["W"], rtol=1e-9,
                               atol=1e-12)
    pa, pb = ma.predict(a), mb.predict(b)
    np.testing.assert_allclose(pa["label"].values, pb["label"].values, rtol=1e-9)


def test_labels_are_recovered_exactly_when_some_pixels_are_masked():
    ds, truth = make_bilinear(n=400, p=4, d=50, seed=3)
    flux = ds["flux"].values.copy()
    flux[:, 10:20] = 0.0  # flux == 0 -> missing (paper convention)
    masked = Dataset.from_arrays(flux=flux, flux_err=ds["flux"].errors,
                                 label=ds["label"].values, label_err=ds["label"].errors,
                                 label_names=ds["label"].names)
    assert masked["flux"].mask_summary["flux == 0"] == 400 * 10
    train, test = _split(masked, 300)
    model = Lux(latents=4, reg=0.0, **FAST).fit(train)
    pred = model.predict(test.with_outputs(["flux"]))
    np.testing.assert_allclose(pred["label"].values, truth["labels"][300:], rtol=0,
                               atol=1e-3 * truth["labels"].std(0).max())


def test_extra_latents_stay_in_use_after_training():
    """P > M+1: latent dimensions initialised at zero must be used after training."""
    ds, _ = make_bilinear(n=400, m=3, p=8, d=60, noise=0.001, seed=4)
    model = Lux(latents=8, **FAST).fit(ds)
    z = model.z_train
    assert np.all(z[:, 4:].std(0) > 1e-3 * z[:, 1:4].std(0).mean())
    w = model.params["flux"]["W"]
    assert np.all(np.linalg.norm(w[:, 4:], axis=0) > 1e-6)


def test_the_same_seed_gives_the_same_model():
    ds, _ = make_bilinear(n=200, p=5, d=30, noise=0.002, label_noise=0.02, seed=5)
    m1 = Lux(latents=6, seed=3, progress=False).fit(ds)
    m2 = Lux(latents=6, seed=3, progress=False).fit(ds)
    for k in m1.params:
        np.testing.assert_array_equal(m1.params[k]["W"], m2.params[k]["W"])
    np.testing.assert_array_equal(m1.model_error["label"], m2.model_error["label"])
    m3 = Lux(latents=6, seed=4, progress=False).fit(ds)
    assert not np.array_equal(m1.params["flux"]["W"], m3.params["flux"]["W"])


def test_a_latent_size_below_m_plus_one_or_outside_the_grammar_is_refused():
    ds, _ = make_bilinear(n=50, m=3, p=4, d=10)
    with pytest.raises(ValueError, match="P >= M \\+ 1"):
        Lux(latents=3, **FAST).fit(ds)
    with pytest.raises(ValueError, match="multiple"):
        Lux(latents="four", **FAST).fit(ds)
    model = Lux(latents="2x", **FAST).fit(ds)
    assert model.n_latents == 6


def test_automatic_latent_choice_records_selection():
    ds, _ = make_bilinear(n=300, m=3, p=4, d=30, noise=0.002, label_noise=0.02, seed=6)
    model = Lux(progress=False).fit(ds)
    assert {r["latents"] for r in model.selection} == {4, 6, 12, 24}
    best = min(model.selection, key=lambda r: r["holdout_mse"])
    assert model.n_latents == best["latents"]


def test_fit_scatter_recovers_extra_noise():
    rng = np.random.default_rng(0)
    n, d = 4000, 3
    sigma = rng.uniform(0.5, 1.5, (n, d))
    s_true = np.array([0.0, 0.5, 2.0])
    r = rng.normal(size=(n, d)) * np.sqrt(sigma**2 + s_true**2)
    ln_s = np.asarray(fit_scatter(r, 1 / sigma**2))
    assert ln_s[0] < np.log(0.2)
    np.testing.assert_allclose(np.exp(ln_s[1:]), s_true[1:], rtol=0.15)


def test_label_scaling_matches_paper():
    v = np.linspace(0, 100, 1001)[:, None]
    c, s = label_scaling(v, np.ones_like(v, bool))
    assert c[0] == pytest.approx(50.0)
    assert s[0] == pytest.approx((97.5 - 2.5) / 4)


def test_heldout_prediction_from_prepared_arrays_matches_predict():
    from starlux.fit import make_specs
    from starlux.infer import predict_prepared
    from starlux.linalg import gram_dtype
    from starlux.units import prepare_output

    ds, _ = make_bilinear(n=200, d=30, noise=0.01, label_noise=0.02, seed=3)
    model = Lux(latents=5, reg=10.0, progress=False).fit(ds)
    specs = make_specs(ds, model.config)
    prep = {k: prepare_output(ds[k], specs[k], gram_dtype(model.config.precision, specs[k].dim))
            for k in specs}
    fast = predict_prepared(model, prep, ["flux"], ["label"])["label"]
    ref = model.predict(ds, inputs=["flux"], outputs=["label"])["label"]
    # training storage keeps the spectra as float32: the values move by far less than
    # their error bars
    assert np.max(np.abs(fast.values - ref.values) / ref.errors) < 1e-3
    np.testing.assert_allclose(np.sqrt(fast.statistical_var), np.sqrt(ref.statistical_var),
                               rtol=1e-5)
    assert ref.map_errors is not None and np.all(ref.map_errors > 0)


def test_map_errors_shrink_with_more_training_stars():
    small, _ = make_bilinear(n=100, d=30, noise=0.01, label_noise=0.05, seed=4)
    large, _ = make_bilinear(n=1600, d=30, noise=0.01, label_noise=0.05, seed=4)
    test, _ = make_bilinear(n=50, d=30, noise=0.01, seed=5)
    errs = []
    for ds in (small, large):
        # 4 latents + the maps' offsets are the true model (z = [1, x], x of size 4)
        m = Lux(latents=4, reg=10.0, calibrate=False, progress=False).fit(ds)
        errs.append(np.median(m.predict(test, inputs=["flux"])["label"].map_errors, axis=0))
    # 16x the stars: the label-map uncertainty falls (by ~4 for a fixed model)
    assert np.all(errs[1] < errs[0] / 2.0)


def _zero_mean_bilinear(n: int, m: int, p: int, d: int, seed: int):
    """pollux's integration-test process: labels = A z, flux = B z, z, A, B ~ N(0, 1),
    errors uniform in 0.01-0.1 (no constant part anywhere)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(m, p)), rng.normal(size=(d, p))
    z = rng.normal(size=(n, p))
    labels, flux = z @ a.T, z @ b.T
    lerr, ferr = rng.uniform(0.01, 0.1, labels.shape), rng.uniform(0.01, 0.1, flux.shape)
    return (labels, labels + rng.normal(size=labels.shape) * lerr, lerr,
            flux + rng.normal(size=flux.shape) * ferr, ferr)


def test_labels_from_zero_mean_flux_are_unbiased_and_near_the_noise_floor():
    truth, lab, lerr, flux, ferr = _zero_mean_bilinear(900, 3, 6, 80, seed=2)
    names = ["A", "B", "C"]
    train = Dataset.from_arrays(flux=flux[:600], flux_err=ferr[:600], label=lab[:600],
                                label_err=lerr[:600], label_names=names)
    model = Lux(latents=6, **FAST).fit(train)
    pred = model.predict(Dataset.from_arrays(flux=flux[600:], flux_err=ferr[600:]))
    resid = pred["label"].values - truth[600:]
    spread = truth.std(axis=0)
    # before the maps had offsets, each label was biased by its training median
    assert np.all(np.abs(resid.mean(axis=0)) < 0.01 * spread)
    assert np.all(np.sqrt(np.mean(resid**2, axis=0)) < 0.03 * spread)


def test_standardised_or_continuum_subtracted_real_flux_gives_the_same_labels():
    from starlux.datasets import load_apogee671

    full = load_apogee671()
    perm = np.random.default_rng(3).permutation(full.n)
    tr, te = np.sort(perm[171:]), np.sort(perm[:171])
    f, e = full["flux"].values, full["flux"].errors
    mu, sd = f[tr].mean(axis=0), f[tr].std(axis=0)
    lab = full["label"]
    preds = []
    for ff, ee in ((f, e), ((f - mu) / sd, e / sd), (f - 1.0, e)):
        ds = Dataset.from_arrays(flux=ff, flux_err=ee, label=lab.values, label_err=lab.errors,
                                 label_names=lab.names)
        model = Lux(latents=6, **FAST).fit(ds.take(tr))
        preds.append(model.predict(ds.take(te).with_outputs(["flux"]))["label"].values)
    ref = lab.values[te]
    rmse = [np.sqrt(np.mean((p - ref) ** 2, axis=0)) for p in preds]
    for other in preds[1:]:
        np.testing.assert_allclose(np.sqrt(np.mean((other - ref) ** 2, axis=0)), rmse[0],
                                   rtol=0.03)
        # no label offset: far below the catalogue errors (50 K, 0.05, 0.03 dex)
        assert np.all(np.abs(np.mean(other - preds[0], axis=0)) < 0.1 * lab.errors[0])


def test_too_few_labelled_stars_for_the_calibration_is_said(caplog):
    ds, _ = make_bilinear(n=12, p=4, d=30, noise=0.01, label_noise=0.05, seed=2)
    with caplog.at_level("WARNING", logger="starlux"):
        model = Lux(latents=4, progress=False).fit(ds)
    assert model.model_error == {}
    assert any("too few for the calibration" in r.getMessage() for r in caplog.records)


def test_more_latents_than_the_objects_can_constrain_is_said(caplog):
    ds, _ = make_bilinear(n=40, p=4, d=30, noise=0.01, label_noise=0.05, seed=2)
    with caplog.at_level("WARNING", logger="starlux"):
        Lux(latents=30, progress=False, n_iter=1, calibrate=False).fit(ds)
    assert any("barely constrained" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING", logger="starlux"):
        Lux(latents=6, progress=False, n_iter=1, calibrate=False).fit(ds)
    assert not any("barely constrained" in r.getMessage() for r in caplog.records)


def test_the_held_out_predictions_kept_by_the_model_are_what_its_error_model_learned_from():
    from starlux.error_model import calibrate_errors

    ds, _ = make_bilinear(n=150, p=4, d=30, noise=0.003, label_noise=0.03,
                          missing=0.1, seed=5)
    model = Lux(latents=4, progress=False).fit(ds)
    held = model.held_out["label"]
    assert held["values"].shape == held["statistical_var"].shape == (ds.n, 3)
    assert np.isfinite(held["values"]).all() and (held["statistical_var"] > 0).all()
    # a fold model never saw the star: its prediction differs from the final model's
    final = model.predict(ds.with_outputs(["flux"]))["label"].values
    assert np.abs(held["values"] - final).max() > 1e-6
    obs = ds["label"]
    spec = model.specs["label"]
    np.testing.assert_array_equal(held["used"], ~obs.missing)
    em = calibrate_errors(held["values"], held["statistical_var"], np.nan_to_num(obs.values),
                          np.where(obs.missing, 0.0, obs.errors), held["used"],
                          (held["values"] - spec.center) / spec.scale)
    np.testing.assert_allclose(em.sigma, model.model_error["label"], rtol=1e-5, atol=1e-12)
    assert em.scale == pytest.approx(model.error_scale["label"], rel=1e-6)


def test_a_model_trained_without_calibration_keeps_no_held_out_predictions():
    ds, _ = make_bilinear(n=80, p=4, d=20, noise=0.003, label_noise=0.03, seed=6)
    assert Lux(latents=4, **FAST).fit(ds).held_out == {}


def _curved(n: int, seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """Spectra linear in u = sinh(2 x) / sinh(2) of labels x ~ U(-1, 1)^2: a linear map
    of the latents describes the spectra, but the labels are a curved function of it."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, 2))
    u = np.sinh(2.0 * x) / np.sinh(2.0)
    flux = 1.0 + u @ (0.1 * rng.normal(size=(30, 2))).T
    ferr, lerr = np.full((n, 30), 1e-3), np.full((n, 2), 0.01)
    ds = Dataset.from_arrays(flux=flux + rng.normal(size=flux.shape) * ferr, flux_err=ferr,
                             label=x + rng.normal(size=x.shape) * lerr, label_err=lerr,
                             label_names=["TEFF", "LOGG"], ids=np.arange(n))
    return ds, x


CHOICE = dict(progress=False, calibrate=False, latent_grid=("1x+1", "2x"), reg_grid=(10.0,))


def test_the_automatic_choice_takes_a_nonlinear_label_map_where_labels_are_curved():
    ds, x = _curved(500)
    train, test = _split(ds, 400)
    chosen = Lux(**CHOICE).fit(train)
    assert dict(chosen.config.transforms)["label"].name == "mlp"
    assert {r["family"] for r in chosen.selection} == set(Lux().families)
    linear = Lux(latents=chosen.n_latents, **FAST).fit(train)
    flux_only = test.with_outputs(["flux"])
    rmse = {name: np.sqrt(np.mean((m.predict(flux_only)["label"].values - x[400:]) ** 2, 0))
            for name, m in (("chosen", chosen), ("linear", linear))}
    assert np.all(rmse["chosen"] < 0.5 * rmse["linear"]), rmse


def test_the_automatic_choice_keeps_linear_maps_for_bilinear_data():
    ds, _ = make_bilinear(n=500, p=4, d=40, noise=0.002, label_noise=0.02, seed=3)
    model = Lux(**CHOICE).fit(ds)
    assert model.config.transforms is None
    assert {r["family"] for r in model.selection} == set(Lux().families)
