"""Robust fitting: one bad value never ruins a model (table of faults, plus random
corruptions with hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from starlux import Dataset
from starlux.model import Lux

from .conftest import make_bilinear

N_TRAIN, N_TEST = 300, 150
FIT = dict(latents=6, progress=False, calibrate=False)


@pytest.fixture(scope="module")
def clean():
    ds, truth = make_bilinear(n=N_TRAIN + N_TEST, p=6, d=120, noise=0.01, label_noise=0.05,
                              seed=3)
    arrays = {"f": ds["flux"].values, "fe": ds["flux"].errors, "l": ds["label"].values,
              "le": ds["label"].errors, "names": ds["label"].names,
              "truth": truth["labels"][N_TRAIN:]}
    return arrays, _rmse(arrays, _copy(arrays))


def _copy(a):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in a.items()}


def _rmse(base, a, test_flux=None):
    tr = slice(0, N_TRAIN)
    train = Dataset.from_arrays(flux=a["f"][tr], flux_err=a["fe"][tr], label=a["l"][tr],
                                label_err=a["le"][tr], label_names=a["names"])
    test = Dataset.from_arrays(
        flux=base["f"][N_TRAIN:] if test_flux is None else test_flux,
        flux_err=base["fe"][N_TRAIN:])
    model = Lux(**FIT).fit(train)
    for k, p in model.params.items():
        for v in p.values():
            assert np.all(np.isfinite(v)), f"non-finite {k} map"
    pred = model.predict(test)["label"]
    assert np.all(np.isfinite(pred.values)) and np.all(np.isfinite(pred.errors))
    return np.sqrt(np.mean((pred.values - base["truth"]) ** 2, axis=0))


def _empty_star(a):
    a["f"][5] = np.nan
    a["l"][5] = np.nan


def _pixel(value):
    def fault(a):
        a["f"][7, 50] = value
    return fault


def _label(value):
    def fault(a):
        a["l"][9, 0] = value
    return fault


def _fill(value, share):
    def fault(a):
        a["l"][: int(share * N_TRAIN), 0] = value
    return fault


def _label_err(a):
    a["le"][9, 0] = 1e-10


def _flux_err(a):
    a["fe"][11, 60] = 1e-30


def _cosmic_rays(a):
    rng = np.random.default_rng(0)
    hit = rng.random(a["f"][:N_TRAIN].shape) < 0.002
    a["f"][:N_TRAIN][hit] += 50 * a["fe"][:N_TRAIN][hit]


FAULTS = {
    "an empty star": _empty_star,
    "a 1e6 pixel": _pixel(1e6),
    "a 1e10 pixel": _pixel(1e10),
    "a 1e30 pixel": _pixel(1e30),
    "a -9999 label": _label(-9999.0),
    "a 1e10 label": _label(1e10),
    "a tenth of a label column written as 9999": _fill(9999.0, 0.1),
    "a quarter of a label column written as -9999": _fill(-9999.0, 0.25),
    "a 1e-10 label error": _label_err,
    "a 1e-30 flux error": _flux_err,
    "cosmic rays on 0.2% of the pixels": _cosmic_rays,
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_one_training_fault_changes_the_heldout_rmse_by_at_most_ten_percent(clean, fault):
    base, rmse_clean = clean
    a = _copy(base)
    FAULTS[fault](a)
    ratio = _rmse(base, a) / rmse_clean
    assert np.all(ratio <= 1.10), ratio


def test_spiked_test_pixels_cost_at_most_fifteen_percent_and_are_counted(clean):
    base, rmse_clean = clean
    flux = base["f"][N_TRAIN:].copy()
    rng = np.random.default_rng(1)
    hit = rng.random(flux.shape) < 0.002
    flux[hit] += 50 * base["fe"][N_TRAIN:][hit]
    assert np.all(_rmse(base, _copy(base), test_flux=flux) / rmse_clean <= 1.15)
    train = Dataset.from_arrays(flux=base["f"][:N_TRAIN], flux_err=base["fe"][:N_TRAIN],
                                label=base["l"][:N_TRAIN], label_err=base["le"][:N_TRAIN],
                                label_names=base["names"])
    pred = Lux(**FIT).fit(train).predict(
        Dataset.from_arrays(flux=flux, flux_err=base["fe"][N_TRAIN:]))
    # most spikes are found, few clean pixels are lost
    assert pred.n_rejected["flux"].sum() >= 0.8 * hit.sum()
    assert pred.n_rejected["flux"].sum() <= hit.sum() + 0.001 * hit.size


def test_training_with_clipping_off_keeps_every_entry(clean):
    base, _ = clean
    a = _copy(base)
    _cosmic_rays(a)
    train = Dataset.from_arrays(flux=a["f"][:N_TRAIN], flux_err=a["fe"][:N_TRAIN],
                                label=a["l"][:N_TRAIN], label_err=a["le"][:N_TRAIN],
                                label_names=a["names"])
    on = Lux(**FIT).fit(train)
    off = Lux(**FIT, clip=None).fit(train)
    assert on.robust["flux"]["clipped"] > 0
    assert off.robust["flux"]["clipped"] == 0


def test_sentinel_labels_do_not_inflate_the_learned_model_error(clean):
    """A catalogue that writes -9999 for a tenth of one label: the fit screens those
    entries out, and so must the calibration (they are not evidence of the model's
    error: counted as residuals they made that label's error bar 3,000 times too big)."""
    base, _ = clean

    def fit(labels):
        train = Dataset.from_arrays(flux=base["f"][:N_TRAIN], flux_err=base["fe"][:N_TRAIN],
                                    label=labels, label_err=base["le"][:N_TRAIN],
                                    label_names=base["names"])
        return Lux(**{**FIT, "calibrate": True}).fit(train)

    labels = base["l"][:N_TRAIN].copy()
    clean_error = fit(labels).model_error["label"]
    labels[: N_TRAIN // 10, 1] = -9999.0
    model = fit(labels)
    with_sentinels = model.model_error["label"]
    # the held-out record says which entries the calibration left out
    used = model.held_out["label"]["used"]
    assert not used[: N_TRAIN // 10, 1].any() and used[N_TRAIN // 10:].all()
    # (a model error near 0 may move by a small fraction of the catalogue error)
    slack = 0.1 * np.median(base["le"][:N_TRAIN], axis=0)
    assert np.all(with_sentinels <= 1.5 * clean_error + slack), (with_sentinels, clean_error)


CORRUPTIONS = st.lists(
    st.tuples(st.sampled_from(["f", "fe", "l", "le"]), st.integers(0, 10_000),
              st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e-30, 1e30, -9999.0,
                               9999.0, 1e10])),
    min_size=1, max_size=12)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corruptions=CORRUPTIONS)
@example(corruptions=[("l", 0, 1e30), ("l", 21, 1e30)])  # two sentinels set the scale once
def test_no_model_trained_on_corrupted_data_contains_nan(corruptions):
    ds, _ = make_bilinear(n=80, p=4, d=30, noise=0.01, label_noise=0.05, seed=7)
    a = {"f": ds["flux"].values.copy(), "fe": ds["flux"].errors.copy(),
         "l": ds["label"].values.copy(), "le": ds["label"].errors.copy()}
    for key, where, value in corruptions:
        flat = a[key].reshape(-1)
        flat[where % flat.size] = value
    train = Dataset.from_arrays(flux=a["f"][:60], flux_err=a["fe"][:60], label=a["l"][:60],
                                label_err=a["le"][:60], label_names=ds["label"].names)
    model = Lux(latents=4, progress=False, calibrate=False, n_iter=2).fit(train)
    for p in model.params.values():
        for v in p.values():
            assert np.all(np.isfinite(v))
    pred = model.predict(Dataset.from_arrays(flux=a["f"][60:], flux_err=a["fe"][60:]))
    assert np.all(np.isfinite(pred["label"].values))
