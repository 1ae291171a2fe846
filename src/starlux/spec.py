"""What a Lux model is made of: its configuration (:class:`LuxConfig`), its outputs
(:class:`OutputSpec`) and its fitted state (:class:`ModelState`), as plain data.

The user-facing :class:`~starlux.model.Lux` and :class:`~starlux.model.LuxModel` add
``fit``, ``predict``, ``save`` and ``load`` to these; everything below the top level
(fitting, inference, model files) works with the plain data, so no module imports
the one above it.

Each object n has latents z_n (P,). Every output k is generated as
``y_nk = T_k(z_n) + noise`` with Gaussian noise of the catalogue errors, plus a fitted
per-dimension scatter ``s_k`` in quadrature where enabled (spectra by default). Label
outputs are rescaled (centre = median, scale = (p97.5 - p2.5) / 4; paper §4.1) with
the training set's statistics, which are stored with the model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np

from .data import DataError, Dataset, Output
from .linalg import resolve_precision
from .transforms import LinearTransform, Transform, make_transform
from .units import CLIP_SIGMA, ColumnLimits

__all__ = ["LuxConfig", "ModelState", "OutputSpec", "outputs_of_kind", "resolve_latents",
           "latent_grid", "parse_latent_size", "parse_family", "family_transforms",
           "DEFAULT_FAMILIES"]

Prior = Literal["empirical", "l2", "none"]


_LATENT_SIZE = re.compile(r"\s*(?:(\d+(?:\.\d+)?)\s*[xX]\s*(?:\+\s*(\d+)\s*)?|(\d+)\s*)")


def _latent_size(text: int | str, n_labels: int) -> int:
    """The one latent-size grammar: ``8``, ``"8"``, ``"4x"`` (4 times the label count
    M, rounded), ``"1x+1"`` (M + 1)."""
    if isinstance(text, int | np.integer):
        return int(text)
    m = _LATENT_SIZE.fullmatch(str(text))
    if not m:
        raise ValueError(f"latent size must be an integer, a multiple of the label count "
                         f"like '4x', or one plus an offset like '1x+1'; got {text!r}")
    if m.group(3) is not None:
        return int(m.group(3))
    return int(round(float(m.group(1)) * n_labels)) + int(m.group(2) or 0)


def parse_latent_size(text: int | str) -> int | str:
    """Check a latent size against the grammar before the label count is known (the
    command line): an int for ``"8"``, the stripped text for ``"4x"`` or ``"1x+1"``.

    Raises ``ValueError`` for text outside the grammar and for sizes that mean no
    latents at all (``"0"``, ``"0x"``); whether P >= M + 1 is checked against the data.
    """
    if _latent_size(text, 1) < 1:
        raise ValueError(f"latent size must be at least 1, got {text!r}")
    t = str(text).strip()
    return int(t) if t.isdigit() else t


def resolve_latents(latents: int | str, n_labels: int) -> int:
    """Latent size P from the grammar of :func:`latent_grid`; at least M + 1."""
    p = _latent_size(latents, n_labels)
    if p < n_labels + 1:
        raise ValueError(
            f"latent size P={p} is too small: the initialisation of z (paper eq. 9) needs "
            f"P >= M + 1 = {n_labels + 1} for M={n_labels} labels"
        )
    return p


def latent_grid(entries: str | Iterable[int | str], n_labels: int,
                cap: int | None = None) -> list[tuple[str, int]]:
    """Candidate latent sizes: ``"1x+1,2x,4x,8x"`` (or a sequence) -> [(as written, P)].

    Each entry is an integer, a multiple ``"kx"`` of the label count M, or ``"kx+j"``.
    P is raised to the minimum M + 1 the initialisation needs and lowered to ``cap``
    (when given); duplicates are dropped.
    """
    items = entries.split(",") if isinstance(entries, str) else list(entries)
    out: list[tuple[str, int]] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        p = max(_latent_size(text, n_labels), n_labels + 1)
        if cap is not None:
            p = min(p, max(cap, n_labels + 1))
        if p not in [q for _, q in out]:
            out.append((text, p))
    if not out:
        raise ValueError("empty latent grid")
    return out


DEFAULT_FAMILIES: tuple[str, ...] = ("linear", "label=mlp:32x1")
"""The transform families the automatic choice compares: every map linear (the
paper's model), and linear maps for the spectra with a perceptron for the labels
(paper §6.1: the flexibility moved into a nonlinear map, where the labels are a curved
function of what the spectra say)."""

_KINDS = ("label", "spectrum")


def parse_family(text: str) -> tuple[tuple[str, Transform], ...]:
    """The one family grammar: ``"linear"`` (every output linear) or comma-separated
    ``KIND=TRANSFORM`` items, KIND ``label`` or ``spectrum``: ``"label=mlp:32x1"``,
    ``"spectrum=quadratic,label=mlp"``. Returns ``((kind, transform), ...)`` for the
    kinds that are not linear."""
    t = str(text).strip()
    if t.lower() == "linear":
        return ()
    out: dict[str, Transform] = {}
    for item in t.split(","):
        kind, sep, name = item.partition("=")
        kind = kind.strip().lower()
        if not sep or kind not in _KINDS or not name.strip():
            raise ValueError(f"transform family must be 'linear' or KIND=TRANSFORM items "
                             f"with KIND one of {list(_KINDS)} (e.g. 'label=mlp:32x1'); "
                             f"got {text!r}")
        if kind in out:
            raise ValueError(f"transform family {text!r} names {kind!r} twice")
        out[kind] = make_transform(name.strip())
    return tuple((k, tr) for k, tr in sorted(out.items())
                 if not isinstance(tr, LinearTransform))


def family_transforms(family: str, kinds: Mapping[str, str]) -> dict[str, Transform]:
    """Each output's transform under ``family``, for outputs ``{name: kind}`` (only
    the outputs that are not linear)."""
    by_kind = dict(parse_family(family))
    return {name: by_kind[kind] for name, kind in kinds.items() if kind in by_kind}


@dataclass(frozen=True)
class LuxConfig:
    """Configuration of a Lux model (``Lux`` adds :meth:`~starlux.model.Lux.fit`).

    Args:
        latents: latent size P: an int, a multiple of the label count (``"4x"``), or
            ``None`` to choose P (and ``reg``) on an internal held-out split of the
            training data.
        reg: L2 penalty Omega on the latents (loss = chi^2/2 + Omega * sum z^2), or
            ``None``: chosen from ``reg_grid`` on the held-out fold (after P, which is
            chosen at Omega = 10) when ``latents`` is None too, else 10. Because the
            maps are re-solved after the penalised latent step (``refit_maps``),
            Omega mostly rescales the latents.
        n_iter: agenda-1 iterations (exact A|z, B|z, z|A,B solves).
        seed: random seed for the U(0, 1) initial maps and the held-out split.
        scatter: names of outputs given a fitted extra scatter; ``None`` means every
            spectrum-kind output.
        refit_maps: after the penalised latent step, re-solve every map once more
            (otherwise Omega only shrinks the training latents, not the maps).
        prox: relative weight of the proximal term that keeps unconstrained
            directions of the maps at their previous values (min-norm updates).
        calibrate: learn the per-label model-error term from K-fold held-out
            predictions of the training objects.
        folds: K for the calibration folds (the first fold also scores the automatic
            choice of P / Omega).
        fold_rounds: how each calibration fold's model is fitted: ``None`` (the
            default) fits it from scratch (agendas 1 and 2: about the cost of the final
            fit per fold); an int starts from the final fit and re-solves the maps on
            the fold's training objects only, then that many times the latents and the
            maps again (0: maps only, about one map solve per fold). Why from scratch:
            a fold started from the final fit keeps a latent space shaped with every
            star's labels, so its held-out predictions carry a trace of each star's own
            catalogue noise (0.3-4 % on the benchmarks), which hides up to half of the
            model error where the catalogue noise is 3x the model error; on
            ``toy_noisy`` warm folds left [Ni/Fe] and [Mn/Fe] 1.35-1.98x
            over-confident, folds from scratch none.
        discriminative: after training, re-solve the label maps on the latents the
            training objects get from their spectra alone (see
            :func:`starlux.fit.train`); ``False`` keeps the maps fitted jointly with
            the labels (the paper's generative recipe).
        clip: robust fitting (:mod:`starlux.units`): after agenda 1, entries whose
            normalised residual exceeds ``clip`` robust standard deviations of their
            column get zero weight (cosmic rays, sentinel labels), and at inference
            the pixels of each object whose residual exceeds ``clip`` times the
            calibrated noise are rejected and the latents solved again. Gross
            outliers and absurdly small errors are screened before any fit either
            way. ``None`` turns the clipping off.
        prior: prior on latents at inference: ``"empirical"`` (Gaussian fitted to
            the training latents), ``"l2"`` (the training penalty Omega), ``"none"``.
        latent_grid / reg_grid: candidates when choosing automatically (P first at
            Omega = 10, then Omega at the chosen P: a coordinate search, not the full
            grid; ``starlux cv`` scans the full grid).
        chunk_size: objects per block in the batched solves (bounds memory).
        precision: ``"auto"`` forms the Gram products of large outputs (spectra) in
            float32 and refines the solutions to float64 accuracy; ``"float64"`` uses
            float64 throughout, ``"float32"`` float32 Grams for every output
            (:func:`starlux.linalg.resolve_precision`, the same vocabulary as
            prediction).
        transforms: the transform of each output, by output name: a
            :class:`~starlux.transforms.Transform` or a name such as ``"linear"``,
            ``"mlp"`` or ``"mlp:64x2"``; outputs not named get the linear map. Given,
            it fixes the model's family.
        families: the transform families the automatic choice compares when
            ``transforms`` and ``latents`` are both ``None`` (:func:`parse_family`:
            ``"linear"``, ``"label=mlp:32x1"`` ...); the family is chosen on held-out
            folds together with P (and Omega). With ``latents`` given and no
            ``transforms`` the first family is used.
    """

    latents: int | str | None = None
    reg: float | None = None
    n_iter: int = 5
    seed: int = 0
    scatter: tuple[str, ...] | None = None
    prox: float = 1e-6
    refit_maps: bool = True
    calibrate: bool = True
    folds: int = 3
    fold_rounds: int | None = None
    discriminative: bool = True
    clip: float | None = CLIP_SIGMA
    prior: Prior = "empirical"
    latent_grid: tuple[str, ...] = ("1x+1", "2x", "4x", "8x")
    reg_grid: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0)
    chunk_size: int = 1024
    precision: Literal["auto", "float64", "float32"] = "auto"
    progress: bool = True
    transforms: Mapping[str, str | Transform] | None = None
    families: tuple[str, ...] = DEFAULT_FAMILIES

    def __post_init__(self) -> None:
        """Reject settings that would train a wrong model without a word."""
        def bad(what: str) -> None:
            raise ValueError(f"Lux: {what}")

        if self.reg is not None and not (math.isfinite(float(self.reg)) and self.reg >= 0):
            bad(f"reg (Omega) must be a finite number >= 0, got {self.reg!r}")
        if int(self.n_iter) < 1:
            bad(f"n_iter must be >= 1, got {self.n_iter!r}")
        if int(self.folds) < 2:
            bad(f"folds must be >= 2, got {self.folds!r}")
        if int(self.chunk_size) < 1:
            bad(f"chunk_size must be >= 1, got {self.chunk_size!r}")
        if self.fold_rounds is not None and int(self.fold_rounds) < 0:
            bad(f"fold_rounds must be None or >= 0, got {self.fold_rounds!r}")
        try:
            object.__setattr__(self, "precision", resolve_precision(self.precision))
        except ValueError as exc:
            bad(str(exc))
        if self.transforms is not None:
            try:
                chosen = tuple(sorted((str(k), make_transform(v))
                                      for k, v in dict(self.transforms).items()))
            except (TypeError, ValueError) as exc:
                bad(f"transforms: {exc}")
            object.__setattr__(self, "transforms", chosen or None)
        fams = (self.families,) if isinstance(self.families, str) else tuple(self.families)
        if not fams:
            bad("families must name at least one transform family")
        for fam in fams:
            try:
                parse_family(fam)
            except (TypeError, ValueError) as exc:
                bad(str(exc))
        object.__setattr__(self, "families", tuple(str(f).strip() for f in fams))
        if self.prior not in ("empirical", "l2", "none"):
            bad(f"prior must be 'empirical', 'l2' or 'none', got {self.prior!r}")
        if self.clip is not None and not (math.isfinite(float(self.clip)) and self.clip > 0):
            bad(f"clip must be None or a number > 0, got {self.clip!r}")
        if isinstance(self.latents, int | np.integer) and int(self.latents) < 1:
            bad(f"latents must be >= 1, got {self.latents!r}")

    def transform_for(self, output: str) -> Transform:
        """The transform configured for ``output`` (the linear map by default)."""
        return dict(self.transforms or ()).get(output, LinearTransform())

    def replace(self, **kw: Any) -> LuxConfig:
        return replace(self, **kw)

    def settings(self) -> dict[str, Any]:
        """The fields as a dict of plain values (what model files store as JSON)."""
        out = {f.name: getattr(self, f.name) for f in fields(LuxConfig)}
        if self.transforms:
            out["transforms"] = {k: [t.name, t.config()] for k, t in self.transforms}
        return out


@dataclass
class OutputSpec:
    """What a trained model knows about one output block."""

    name: str
    kind: str
    names: tuple[str, ...]
    wavelength: np.ndarray | None
    center: np.ndarray  # (D,) subtracted before fitting (0 for spectra)
    scale: np.ndarray  # (D,) divided after centring (1 for spectra)
    transform: Transform = field(default_factory=LinearTransform)
    has_scatter: bool = False
    limits: ColumnLimits | None = None  # screening limits (starlux.units); None: none

    @property
    def dim(self) -> int:
        return len(self.center)


def outputs_of_kind(specs: dict[str, OutputSpec], kind: str) -> list[str]:
    """The names of the outputs of one kind (``"label"`` or ``"spectrum"``), in order."""
    return [k for k, s in specs.items() if s.kind == kind]


@dataclass
class ModelState:
    """The fitted state of a Lux model (``LuxModel`` adds predict / save / load).

    Attributes:
        config: the :class:`LuxConfig` configuration it was trained with (after any
            automatic choice, ``latents`` is the integer P and ``reg`` a float).
        specs: per output, names / wavelengths / scalings / transform.
        params: per output, the transform parameters (``{"W": (D, P)}`` if linear).
        ln_scatter: per output with scatter, ln s (D,) in the output's units.
        z_train: (N_train, P) latents of the training objects.
        prior_mean, prior_cov: (P,), (P, P) Gaussian fitted to the training latents.
        model_error: per label output, (D,) extra error in natural units learned on
            held-out objects and added in quadrature to the Fisher errors: its value
            at the training median of the labels.
        model_error_trend: per label output, how the model error varies over label
            space (:mod:`starlux.error_model`: ``lo``, ``hi`` (D,), ``coef`` (2D, D));
            absent for a constant model error.
        robust: per output, the training entries screened as gross outliers and
            clipped by the robust fit (``Lux.clip``).
        error_scale: per label output, the factor c (learned with ``model_error``)
            that multiplies its statistical (Fisher and map) errors.
        error_uncertainty: per label output, (D,) relative 1-sigma uncertainty of each
            label's error bar as learned from the held-out residuals
            (:func:`starlux.error_model.error_bar_uncertainty`).
        held_out: per label output, the calibration folds' predictions of the
            training objects' labels from their spectra alone, by fold models that saw
            neither: ``values`` and ``statistical_var`` (Fisher and map, before the
            error model), (N_train, D) in natural units and in the rows of
            ``z_train``, NaN for objects without labels; ``used`` (N_train, D), the
            catalogue entries the error model was learned from (observed, and not
            set aside by the screening). A one-to-one of the training set free of
            overfitting.
        map_cov: per label output with a linear map, (D, P, P) covariance of each row
            of the map (model units) from its weighted least-squares fit: the
            uncertainty of the map learned from a finite, noisy training set. A
            prediction's label variance gains ``z^T C_d z`` (times scale^2).
        history: training chi^2 after each step, as (step name, total chi^2).
        selection: table of the automatic P / Omega choice, if one was made.
    """

    config: LuxConfig
    specs: dict[str, OutputSpec]
    params: dict[str, dict[str, np.ndarray]]
    ln_scatter: dict[str, np.ndarray]
    z_train: np.ndarray
    prior_mean: np.ndarray
    prior_cov: np.ndarray
    model_error: dict[str, np.ndarray] = field(default_factory=dict)
    model_error_trend: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    error_scale: dict[str, float] = field(default_factory=dict)
    error_uncertainty: dict[str, np.ndarray] = field(default_factory=dict)
    held_out: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    robust: dict[str, dict[str, int]] = field(default_factory=dict)
    map_cov: dict[str, np.ndarray] = field(default_factory=dict)
    history: list[tuple[str, float]] = field(default_factory=list)
    selection: list[dict[str, Any]] = field(default_factory=list)
    train_ids: np.ndarray | None = None
    version: str = ""

    @property
    def n_latents(self) -> int:
        return int(self.z_train.shape[1])

    @property
    def reg(self) -> float:
        return float(self.config.reg or 0.0)

    @property
    def output_names(self) -> list[str]:
        return list(self.specs)

    @property
    def label_outputs(self) -> list[str]:
        return outputs_of_kind(self.specs, "label")

    @property
    def spectral_outputs(self) -> list[str]:
        return outputs_of_kind(self.specs, "spectrum")

    def check_compatible(self, dataset: Dataset, names: Sequence[str]) -> None:
        """Raise a :class:`DataError` if ``dataset``'s outputs ``names`` don't match."""
        for k in names:
            if k not in self.specs:
                raise DataError(f"model has no output {k!r}; it has {list(self.specs)}")
            o: Output = dataset[k]
            spec = self.specs[k]
            if spec.kind == "label":
                if tuple(o.names) != spec.names:
                    missing = [s for s in spec.names if s not in o.names]
                    if missing:
                        raise DataError(f"{k}: dataset lacks label column(s) {missing}")
            elif o.dim != spec.dim:
                raise DataError(
                    f"{k}: dataset has {o.dim} pixels but the model was trained on {spec.dim}"
                )
            elif (o.wavelength is not None and spec.wavelength is not None
                  and not np.allclose(o.wavelength, spec.wavelength, rtol=1e-7)):
                raise DataError(f"{k}: wavelength grid differs from the model's")
