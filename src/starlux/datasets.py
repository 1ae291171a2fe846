"""Data sets by name: the data that ship inside the package (see
``sample_data/ATTRIBUTION.md``), so that examples and tests need no download.

* :func:`load_apogee671`: 671 real APOGEE giants, 100 pixels, TEFF / LOGG / PARAM_M_H
  (AnniesLasso test set, MIT).
* :func:`make_emulated`: a training and a test set of APOGEE-like spectra (7214
  pixels, five labels) generated from the binspec_plus spectral emulator (MIT), with
  the true labels kept in ``extras["label_true"]``;
  :func:`make_emulated_apogee` makes one such set.
"""

from __future__ import annotations

import contextlib
from importlib import resources

import numpy as np

from .data import Dataset

__all__ = ["load_apogee671", "make_emulated", "make_emulated_apogee", "emulate_apogee_spectra",
           "APOGEE_671_LABEL_ERRORS", "EMULATED_LABEL_NAMES"]

APOGEE_671_LABEL_ERRORS = np.array([50.0, 0.05, 0.03])
"""Assumed 1-sigma label errors for the 671-star set (K, dex, dex): it ships none."""

EMULATED_LABEL_NAMES = ("TEFF", "LOGG", "FE_H", "MG_FE", "VMACRO")
_EMULATED_ERRORS = np.array([50.0, 0.05, 0.02, 0.02, 0.5])


@contextlib.contextmanager
def _open(name: str):
    """The arrays of a shipped ``.npz`` file; the file is closed on exit."""
    with resources.files("starlux").joinpath("sample_data", name).open("rb") as fh, \
            np.load(fh) as arrays:
        yield arrays


def load_apogee671() -> Dataset:
    """The 671-star real APOGEE set (100 normalised pixels; labels with assumed errors).

    The pixels' wavelengths are not known, so the flux output has no wavelength grid.
    """
    with _open("apogee_671.npz") as f:
        label = f["label"]
        return Dataset.from_arrays(
            flux=f["flux"], flux_err=f["flux_err"], label=label,
            label_err=np.broadcast_to(APOGEE_671_LABEL_ERRORS, label.shape).copy(),
            label_names=[str(s) for s in f["label_names"]],
            ids=np.array([f"apogee671-{i:03d}" for i in range(len(label))]),
        )


def emulate_apogee_spectra(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free normalised spectra (N, 7214) for labels (N, 5), and the wavelengths."""
    with _open("binspec_plus_2019_normalized.npz") as nn:
        s = (labels - nn["x_min"]) / (nn["x_max"] - nn["x_min"]) - 0.5
        h = np.einsum("pjk,nk->npj", nn["w_array_0"], s) + nn["b_array_0"][None]
        h = 1.0 / (1.0 + np.exp(-h))
        flux = np.einsum("pj,npj->np", nn["w_array_1"], h) + nn["b_array_1"][None]
        return flux, nn["wavelength"]


def make_emulated(n_train: int = 600, n_test: int = 200, seed: int = 0,
                  snr: tuple[float, float] = (50.0, 200.0)) -> tuple[Dataset, Dataset]:
    """A training and a test set from the binspec_plus emulator, with known truth.

    The training set has 5 % of its label entries missing (as catalogues do); the
    test set has every label (to compare against). Both draw SNR uniformly in ``snr``
    and keep the true labels in ``extras["label_true"]`` (N, 5) and the SNR in
    ``extras["snr"]``. The two sets come from independent random streams of ``seed``.

    Returns:
        (train, test) :class:`~starlux.data.Dataset` objects.
    """
    s_train, s_test = np.random.SeedSequence(seed).spawn(2)
    train = make_emulated_apogee(n_train, snr=snr, seed=s_train, id_prefix=f"emu{seed}-train")
    test = make_emulated_apogee(n_test, snr=snr, missing=0.0, seed=s_test,
                                id_prefix=f"emu{seed}-test")
    return train, test


def make_emulated_apogee(n: int = 1000, snr: tuple[float, float] = (50.0, 200.0),
                         missing: float = 0.05, bad_pixels: float = 0.01,
                         seed: int | np.random.SeedSequence = 0,
                         id_prefix: str | None = None) -> Dataset:
    """An APOGEE-like dataset from the binspec_plus emulator with known truth.

    Giants (70 %) and dwarfs (30 %) inside the emulator's range; Gaussian flux noise at
    a per-star SNR drawn uniformly in ``snr``; a fraction ``bad_pixels`` of pixels
    encoded as flux 1 with error 9999 (paper §2.1); noisy labels with per-star errors and
    a fraction ``missing`` of label entries set to NaN. ``extras`` hold ``label_true``
    (N, 5) and ``snr`` (N,). Ids are ``<id_prefix>-<index>`` (default ``emu-<seed>``).
    """
    rng = np.random.default_rng(seed)
    giant = rng.random(n) < 0.7
    feh = np.clip(rng.normal(-0.15, 0.25, n), -0.85, 0.35)
    logg = np.where(giant, rng.uniform(1.4, 3.5, n), rng.uniform(3.9, 4.6, n))
    teff = np.where(giant, 4300 + 330 * (logg - 2.0) - 250 * feh, 4300 + 1200 * (logg - 3.9))
    teff = np.clip(teff + rng.normal(0, 90, n), 3950, 6400)
    mgfe = np.clip(np.where(feh < -0.4, 0.25, 0.05 - 0.2 * feh) + rng.normal(0, 0.04, n),
                   -0.2, 0.4)
    vmac = np.clip(np.where(giant, 6 + rng.normal(0, 1.5, n), 3 + rng.normal(0, 1.0, n)),
                   0.5, 15)
    truth = np.stack([teff, logg, feh, mgfe, vmac], 1)
    clean, wl = emulate_apogee_spectra(truth)
    s = rng.uniform(*snr, n)
    err = np.sqrt(np.clip(clean, 0.05, None)) / s[:, None]
    flux = clean + rng.normal(size=clean.shape) * err
    bad = rng.random(flux.shape) < bad_pixels
    flux[bad], err[bad] = 1.0, 9999.0
    lerr = _EMULATED_ERRORS[None, :] * rng.uniform(0.7, 1.4, truth.shape)
    label = truth + rng.normal(size=truth.shape) * lerr
    label[rng.random(label.shape) < missing] = np.nan
    return Dataset.from_arrays(
        flux=flux, flux_err=err, label=label, label_err=lerr,
        label_names=list(EMULATED_LABEL_NAMES), wavelength=wl,
        ids=np.array([f"{id_prefix or f'emu-{seed}'}-{i:05d}" for i in range(n)]),
        label_true=truth, snr=s,
    )
