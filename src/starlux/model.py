"""The Lux model: configure it (:class:`Lux`), train it (:meth:`Lux.fit`), and use the
trained model (:class:`LuxModel`: predict, save, load).

Each object n has latents z_n (P,). Every output k is generated as
``y_nk = T_k(z_n) + noise`` with Gaussian noise of the catalogue errors, plus a fitted
per-dimension scatter ``s_k`` in quadrature where enabled (spectra by default). Label
outputs are rescaled (centre = median, scale = (p97.5 - p2.5) / 4; paper §4.1) with
the training set's statistics, which are stored with the model.

These two classes are the top of the package: they add behaviour to the plain data of
:mod:`starlux.spec` (:class:`~starlux.spec.LuxConfig`,
:class:`~starlux.spec.ModelState`) by calling :mod:`starlux.fit`, :mod:`starlux.infer`
and :mod:`starlux.io.models`, none of which imports this module.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from .data import Dataset
from .fit import train
from .infer import predict
from .io import models as model_files
from .prediction import Prediction
from .spec import LuxConfig, ModelState, OutputSpec, latent_grid, resolve_latents

__all__ = ["Lux", "LuxModel", "OutputSpec", "load_model", "resolve_latents", "latent_grid"]


@dataclass(frozen=True)
class Lux(LuxConfig):
    """A Lux model to train: the settings of :class:`~starlux.spec.LuxConfig` (latent
    size, penalty, transforms, calibration, precision ...), and :meth:`fit`.

    >>> model = Lux(latents="4x").fit(train)   # doctest: +SKIP
    """

    @classmethod
    def from_config(cls, config: LuxConfig) -> Lux:
        """The same settings as a :class:`Lux` (for configurations read from files)."""
        if isinstance(config, cls):
            return config
        return cls(**{f.name: getattr(config, f.name) for f in fields(LuxConfig)})

    def fit(self, dataset: Dataset) -> LuxModel:
        """Train on ``dataset`` (see :func:`starlux.fit.train`)."""
        return LuxModel.from_state(train(self, dataset))


@dataclass
class LuxModel(ModelState):
    """A trained Lux model: the fields of :class:`~starlux.spec.ModelState` (maps,
    scatter, training latents, error model ...), and :meth:`predict`, :meth:`save`,
    :meth:`load`."""

    @classmethod
    def from_state(cls, state: ModelState) -> LuxModel:
        """Wrap a fitted :class:`~starlux.spec.ModelState` (no copies)."""
        values = {f.name: getattr(state, f.name) for f in fields(ModelState)}
        values["config"] = Lux.from_config(state.config)
        return cls(**values)

    def predict(self, dataset: Dataset, inputs: Sequence[str] | None = None,
                outputs: Sequence[str] | None = None, **kw: Any) -> Prediction:
        """Infer latents from ``inputs``, predict ``outputs`` (:func:`starlux.infer.predict`)."""
        return predict(self, dataset, inputs=inputs, outputs=outputs, **kw)

    def save(self, path: str | os.PathLike) -> None:
        """Write a versioned HDF5 model file atomically."""
        model_files.save_model(path, self)

    @classmethod
    def load(cls, path: str | os.PathLike) -> LuxModel:
        """Read a model file (:func:`starlux.io.models.load_model`)."""
        return cls.from_state(model_files.load_model(path))


def load_model(path: str | os.PathLike) -> LuxModel:
    """Read a model file written by :meth:`LuxModel.save`."""
    return LuxModel.load(path)
