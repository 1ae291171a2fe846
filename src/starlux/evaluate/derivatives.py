"""Derivative spectra: how each predicted label responds to the flux (paper eq. 13, Fig. 6).

With linear transforms, labels are predicted from a spectrum f as l = c + S A z(f),
with S = diag(label scales), c the label centres, and z(f) the latents inferred from
the spectrum. For any other transform, A and B are the transforms' Jacobians at the
mean training latent (the local derivative there). Two versions of d l / d f (an
(M, Lambda) matrix) are available:

* ``method="pinv"`` — the paper's eq. 13, ``S A B^+`` with B^+ the Moore–Penrose
  pseudo-inverse of B (unweighted, no prior);
* ``method="weighted"`` — the exact Jacobian of the inference map that
  :func:`starlux.infer.predict` applies,
  ``S A (B^T W B + Lambda)^-1 B^T W`` with W = diag(1 / (sigma^2 + s^2)) the
  per-pixel weights (zero for missing pixels) and Lambda the latent prior precision.
  It equals eq. 13 when W is uniform and the prior vanishes.

With per-label pixel masks (:mod:`starlux.masking`), the row of a masked label uses
only its window pixels (zero weight elsewhere), so it is exactly zero outside them.
All derivatives are in natural label units per unit (normalised) flux.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np

from ..data import DataError, Dataset
from ..latents import prior_terms
from ..model import LuxModel
from ..units import effective_weights, prepare_output

__all__ = ["derivative_spectra", "object_weights", "inference_jacobian"]


def _jacobian(model: LuxModel, output: str) -> np.ndarray:
    """(D, P) d output / d z of one output at the mean training latent (model units)."""
    if output not in model.specs:
        raise DataError(f"model has no output {output!r}; it has {model.output_names}")
    z = jnp.asarray(model.prior_mean)[None, :]
    params = {k: jnp.asarray(v) for k, v in model.params[output].items()}
    return np.asarray(model.specs[output].transform.jacobian(params, z))[0]


def object_weights(model: LuxModel, dataset: Dataset, index: int,
                   flux_output: str = "flux") -> np.ndarray:
    """(Lambda,) inference weights 1 / (sigma^2 + s^2) of one object, 0 where missing,
    in model units (the W of :func:`inference_jacobian`)."""
    o = dataset[flux_output].take(np.array([index]))
    prep = prepare_output(o, model.specs[flux_output])
    ln_s = model.ln_scatter.get(flux_output)
    w = prep.ivar if ln_s is None else effective_weights(prep.ivar, ln_s)
    return np.asarray(w)[0]


def inference_jacobian(model: LuxModel, weights: np.ndarray, flux_output: str = "flux",
                       prior: str | None = None) -> np.ndarray:
    """(P, Lambda) d z / d f of the inference map, ``(B^T W B + Lambda)^-1 B^T W``, in
    model units, for pixel weights ``weights`` (Lambda,)."""
    b = _jacobian(model, flux_output)
    w = np.asarray(weights, dtype=float)
    if w.shape != (b.shape[0],):
        raise DataError(f"weights have shape {w.shape}, expected ({b.shape[0]},)")
    prec, _ = prior_terms(model, prior)
    h = (b * w[:, None]).T @ b + np.asarray(prec)
    return np.linalg.solve(h, b.T * w[None, :])


def derivative_spectra(
    model: LuxModel,
    label_output: str = "label",
    flux_output: str = "flux",
    *,
    method: str = "pinv",
    weights: np.ndarray | None = None,
    dataset: Dataset | None = None,
    index: int = 0,
    prior: str | None = None,
    masks: Mapping[str, np.ndarray] | None = None,
    rcond: float = 1e-12,
) -> np.ndarray:
    """(M, Lambda) d label / d flux for every label of ``label_output``.

    Args:
        method: ``"pinv"`` (eq. 13, S A B^+) or ``"weighted"`` (the exact Jacobian of
            the inference map, for pixel weights W and the latent prior).
        weights: (Lambda,) pixel weights for ``"weighted"`` (model units, zero =
            missing). Default: those of object ``index`` of ``dataset`` if given
            (:func:`object_weights`), else uniform weights.
        prior: latent prior for ``"weighted"`` (default the model's).
        masks: per label name, (Lambda,) bool pixels allowed to inform that label;
            the label's row is computed from those pixels only and is zero elsewhere.
        rcond: relative cut-off of small singular values in the pseudo-inverse.
    """
    if method not in ("pinv", "weighted"):
        raise ValueError(f"unknown method {method!r}; use 'pinv' or 'weighted'")
    a, b = _jacobian(model, label_output), _jacobian(model, flux_output)
    lspec, fspec = model.specs[label_output], model.specs[flux_output]
    n_pix = b.shape[0]
    if method == "weighted" and weights is None:
        weights = (object_weights(model, dataset, index, flux_output) if dataset is not None
                   else np.ones(n_pix))
    masks = dict(masks or {})
    unknown = [k for k in masks if k not in lspec.names]
    if unknown:
        raise DataError(f"masks for unknown label(s) {unknown}; labels are {list(lspec.names)}")

    def jac(keep: np.ndarray | None) -> np.ndarray:
        if method == "pinv":
            if keep is None:
                return np.linalg.pinv(b, rcond=rcond)
            out = np.zeros((b.shape[1], n_pix))
            out[:, keep] = np.linalg.pinv(b[keep], rcond=rcond)
            return out
        w = np.asarray(weights, dtype=float)
        if keep is not None:
            w = np.where(keep, w, 0.0)
        return inference_jacobian(model, w, flux_output, prior)

    full = jac(None)
    out = (lspec.scale[:, None] * a) @ full
    for name, mask in masks.items():
        keep = np.asarray(mask, dtype=bool)
        if keep.shape != (n_pix,):
            raise DataError(f"mask for {name} has shape {keep.shape}, expected ({n_pix},)")
        j = lspec.names.index(name)
        out[j] = lspec.scale[j] * a[j] @ jac(keep)
        out[j, ~keep] = 0.0
    return out / fspec.scale[None, :]
