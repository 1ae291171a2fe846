"""Wavelength masking: restrict which pixels may inform which label (paper §5).

A trained Lux model infers one latent vector per object from the whole spectrum, so
every label can draw on every pixel, including pixels that only correlate with it.
To limit a label to particular regions (e.g. the ASPCAP windows of its element), the
latents used for that label are inferred from its allowed pixels only — every other
pixel gets weight exactly zero — with the model's latent prior, and the label is then
predicted from those latents. Its derivative spectrum (:mod:`starlux.evaluate.
derivatives`) is then exactly zero outside the allowed pixels. No retraining is
needed; labels without a mask are predicted from the whole spectrum as usual.

ASPCAP DR17 window files (``<El>.filt`` / ``<El>.mask`` with one weight per pixel of
the 7514-pixel grid in ``wave.dat``) are read by :func:`read_aspcap_windows` and put
on any wavelength grid by :meth:`ElementWindows.on_grid`; :func:`label_element`
maps label names like ``MG_FE``, ``Mg_fe``, ``X_H`` or ``TIII_FE`` to window names.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .data import DataError, Dataset

__all__ = ["ElementWindows", "read_aspcap_windows", "label_element", "label_masks",
           "predict_masked"]


@dataclass(frozen=True)
class ElementWindows:
    """Per-element pixel weights on one wavelength grid.

    Attributes:
        wavelength: (K,) vacuum wavelengths in Angstrom of the windows' grid.
        weights: element name (``"Mg"``, ``"TiII"`` ...) -> (K,) weight >= 0; a pixel
            belongs to the element's windows where the weight exceeds a threshold.
        source: where they were read from.
    """

    wavelength: np.ndarray
    weights: Mapping[str, np.ndarray]
    source: str = ""

    @property
    def elements(self) -> list[str]:
        return list(self.weights)

    def on_grid(self, wavelength: np.ndarray, threshold: float = 0.0,
                elements: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """(Lambda,) boolean window masks on another wavelength grid.

        Each target pixel takes the weight of the nearest window-grid pixel (in
        ln wavelength) and is in the window if that weight exceeds ``threshold``;
        target pixels more than half a window-grid pixel from any window-grid pixel
        (e.g. in chip gaps absent from the windows' grid) are outside every window.
        """
        wl = np.asarray(wavelength, dtype=float).ravel()
        src = np.log(self.wavelength)
        order = np.argsort(src)
        src = src[order]
        t = np.log(wl)
        j = np.clip(np.searchsorted(src, t), 1, len(src) - 1)
        left_closer = (t - src[j - 1]) < (src[j] - t)
        nearest = np.where(left_closer, j - 1, j)
        spacing = np.diff(src)
        local = np.r_[spacing[0], np.minimum(spacing[:-1], spacing[1:]), spacing[-1]]
        close = np.abs(t - src[nearest]) <= 0.5 * local[nearest] * 1.0001
        names = list(elements) if elements is not None else self.elements
        out = {}
        for el in names:
            if el not in self.weights:
                raise DataError(f"no window for element {el!r}; have {self.elements}")
            w = np.asarray(self.weights[el])[order]
            out[el] = close & (w[nearest] > threshold)
        return out


def read_aspcap_windows(path: str | os.PathLike, kind: str = "filt",
                        elements: Sequence[str] | None = None) -> ElementWindows:
    """Read ASPCAP element windows: ``wave.dat`` plus ``<El>.<kind>`` files.

    Args:
        path: the folder (e.g. ``apogee-masks-windows/aspcap_dr17_windows``).
        kind: ``"filt"`` (the smooth window weights used for the abundance fits) or
            ``"mask"``.
        elements: which elements (default: every ``<El>.<kind>`` in the folder).
    """
    path = Path(path)
    wave_file = path / "wave.dat"
    if not wave_file.is_file():
        raise DataError(f"{path}: no wave.dat (the windows' wavelength grid) found")
    try:
        wave = np.loadtxt(wave_file, usecols=0, ndmin=1)
    except ValueError as exc:
        raise DataError(f"{wave_file}: not a wavelength table ({exc})") from None
    if elements is None:
        elements = sorted(p.stem for p in path.glob(f"*.{kind}"))
    if not elements:
        raise DataError(f"{path}: no *.{kind} window files")
    weights = {}
    for el in elements:
        f = path / f"{el}.{kind}"
        if not f.is_file():
            raise DataError(f"{path}: no window file {f.name}")
        try:
            w = np.loadtxt(f, ndmin=1)
        except ValueError as exc:
            raise DataError(f"{f}: not a window-weight file ({exc})") from None
        if w.shape != wave.shape:
            raise DataError(f"{f}: {w.size} weights for {wave.size} pixels in wave.dat")
        weights[el] = w
    return ElementWindows(wavelength=wave, weights=weights, source=str(path))


def label_element(name: str, available: Iterable[str]) -> str | None:
    """The window element of a label name, or None.

    ``MG_FE``, ``Mg_fe``, ``mg_h``, ``MGFE`` -> ``"Mg"``; ``FE_H``/``M_H`` -> ``"Fe"``;
    ``TIII_FE`` -> ``"TiII"``; ``C_FE`` -> ``"C"``. Stellar parameters (TEFF, LOGG,
    VMICRO ...) and elements without a window give None. Matching is case-insensitive
    against ``available``.
    """
    avail = {a.lower(): a for a in available}
    s = name.strip()
    low = s.lower()
    if low in ("fe_h", "m_h", "feh", "mh", "param_m_h", "x_h_fe"):
        return avail.get("fe")
    for suffix in ("_fe", "_h", "_m", "fe"):
        if low.endswith(suffix) and len(low) > len(suffix):
            el = low[: -len(suffix)].rstrip("_")
            if el.startswith("x_"):
                el = el[2:]
            if el in avail:
                return avail[el]
    return None


def label_masks(names: Sequence[str], windows: ElementWindows, wavelength: np.ndarray,
                threshold: float = 0.0) -> dict[str, np.ndarray]:
    """Per label name with an element window, its (Lambda,) pixel mask on
    ``wavelength``; labels without a window (TEFF, LOGG ...) are left out."""
    out = {}
    for name in names:
        el = label_element(name, windows.elements)
        if el is None:
            continue
        m = windows.on_grid(wavelength, threshold, [el])[el]
        if m.any():
            out[name] = m
    return out


def predict_masked(model, dataset: Dataset, masks: Mapping[str, np.ndarray],
                   label_output: str = "label", flux_output: str = "flux",
                   prior: str | None = None, chunk_size: int | None = None):
    """Predict labels from spectra, each masked label from its allowed pixels only.

    Labels without a mask come from :func:`starlux.infer.predict` on the whole
    spectrum. For each masked label, the latents are re-inferred with weight zero
    outside its mask (same prior) and the label and its Fisher error are predicted
    from them; the model-error term learned for full-spectrum inference is kept.

    Returns a :class:`starlux.infer.Prediction` whose ``label_output`` block holds the
    masked predictions; ``extras["masked_labels"]`` lists the labels re-inferred and
    ``extras["masked_z"]`` their latents.
    """
    import jax
    import jax.numpy as jnp

    from .latents import prior_terms, solve_latents
    from .units import effective_weights, prepare_output

    spec = model.specs[label_output]
    unknown = [k for k in masks if k not in spec.names]
    if unknown:
        raise DataError(f"masks for unknown label(s) {unknown}; labels are {list(spec.names)}")
    pred = model.predict(dataset, inputs=[flux_output], outputs=[label_output], prior=prior,
                         chunk_size=chunk_size)
    prep = prepare_output(dataset[flux_output], model.specs[flux_output])
    ln_s = model.ln_scatter.get(flux_output)
    w = prep.ivar if ln_s is None else effective_weights(prep.ivar, ln_s)
    prec, mean = prior_terms(model, prior)
    params = {k: jax.tree_util.tree_map(jnp.asarray, p) for k, p in model.params.items()}
    transforms = {k: sp.transform for k, sp in model.specs.items()}
    out = pred[label_output]
    values, ferr = out.values.copy(), out.fisher_errors.copy()
    merr = None if out.map_errors is None else out.map_errors.copy()
    map_cov = model.map_cov.get(label_output)
    cov = None if out.cov is None else out.cov.copy()
    zs = {}
    for name, mask in masks.items():
        keep = np.asarray(mask, dtype=bool)
        if keep.shape != (model.specs[flux_output].dim,):
            raise DataError(f"mask for {name} has shape {keep.shape}, expected "
                            f"({model.specs[flux_output].dim},)")
        wm = jnp.where(jnp.asarray(keep)[None, :], w, 0.0)
        z, zc, _ = solve_latents(transforms, params, {flux_output: (prep.y, wm)}, prec, mean,
                                 chunk_size=chunk_size or model.config.chunk_size,
                                 want_cov=True)
        z, zc = np.asarray(z), np.asarray(zc)
        j = spec.names.index(name)
        tr, pa = spec.transform, params[label_output]
        values[:, j] = np.asarray(tr.apply(pa, z))[:, j] * spec.scale[j] + spec.center[j]
        var = np.asarray(tr.propagate(pa, jnp.asarray(z), jnp.asarray(zc)))[:, j]
        c2 = float(model.error_scale.get(label_output, 1.0)) ** 2  # calibrated scale
        var = var * spec.scale[j] ** 2 * c2
        ferr[:, j] = np.sqrt(np.maximum(var, 0.0))
        map_var = 0.0
        if merr is not None and map_cov is not None:
            map_var = tr.param_variance(pa, map_cov, z)[:, j]
            map_var = map_var * spec.scale[j] ** 2 * c2
            merr[:, j] = np.sqrt(map_var)
        if cov is not None:  # correlations with other labels are not tracked
            cov[:, j, :] = 0.0
            cov[:, :, j] = 0.0
            cov[:, j, j] = var + map_var + out.model_error[:, j] ** 2
        zs[name] = z
    mvar = 0.0 if merr is None else merr**2
    errors = np.sqrt(ferr**2 + mvar + out.model_error**2)
    pred.outputs[label_output] = replace(out, values=values, errors=errors,
                                         fisher_errors=ferr, map_errors=merr, cov=cov)
    pred.extras["masked_labels"] = list(masks)
    pred.extras["masked_z"] = zs
    return pred
