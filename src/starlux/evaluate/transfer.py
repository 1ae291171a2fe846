"""Label transfer between surveys with a many-output Lux model (paper §5).

A :class:`~starlux.data.Dataset` may hold any number of label outputs next to the
spectra — e.g. ``"label"`` (APOGEE/ASPCAP) and ``"galah"`` (GALAH DR3) — each with its
own missing pattern. ``Lux().fit(ds)`` learns one linear map per output from shared
latents, and ``model.predict(test, inputs=["flux"], outputs=["galah"])`` predicts
one survey's labels from the other survey's spectra.

This module provides

* :func:`make_cross_survey` — a synthetic cross-survey benchmark with known truth:
  APOGEE-like labels and spectra, plus GALAH-like labels on only a subset of the
  objects, one of which (``EU_FE``) has *no spectral signature of its own* but
  correlates with [Mg/Fe] (so it can only be learned through the correlation);
* :func:`transfer_metrics` — bias / RMSE / errors of transferred labels, with the
  population scatter of each label for scale;
* :func:`real_transfer_dataset` — the APOGEE DR17 and GALAH DR3 label tables of
  ``shared/data/apogee-label-catalogs`` joined on Gaia DR3 ids into one dataset
  with outputs ``label`` (APOGEE) and ``galah`` (every star of both tables; each
  output missing where the star was not observed by that survey). These tables
  carry no spectra, and only 12 stars are in both, so with them the transfer goes
  from APOGEE labels to GALAH labels and cannot be validated statistically.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data import DataError, Dataset, Output
from .metrics import label_metrics

__all__ = ["make_cross_survey", "transfer_metrics", "real_transfer_dataset",
           "APOGEE_NAMES", "GALAH_NAMES"]

APOGEE_NAMES = ("TEFF", "LOGG", "FE_H", "MG_FE")
GALAH_NAMES = ("TEFF", "FE_H", "MG_FE", "EU_FE")


def make_cross_survey(n: int = 600, n_pixels: int = 80, galah_fraction: float = 0.5,
                      apogee_missing: float = 0.05, galah_missing: float = 0.1,
                      snr: float = 100.0, eu_scatter: float = 0.03,
                      seed: int = 0) -> Dataset:
    """A synthetic two-survey dataset with known truth.

    True stellar parameters (Teff, logg, [Fe/H], [Mg/Fe]) of red giants follow
    correlated relations; the spectrum (``n_pixels``) is linear in them plus noise
    (``snr``); the APOGEE-like labels are noisy versions with ``apogee_missing``
    entries missing. A random ``galah_fraction`` of the objects also have GALAH-like
    labels (Teff with a +40 K zero-point offset, [Fe/H], [Mg/Fe], and
    ``EU_FE = 0.1 + 0.8 [Mg/Fe] + N(0, eu_scatter)``) with their own noise and
    ``galah_missing`` missing entries; the others have no GALAH labels at all.
    [Eu/Fe] leaves no trace in the spectrum: only its correlation with [Mg/Fe] can
    be learned. ``extras``: ``label_true`` (N, 4), ``galah_true`` (N, 4), ``snr``.
    """
    rng = np.random.default_rng(seed)
    feh = np.clip(rng.normal(-0.2, 0.3, n), -1.2, 0.45)
    logg = rng.uniform(1.2, 3.4, n)
    teff = 4300 + 330 * (logg - 2.0) - 250 * feh + rng.normal(0, 60, n)
    mgfe = np.clip(0.05 - 0.25 * feh + rng.normal(0, 0.05, n), -0.15, 0.45)
    eufe = 0.1 + 0.8 * mgfe + rng.normal(0, eu_scatter, n)
    x = np.stack([(teff - 4500) / 300, (logg - 2.3) / 0.6, (feh + 0.2) / 0.3,
                  (mgfe - 0.1) / 0.1], 1)
    # the "physics" (how labels shape the spectrum) is the same for every seed
    phys = np.random.default_rng(20250101 + n_pixels)
    basis = phys.normal(size=(4, n_pixels)) * np.array([0.05, 0.03, 0.04, 0.02])[:, None]
    cross = phys.normal(size=(1, n_pixels))
    clean = 0.9 + x @ basis + 0.01 * (x[:, :1] * x[:, 2:3]) @ cross
    err = np.full((n, n_pixels), 1.0 / snr)
    flux = clean + rng.normal(size=clean.shape) * err

    apo_true = np.stack([teff, logg, feh, mgfe], 1)
    apo_err = np.array([40.0, 0.06, 0.02, 0.02])[None, :] * rng.uniform(0.8, 1.3, (n, 4))
    apo = apo_true + rng.normal(size=apo_true.shape) * apo_err
    apo[rng.random(apo.shape) < apogee_missing] = np.nan

    gal_true = np.stack([teff + 40.0, feh, mgfe, eufe], 1)
    gal_err = np.array([80.0, 0.05, 0.04, 0.04])[None, :] * rng.uniform(0.8, 1.3, (n, 4))
    gal = gal_true + rng.normal(size=gal_true.shape) * gal_err
    gal[rng.random(gal.shape) < galah_missing] = np.nan
    gal[rng.random(n) >= galah_fraction] = np.nan

    outputs = {
        "flux": Output.create(flux, err, kind="spectrum", label="flux",
                              wavelength=np.linspace(15200.0, 16900.0, n_pixels)),
        "label": Output.create(apo, apo_err, kind="label", names=APOGEE_NAMES, label="label"),
        "galah": Output.create(gal, gal_err, kind="label", names=GALAH_NAMES, label="galah"),
    }
    return Dataset(outputs=outputs, ids=np.array([f"xs-{seed}-{i:05d}" for i in range(n)]),
                   extras={"label_true": apo_true, "galah_true": gal_true,
                           "snr": np.full(n, snr)})


def transfer_metrics(model, test: Dataset, target: str = "galah",
                     inputs: Sequence[str] = ("flux",), reference: np.ndarray | None = None,
                     ) -> list[dict]:
    """Bias / RMSE / mean error of ``target`` labels predicted from ``inputs``.

    The reference is ``reference`` (N, M) if given (e.g. the truth), else the observed
    ``test[target]`` values (missing entries skipped). Each row also has
    ``pop_std`` — the scatter of the reference values themselves, i.e. the RMSE of
    always guessing the mean — and ``rmse_over_pop`` (< 1 means the inputs carry
    information about that label).
    """
    pred = model.predict(test, inputs=list(inputs), outputs=[target])
    names = model.specs[target].names
    if reference is None:
        if target not in test:
            raise DataError(f"no reference: the test data have no {target!r} output")
        o = test[target].select(names)
        reference = np.where(o.missing, np.nan, o.values)
        ref_err = np.where(o.missing, np.nan, o.errors)
    else:
        ref_err = None
    rows = label_metrics(pred[target].values, pred[target].errors, reference, names,
                         reference_err=ref_err)
    for j, row in enumerate(rows):
        v = reference[:, j][np.isfinite(reference[:, j])]
        row["pop_std"] = float(np.std(v)) if v.size else np.nan
        row["rmse_over_pop"] = row["rmse"] / row["pop_std"] if row["pop_std"] else np.nan
    return rows


def real_transfer_dataset(apogee_path: str, galah_path: str,
                          apogee_labels: Sequence[str] = ("TEFF", "LOGG", "FE_H", "MG_FE"),
                          galah_labels: Sequence[str] = ("teff", "logg", "fe_h", "Mg_fe",
                                                         "Eu_fe", "Ba_fe"),
                          ) -> tuple[Dataset, np.ndarray]:
    """APOGEE DR17 and GALAH DR3 label tables as one two-output dataset.

    Every star of either table is one object (joined on Gaia DR3 ``source_id``):
    output ``label`` holds the APOGEE labels (missing for GALAH-only stars) and
    ``galah`` the GALAH labels (missing for APOGEE-only stars). Returns the dataset
    and the (K,) indices of the stars in both tables (12 for the shared tables).
    """
    from ..io.catalogs import read_allstar, read_galah_dr3
    from ..io.crossmatch import crossmatch

    apo = read_allstar(apogee_path, list(apogee_labels))
    gal = read_galah_dr3(galah_path, list(galah_labels))
    key = "gaia_source_id"
    if key not in apo.ids or key not in gal.ids:
        raise DataError("both tables need Gaia DR3 source ids to be joined")
    m = crossmatch(apo.ids[key], gal.ids[key], key=key, left_name=apogee_path,
                   right_name=galah_path, on_duplicate="first")
    gal_only = np.setdiff1d(np.arange(gal.n), m.right)
    n_apo, n = apo.n, apo.n + gal_only.size

    def block(out: Output, rows_dst: np.ndarray, rows_src: np.ndarray, name: str) -> Output:
        v = np.full((n, out.dim), np.nan)
        e = np.full((n, out.dim), np.nan)
        v[rows_dst] = np.where(out.missing[rows_src], np.nan, out.values[rows_src])
        e[rows_dst] = out.errors[rows_src]
        return Output.create(v, e, kind="label", names=out.names, label=name)

    apo_rows = np.arange(n_apo)
    gal_dst = np.r_[m.left, n_apo + np.arange(gal_only.size)]
    gal_src = np.r_[m.right, gal_only]
    outputs = {"label": block(apo.output, apo_rows, apo_rows, "label"),
               "galah": block(gal.output, gal_dst, gal_src, "galah")}
    gaia = np.r_[apo.ids[key], gal.ids[key][gal_only]]
    ids = np.r_[apo.ids.get("apogee_id", np.full(n_apo, "")).astype(str),
                gal.ids.get("apogee_id", np.full(gal.n, "")).astype(str)[gal_only]]
    ids = np.array([s if s else f"gaia{g}" for s, g in zip(ids, gaia, strict=True)])
    ds = Dataset(outputs=outputs, ids=ids, extras={"gaia_source_id": gaia})
    return ds, np.asarray(m.left, dtype=int)
