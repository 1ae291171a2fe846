"""Predictions: what :func:`starlux.infer.predict` returns, in natural units.

:class:`OutputPrediction` holds one output's values and its three error parts;
:class:`Prediction` holds every predicted output of N objects with their latents and
the per-input chi^2; :func:`concat_predictions` joins consecutive blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["OutputPrediction", "Prediction", "concat_predictions"]


@dataclass
class OutputPrediction:
    """Predicted values of one output for N objects, in natural units.

    Three independent parts, kept separately: ``fisher_errors`` (N, D), the
    measurement part (noise of this object's inputs, from the posterior precision of
    its latents); ``map_errors`` (N, D), the uncertainty of the label map learned from
    a finite, noisy training set (``None`` for outputs without one); ``model_error`` (D,),
    the learned model-error term. ``errors`` = sqrt(fisher^2 + map^2 + model^2);
    ``cov`` is the full (N, D, D) covariance for label outputs (Fisher part plus the
    diagonal map and model-error terms).
    """

    values: np.ndarray
    errors: np.ndarray
    fisher_errors: np.ndarray
    model_error: np.ndarray
    cov: np.ndarray | None
    names: tuple[str, ...]
    wavelength: np.ndarray | None = None
    map_errors: np.ndarray | None = None

    @property
    def statistical_var(self) -> np.ndarray:
        """(N, D) fisher^2 + map^2: the variance before the model-error term."""
        mv = 0.0 if self.map_errors is None else self.map_errors**2
        return self.fisher_errors**2 + mv


@dataclass
class Prediction:
    """Result of :func:`predict`.

    Attributes:
        z: (N, P) inferred latents; z_cov: (N, P, P) their posterior covariance (``None``
            from :func:`starlux.stream.predict_file`, which does not keep it).
        outputs: per predicted output, an :class:`OutputPrediction`.
        chi2: per input output, (N,) reduced chi^2 (chi^2 / number of observed
            entries, with the model's extra scatter included).
        n_used: per input output, (N,) number of observed entries used.
        n_rejected: per input output, (N,) entries rejected as outliers (gross outliers
            and clipped residuals); not counted in ``n_used``.
        inputs: names of the outputs the latents were inferred from.
    """

    z: np.ndarray
    z_cov: np.ndarray | None
    outputs: dict[str, OutputPrediction]
    chi2: dict[str, np.ndarray]
    n_used: dict[str, np.ndarray]
    inputs: tuple[str, ...]
    ids: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    n_rejected: dict[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, name: str) -> OutputPrediction:
        return self.outputs[name]


def concat_predictions(parts: Sequence[Prediction], ids: np.ndarray | None = None,
                       ) -> Prediction:
    """One :class:`Prediction` from consecutive blocks (``ids``: the whole set's ids)."""
    first = parts[0]
    if len(parts) == 1:
        out = first
        out.ids = ids if ids is not None else first.ids
        return out
    cat = np.concatenate
    outputs = {}
    for k, o in first.outputs.items():
        outputs[k] = OutputPrediction(
            values=cat([p.outputs[k].values for p in parts]),
            errors=cat([p.outputs[k].errors for p in parts]),
            fisher_errors=cat([p.outputs[k].fisher_errors for p in parts]),
            model_error=o.model_error,
            cov=None if o.cov is None else cat([p.outputs[k].cov for p in parts]),
            names=o.names, wavelength=o.wavelength,
            map_errors=None if o.map_errors is None
            else cat([p.outputs[k].map_errors for p in parts]))
    if ids is None and all(p.ids is not None for p in parts):
        ids = cat([p.ids for p in parts])
    return Prediction(
        z=cat([p.z for p in parts]), outputs=outputs,
        z_cov=None if first.z_cov is None else cat([p.z_cov for p in parts]),
        chi2={k: cat([p.chi2[k] for p in parts]) for k in first.chi2},
        n_used={k: cat([p.n_used[k] for p in parts]) for k in first.n_used},
        n_rejected={k: cat([p.n_rejected[k] for p in parts]) for k in first.n_rejected},
        inputs=first.inputs, ids=ids)
