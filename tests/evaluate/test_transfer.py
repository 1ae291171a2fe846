"""Label transfer with more than two outputs (paper §5)."""

from __future__ import annotations

import numpy as np
import pytest

from starlux.evaluate.transfer import (
    make_cross_survey,
    real_transfer_dataset,
    transfer_metrics,
)
from starlux.model import Lux

from ..conftest import SHARED_DATA, shared_data_reason

CATS = SHARED_DATA / "apogee-label-catalogs"


def test_labels_of_a_second_survey_are_learned_from_half_the_objects():
    train = make_cross_survey(600, seed=0)
    test = make_cross_survey(300, seed=1, galah_fraction=1.0)
    gal = train["galah"]
    has_galah = (~gal.missing).any(axis=1)
    assert 0.4 < has_galah.mean() < 0.6  # GALAH labels for about half the objects
    assert train["label"].missing.any() and not np.array_equal(
        train["label"].missing, gal.missing)
    model = Lux(latents=9, calibrate=False, progress=False).fit(train)
    assert model.label_outputs == ["label", "galah"]
    flux_only = test.with_outputs(["flux"])
    rows = {r["label"]: r for r in transfer_metrics(model, flux_only, "galah",
                                                    reference=test.extras["galah_true"])}
    # EU_FE leaves no trace in the spectrum: learned only through its correlation
    # with [Mg/Fe], yet predicted from the spectra much better than its scatter
    assert rows["EU_FE"]["rmse_over_pop"] < 0.8
    for name in ("TEFF", "FE_H", "MG_FE"):
        assert rows[name]["rmse_over_pop"] < 0.5, name
    # the GALAH Teff zero-point (+40 K) is transferred, not the APOGEE one
    assert rows["TEFF"]["bias"] == pytest.approx(0.0, abs=25.0)
    apo = model.predict(flux_only, inputs=["flux"], outputs=["label"])["label"].values
    assert np.mean(apo[:, 0] - test.extras["label_true"][:, 0]) == pytest.approx(0.0, abs=25.0)
    # labels of one survey from the other survey's labels
    from_apogee = transfer_metrics(model, test.with_outputs(["label"]), "galah",
                                   inputs=["label"], reference=test.extras["galah_true"])
    assert {r["label"]: r["rmse_over_pop"] for r in from_apogee}["FE_H"] < 0.5


@pytest.mark.skipif(not CATS.is_dir(), reason=shared_data_reason(CATS))
def test_real_apogee_galah_tables_smoke():
    """The real DR17 x GALAH DR3 tables overlap in 12 stars only: this trains and
    predicts end to end but cannot validate accuracy."""
    ds, both = real_transfer_dataset(str(CATS / "Apogee_data_filtered_1612.fits"),
                                     str(CATS / "Galah_data_filtered_1061.fits"))
    assert both.size == 12 and ds.n == 1612 + 1061 - 12
    lab, gal = ds["label"], ds["galah"]
    assert (~lab.missing[both]).all(axis=1).all() and (~gal.missing[both]).any(axis=1).all()
    assert lab.missing[1612:].all() and gal.missing[:1612][
        np.setdiff1d(np.arange(1612), both)].all()
    held = both[:4]
    train = ds.take(np.setdiff1d(np.arange(ds.n), held))
    model = Lux(latents=11, n_iter=2, calibrate=False, progress=False).fit(train)
    pred = model.predict(ds.take(held).with_outputs(["label"]), inputs=["label"],
                         outputs=["galah"])
    assert pred["galah"].values.shape == (4, 6)
    assert np.isfinite(pred["galah"].values).all() and np.isfinite(pred["galah"].errors).all()
