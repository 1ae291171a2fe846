"""Label transfer with more than two outputs (issue 5, paper §5).

1. Synthetic cross-survey benchmark (:func:`starlux.evaluate.transfer.make_cross_survey`):
   spectra + APOGEE-like labels + GALAH-like labels on half of the objects, where
   GALAH's EU_FE has no spectral signature but correlates with [Mg/Fe]. Trains one
   Lux model on all three outputs and predicts the GALAH labels of held-out objects
   from their spectra alone (compared with the truth and the population scatter).
2. The real APOGEE DR17 / GALAH DR3 label tables in shared/data/apogee-label-catalogs:
   no spectra, 12 stars in common. Trains on all stars of both tables (each output
   missing where a survey did not observe the star), leaves 4 of the 12 common stars'
   GALAH labels out, and predicts them from their APOGEE labels. Twelve stars cannot
   validate anything: this only shows the pipeline runs end to end on the real tables.

    PYTHONPATH=src python benchmarks/transfer_benchmark.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from starlux.evaluate.metrics import format_metrics
from starlux.evaluate.transfer import make_cross_survey, real_transfer_dataset, transfer_metrics
from starlux.model import Lux

CATS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "apogee-label-catalogs"


def synthetic() -> None:
    train = make_cross_survey(1000, seed=0)
    test = make_cross_survey(500, seed=1, galah_fraction=1.0)
    print(train.describe())
    model = Lux(latents=9, seed=0, progress=False).fit(train)
    rows = transfer_metrics(model, test.with_outputs(["flux"]), "galah",
                            reference=test.extras["galah_true"])
    print(format_metrics(rows, title="GALAH-like labels from spectra vs truth "
                                     "(held-out objects):"))
    for r in rows:
        print(f"  {r['label']}: RMSE / population scatter = {r['rmse_over_pop']:.3f}")


def real() -> None:
    ds, both = real_transfer_dataset(str(CATS / "Apogee_data_filtered_1612.fits"),
                                     str(CATS / "Galah_data_filtered_1061.fits"))
    print(ds.describe())
    print(f"stars in both tables: {both.size}")
    held = both[:4]
    model = Lux(latents=11, seed=0, progress=False).fit(
        ds.take(np.setdiff1d(np.arange(ds.n), held)))
    pred = model.predict(ds.take(held).with_outputs(["label"]), inputs=["label"],
                         outputs=["galah"])
    names = model.specs["galah"].names
    obs = ds["galah"].take(held)
    for i, star in enumerate(ds.ids[held]):
        cells = [f"{n}={pred['galah'].values[i, j]:.3g}±{pred['galah'].errors[i, j]:.2g} "
                 f"(GALAH {obs.values[i, j]:.3g})" for j, n in enumerate(names)]
        print(f"  {star}: " + "; ".join(cells))


if __name__ == "__main__":
    synthetic()
    if CATS.is_dir():
        real()
