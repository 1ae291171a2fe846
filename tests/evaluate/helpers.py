"""Small simulated data for the evaluate tests."""

from __future__ import annotations

import numpy as np

from starlux import Dataset


def make_latent(n: int = 150, m: int = 2, p: int = 6, d: int = 30, noise: float = 0.01,
                label_noise: float = 0.02, seed: int = 0,
                wavelength: np.ndarray | None = None) -> Dataset:
    """Bilinear data with a known latent size: z = [1, x] with x ~ N(0, I_{p-1});
    labels = A z (+ noise), flux = B z (+ noise). With m = 2 and p = 6 the spectra
    depend on 5 latent directions but the labels on 2."""
    rng = np.random.default_rng(seed)
    z = np.concatenate([np.ones((n, 1)), rng.normal(size=(n, p - 1))], axis=1)
    phys = np.random.default_rng(1000 + p)  # same maps for every seed
    a = phys.normal(size=(m, p))
    b = 0.05 * phys.normal(size=(d, p))
    b[:, 0] = 1.0
    lab, flux = z @ a.T, z @ b.T
    lerr = np.full((n, m), label_noise)
    ferr = np.full((n, d), noise)
    names = ["TEFF", "LOGG", "FE_H", "MG_FE"][:m]
    wl = np.linspace(15600.0, 15900.0, d) if wavelength is None else wavelength
    return Dataset.from_arrays(flux=flux + rng.normal(size=flux.shape) * ferr, flux_err=ferr,
                               label=lab + rng.normal(size=lab.shape) * lerr, label_err=lerr,
                               label_names=names, wavelength=wl,
                               ids=np.array([f"s{seed}-{i:04d}" for i in range(n)]))


def write_windows(folder, wavelength: np.ndarray, windows: dict[str, np.ndarray]) -> None:
    """A fake ASPCAP window folder: wave.dat (wavelength, pixel) and <El>.filt."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "wave.dat", "w") as fh:
        for i, w in enumerate(wavelength):
            fh.write(f"  {w:14.3f}  {i + 245:6d}\n")
    for el, weights in windows.items():
        np.savetxt(folder / f"{el}.filt", np.asarray(weights, float), fmt="%12.8f")
