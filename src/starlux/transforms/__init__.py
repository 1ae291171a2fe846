"""Transforms: maps from latents z (N, P) to one output (N, D).

* :mod:`.base`: the :class:`Transform` interface every fit and prediction goes through;
* :mod:`.linear`: the paper's linear maps (the default, exact solves);
* :mod:`.quadratic`: maps quadratic in the latents (exact solves, Gauss–Newton latents);
* :mod:`.mlp`: a multi-layer perceptron (equinox), fitted with optax.

:func:`make_transform` turns a name such as ``"linear"``, ``"mlp"`` or ``"mlp:64x2"``
into a transform; :data:`TRANSFORMS` maps the names stored in model files to classes.
"""

from __future__ import annotations

from typing import Any

from .base import Params, Transform
from .linear import LinearTransform, design, offset
from .quadratic import QuadraticTransform

__all__ = ["Transform", "Params", "LinearTransform", "QuadraticTransform", "TRANSFORMS",
           "make_transform", "transform_from_config", "offset", "design"]

TRANSFORMS: dict[str, type[Transform]] = {"linear": LinearTransform,
                                          "quadratic": QuadraticTransform}
"""Transform name (as stored in model files) -> class."""

try:  # the MLP needs equinox, a declared dependency; keep linear models usable without
    from .mlp import MLPTransform

    TRANSFORMS["mlp"] = MLPTransform
    __all__.append("MLPTransform")
except ImportError:  # pragma: no cover
    pass


def transform_from_config(name: str, config: dict[str, Any]) -> Transform:
    """The transform a model file describes by ``name`` and ``config``."""
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform {name!r}; known: {sorted(TRANSFORMS)}")
    return TRANSFORMS[name](**config)


def make_transform(spec: str | Transform) -> Transform:
    """A transform from an instance or a name with optional options after a colon:
    ``"linear"``, ``"mlp"``, ``"mlp:128x2"`` (width x depth); see each class's
    ``from_string``."""
    if isinstance(spec, Transform):
        return spec
    text = str(spec).strip()
    name, _, options = text.partition(":")
    name = name.strip().lower()
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform {text!r}; use one of {sorted(TRANSFORMS)} "
                         "(e.g. 'linear', 'mlp', 'mlp:64x2')")
    cls = TRANSFORMS[name]
    if not options.strip():
        return cls()
    from_string = getattr(cls, "from_string", None)
    if from_string is None:
        raise ValueError(f"transform {name!r} takes no options, got {text!r}")
    return from_string(options.strip())
