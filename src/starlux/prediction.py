"""Predictions: what :func:`starlux.infer.predict` returns, in natural units.

:class:`OutputPrediction` holds one output's values and its three error parts;
:class:`Prediction` holds every predicted output of N objects with their latents and
the per-input chi^2; :func:`concat_predictions` joins consecutive blocks.

``Prediction.to_table()`` gives an astropy Table with units, the error parts and
metadata (one row per object), ``to_pandas()`` the same as a DataFrame; in Jupyter a
prediction shows as a short summary and the first rows of that table.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["OutputPrediction", "Prediction", "concat_predictions", "objects_without_data",
           "warn_objects_without_data"]

log = logging.getLogger("starlux")


def _names_text(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


@dataclass(repr=False)
class OutputPrediction:
    """Predicted values of one output for N objects, in natural units.

    Three independent parts, kept separately: ``fisher_errors`` (N, D), the
    measurement part (noise of this object's inputs, from the posterior precision of
    its latents); ``map_errors`` (N, D), the uncertainty of the label map learned from
    a finite, noisy training set (``None`` for outputs without one); ``model_error``
    (N, D), the learned model-error term at each object's place in label space (for
    a predicted spectrum: the fitted per-pixel scatter).
    ``errors`` = sqrt(fisher^2 + map^2 + model^2);
    ``cov`` is the full (N, D, D) covariance for label outputs (Fisher part plus the
    diagonal map and model-error terms). ``samples`` (N, K, D): posterior samples when
    requested (``predict(..., samples=K)``), whose spread matches ``errors``.
    """

    values: np.ndarray
    errors: np.ndarray
    fisher_errors: np.ndarray
    model_error: np.ndarray
    cov: np.ndarray | None
    names: tuple[str, ...]
    wavelength: np.ndarray | None = None
    map_errors: np.ndarray | None = None
    samples: np.ndarray | None = None

    @property
    def statistical_var(self) -> np.ndarray:
        """(N, D) fisher^2 + map^2: the variance before the model-error term."""
        mv = 0.0 if self.map_errors is None else self.map_errors**2
        return self.fisher_errors**2 + mv

    def __repr__(self) -> str:
        n, d = np.shape(self.values)
        kind = "spectrum" if self.cov is None else "labels"
        return (f"OutputPrediction({kind}, N={n}, D={d}: {_names_text(self.names)}; "
                f"values, errors, fisher_errors, map_errors, model_error)")


@dataclass(repr=False)
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

    @property
    def n(self) -> int:
        """Number of objects."""
        return int(np.shape(self.z)[0])

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        outs = ", ".join(f"{k} ({np.shape(o.values)[1]})" for k, o in self.outputs.items())
        return (f"<Prediction: {self.n} objects, from {', '.join(self.inputs)}; "
                f"outputs {outs}; P = {np.shape(self.z)[1]} latents>")

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays of a prediction file (layout in :mod:`starlux.io.predictions`)."""
        out: dict[str, np.ndarray] = {}
        for name, o in self.outputs.items():
            out[name] = o.values
            out[f"{name}_err"] = o.errors
            out[f"{name}_fisher_err"] = o.fisher_errors
            out[f"{name}_model_err"] = np.asarray(o.model_error)
            if o.map_errors is not None:
                out[f"{name}_map_err"] = o.map_errors
            if o.cov is not None:
                out[f"{name}_cov"] = o.cov
            if o.samples is not None:
                out[f"{name}_samples"] = o.samples
            out[f"{name}_names"] = np.array(o.names)
        out["z"] = self.z
        for k, c in self.chi2.items():
            out[f"chi2_{k}"] = c
        for k, c in self.n_used.items():
            out[f"n_used_{k}"] = c
        for k, c in self.n_rejected.items():
            out[f"n_rejected_{k}"] = c
        if self.ids is not None:
            out["id"] = np.asarray(self.ids)
        return out

    def to_table(self, model: str | None = None, meta: dict[str, Any] | None = None,
                 model_sha256: str | None = None):
        """An astropy ``Table``, one row per object, of every label output.

        Columns: ``id``; per label ``NAME`` and ``NAME_ERR`` with the label's unit (K,
        dex, km / s) and the three error parts ``NAME_FISHER_ERR``, ``NAME_MAP_ERR``,
        ``NAME_MODEL_ERR``; ``chi2_<input>``. ``Table.meta`` holds the starlux
        version, the inputs, ``model`` (the model file) and ``model_sha256`` (its
        SHA-256), when given.
        Spectra are not tabulated (use :meth:`to_arrays`).
        """
        from .tables import label_table, table_meta

        labels = [k for k, o in self.outputs.items() if o.cov is not None]
        arrays = {k: v for k, v in self.to_arrays().items()
                  if not k.endswith(("_cov", "_samples"))}
        return label_table(arrays, outputs=labels,
                           meta=table_meta(self.inputs, model=model, extra=meta,
                                          model_sha256=model_sha256))

    def to_pandas(self, model: str | None = None):
        """:meth:`to_table` as a pandas ``DataFrame`` (needs pandas installed); the
        units and metadata are in ``DataFrame.attrs``."""
        t = self.to_table(model=model)
        df = t.to_pandas()
        df.attrs.update({k: v for k, v in t.meta.items() if k != "comments"})
        df.attrs["units"] = {c: str(t[c].unit) for c in t.colnames if t[c].unit is not None}
        return df

    def _repr_html_(self, max_rows: int = 5) -> str:
        head = f"<p>{html.escape(repr(self))}</p>"
        t = self.to_table()
        if not len(t.colnames):
            return head
        shown = t[:max_rows]
        more = (f"<p>first {max_rows} of {len(t)} rows; <code>.to_table()</code> has "
                "them all</p>") if len(t) > max_rows else ""
        return head + shown._repr_html_() + more


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
            model_error=cat([p.outputs[k].model_error for p in parts]),
            cov=None if o.cov is None else cat([p.outputs[k].cov for p in parts]),
            names=o.names, wavelength=o.wavelength,
            map_errors=None if o.map_errors is None
            else cat([p.outputs[k].map_errors for p in parts]),
            samples=None if o.samples is None
            else cat([p.outputs[k].samples for p in parts]))
    if ids is None and all(p.ids is not None for p in parts):
        ids = cat([p.ids for p in parts])
    return Prediction(
        z=cat([p.z for p in parts]), outputs=outputs,
        z_cov=None if first.z_cov is None else cat([p.z_cov for p in parts]),
        chi2={k: cat([p.chi2[k] for p in parts]) for k in first.chi2},
        n_used={k: cat([p.n_used[k] for p in parts]) for k in first.n_used},
        n_rejected={k: cat([p.n_rejected[k] for p in parts]) for k in first.n_rejected},
        inputs=first.inputs, ids=ids)


def objects_without_data(n_used: Mapping[str, np.ndarray]) -> int:
    """How many objects have no usable entry in any of their inputs (``n_used`` per
    input, (N,) each): their latents, and so their predictions, are the prior's."""
    if not n_used:
        return 0
    return int(np.sum(np.all([np.asarray(u) == 0 for u in n_used.values()], axis=0)))


def warn_objects_without_data(count: int, n: int, inputs: Sequence[str]) -> None:
    """Say once, for a whole prediction, that ``count`` of ``n`` objects had nothing to
    infer from: their values are a guess from the training set, not a measurement."""
    if count:
        cols = ", ".join(f"n_used_{k}" for k in inputs)
        log.warning("%d of %d objects have no usable entry in %s: their predictions are "
                    "the latent prior's (the training set's mean and spread), not a "
                    "measurement; they have %s = 0", count, n, " or ".join(inputs), cols)
