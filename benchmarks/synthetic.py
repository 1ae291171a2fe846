"""Synthetic APOGEE-sized data for the benchmarks: a random bilinear Lux model.

``truth = make_truth(...)`` draws label and flux maps (``A`` (M, P), ``B`` (L, P)),
extra pixel scatter and a latent distribution; :func:`make_dataset` draws objects from it
(realistic per-object S/N, per-pixel error structure, 1 % bad pixels, 5 % missing
labels) and :func:`truth_model` wraps the true maps as a :class:`starlux.model.LuxModel`
so prediction can be timed without training first. Objects are generated block by
block from per-block seeds, so any N can be produced without holding it in memory, and
block ``i`` is the same whatever N is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from starlux import Dataset
from starlux.model import Lux, LuxModel, OutputSpec

LABEL_NAMES = ("TEFF", "LOGG", "FE_H", "C_FE", "N_FE", "O_FE", "MG_FE", "AL_FE", "SI_FE",
               "CA_FE", "MN_FE", "NI_FE")
_CENTER = np.array([4700.0, 2.6, -0.2] + [0.05] * 9)
_SCALE = np.array([300.0, 0.7, 0.3] + [0.1] * 9)
_LABEL_ERR = np.array([40.0, 0.06, 0.02] + [0.03] * 9)


@dataclass
class Truth:
    a: np.ndarray  # (M, P) label map in rescaled label units
    b: np.ndarray  # (L, P) flux map
    scatter: np.ndarray  # (L,) extra pixel scatter
    wavelength: np.ndarray
    n_latents: int
    seed: int

    @property
    def n_labels(self) -> int:
        return self.a.shape[0]

    @property
    def n_pixels(self) -> int:
        return self.b.shape[0]


def make_truth(n_pixels: int = 7514, n_labels: int = 12, n_latents: int = 48,
               seed: int = 0) -> Truth:
    rng = np.random.default_rng(seed)
    p = n_latents
    # labels depend on the leading latents; later latents carry progressively less
    decay = 1.0 / (1.0 + np.arange(p - 1)) ** 0.7
    a = np.zeros((n_labels, p))
    a[:, 1:] = rng.normal(size=(n_labels, p - 1)) * decay * 0.5
    a[np.arange(n_labels), 1 + np.arange(n_labels)] += 1.0
    b = np.empty((n_pixels, p))
    b[:, 0] = 1.0 - 0.1 * rng.random(n_pixels)  # continuum level with shallow lines
    b[:, 1:] = 0.03 * rng.normal(size=(n_pixels, p - 1)) * decay
    scatter = np.exp(rng.normal(-5.5, 0.5, n_pixels))
    wavelength = np.geomspace(15140.0, 16960.0, n_pixels)
    return Truth(a=a, b=b, scatter=scatter, wavelength=wavelength, n_latents=p, seed=seed)


def _latents(rng: np.random.Generator, n: int, p: int) -> np.ndarray:
    return np.concatenate([np.ones((n, 1)), rng.normal(size=(n, p - 1))], axis=1)


def make_arrays(truth: Truth, n: int, seed: int, *, labels: bool = True,
                dtype: type = np.float32) -> dict[str, np.ndarray]:
    """One block of ``n`` objects in the starlux dataset layout (float32 by default)."""
    rng = np.random.default_rng([truth.seed, seed])
    z = _latents(rng, n, truth.n_latents)
    snr = rng.uniform(50.0, 300.0, n)
    pix_err = 1.0 + 0.5 * rng.random(truth.n_pixels)  # per-pixel error structure
    err = pix_err[None, :] / snr[:, None]
    flux = z @ truth.b.T + rng.normal(size=err.shape) * np.sqrt(err**2 + truth.scatter**2)
    bad = rng.random(flux.shape) < 0.01
    flux[bad] = 1.0
    err[bad] = 9999.0
    out = {"flux": flux.astype(dtype), "flux_err": err.astype(dtype),
           "wavelength": truth.wavelength, "id": np.arange(seed * 10**7, seed * 10**7 + n)}
    if labels:
        lab_true = (z @ truth.a.T) * _SCALE[:truth.n_labels] + _CENTER[:truth.n_labels]
        lerr = np.broadcast_to(_LABEL_ERR[:truth.n_labels], lab_true.shape).copy()
        lab = lab_true + rng.normal(size=lab_true.shape) * lerr
        lab[rng.random(lab.shape) < 0.05] = np.nan
        out.update(label=lab, label_err=lerr, label_names=np.array(LABEL_NAMES[:truth.n_labels]),
                   label_true=lab_true)
    return out


def make_dataset(truth: Truth, n: int, seed: int = 1, labels: bool = True) -> Dataset:
    a = make_arrays(truth, n, seed, labels=labels, dtype=np.float64)
    kw = dict(flux=a["flux"], flux_err=a["flux_err"], wavelength=a["wavelength"], ids=a["id"])
    if labels:
        kw.update(label=a["label"], label_err=a["label_err"], label_names=a["label_names"])
    return Dataset.from_arrays(**kw)


def truth_model(truth: Truth) -> LuxModel:
    """The generating model as a :class:`LuxModel` (for timing prediction)."""
    m, p = truth.n_labels, truth.n_latents
    names = LABEL_NAMES[:m]
    specs = {
        "label": OutputSpec(name="label", kind="label", names=names, wavelength=None,
                            center=_CENTER[:m].copy(), scale=_SCALE[:m].copy()),
        "flux": OutputSpec(name="flux", kind="spectrum",
                           names=tuple(str(i) for i in range(truth.n_pixels)),
                           wavelength=truth.wavelength, center=np.zeros(truth.n_pixels),
                           scale=np.ones(truth.n_pixels), has_scatter=True),
    }
    rng = np.random.default_rng([truth.seed, 10**6])
    z = _latents(rng, 2000, p)
    cov = np.cov(z, rowvar=False) + 1e-6 * np.eye(p)
    return LuxModel(
        config=Lux(latents=p, progress=False), specs=specs,
        params={"label": {"W": truth.a.copy()}, "flux": {"W": truth.b.copy()}},
        ln_scatter={"flux": np.log(truth.scatter)}, z_train=z, prior_mean=z.mean(0),
        prior_cov=cov, model_error={"label": 0.01 * _LABEL_ERR[:m]})


def write_h5(path: str, truth: Truth, n: int, block: int = 1024, first_seed: int = 1,
             progress: bool = False) -> None:
    """Write ``n`` objects to an uncompressed, row-chunked ``.h5`` dataset file, float32
    flux and errors as surveys ship them, generated ``block`` objects at a time (memory
    bounded by the block). Block ``i`` uses seed ``first_seed + i``."""
    import h5py
    from tqdm.auto import tqdm

    lpix, m = truth.n_pixels, truth.n_labels
    with h5py.File(path, "w") as f:
        rows = (128, lpix)
        f.create_dataset("flux", (n, lpix), dtype="f4", chunks=rows)
        f.create_dataset("flux_err", (n, lpix), dtype="f4", chunks=rows)
        f.create_dataset("label_true", (n, m), dtype="f8")
        f.create_dataset("id", (n,), dtype="i8")
        f.create_dataset("wavelength", data=truth.wavelength)
        for i, a in enumerate(tqdm(range(0, n, block), disable=not progress, desc="write")):
            b = min(n, a + block)
            arr = make_arrays(truth, b - a, first_seed + i)
            for k in ("flux", "flux_err", "label_true"):
                f[k][a:b] = arr[k]
            f["id"][a:b] = np.arange(a, b)


def write_repeated_h5(path: str, base: str, n: int) -> None:
    """An ``.h5`` file of ``n`` objects whose per-object arrays are HDF5 virtual datasets
    repeating the rows of ``base`` (so N = 10^6 needs the disk space of ``base`` only);
    ids are real and distinct."""
    import h5py

    with h5py.File(base, "r") as fb:
        nb = fb["flux"].shape[0]
        shapes = {k: (fb[k].shape[1:], fb[k].dtype) for k in ("flux", "flux_err",
                                                                "label_true")}
        wavelength = fb["wavelength"][()]
    with h5py.File(path, "w") as f:
        for k, (tail, dtype) in shapes.items():
            layout = h5py.VirtualLayout(shape=(n, *tail), dtype=dtype)
            src = h5py.VirtualSource(base, k, shape=(nb, *tail))
            for a in range(0, n, nb):
                b = min(n, a + nb)
                layout[a:b] = src[0:b - a]
            f.create_virtual_dataset(k, layout)
        f.create_dataset("wavelength", data=wavelength)
        f.create_dataset("id", data=np.arange(n, dtype=np.int64))
