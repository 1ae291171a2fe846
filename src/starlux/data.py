"""Data containers: named outputs of N objects, with errors and missing-entry rules.

A :class:`Dataset` holds any number of named :class:`Output` blocks observed for the
same N objects (stellar labels from one survey, another survey's labels, a spectrum,
photometry ...). Each block has values and 1-sigma errors of shape (N, D).

Missing entries (paper §2.1, made explicit): an entry is *missing* when

* its value is not finite, or
* its error is not finite, or is <= 0, or is >= 9999 (the paper's "large error"
  convention for bad pixels and absent labels), or
* for spectral outputs only: its value is exactly 0 or its inverse variance is < 0.1.

Missing entries get exactly zero weight in every fit and every inference; their
values are never replaced by invented numbers that could reach a result. The count of
entries masked for each reason is kept in :attr:`Output.mask_summary`.

Correlated errors (optional): an output may carry a per-object error covariance
``covariance`` of shape (N, D, D), e.g. the 110 Gaia XP basis coefficients of a star,
whose errors are strongly correlated. The rules, applied once in :meth:`Output.create`:

* the covariance and ``errors`` describe the same errors: on observed entries
  ``covariance[n, i, i]`` must equal ``errors[n, i]**2`` to a relative 1e-5 (float32
  rounding), and is then set to exactly ``errors[n, i]**2``, so the diagonal-error path
  and the full-covariance path see the same variances. ``errors`` may be left out
  (``None``): they are then the square roots of the diagonal;
* missing entries follow the same rule as without a covariance (decided from
  ``values`` and ``errors``); their rows and columns are set to 0 and carry no
  information: a full likelihood uses each object's block of observed entries;
* that block must be finite, symmetric (to a relative 1e-6 of sqrt(C_ii C_jj), then
  made exactly symmetric) and positive definite; a failure is a :class:`DataError`
  naming the output and the first bad object's row.

Without a covariance (``None``, the default) nothing changes: the errors are
independent and no check or copy is added.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["Output", "Dataset", "LARGE_ERROR", "MIN_FLUX_IVAR", "DataError", "missing_reasons",
           "is_missing", "label_folds", "COV_DIAGONAL_RTOL", "COV_SYMMETRY_RTOL"]

COV_DIAGONAL_RTOL = 1e-5
"""Relative agreement required between a covariance's diagonal and ``errors**2``."""
COV_SYMMETRY_RTOL = 1e-6
"""Allowed asymmetry of a covariance, relative to sqrt(C_ii C_jj)."""
_COV_BLOCK = 512  # objects per block when checking covariances (bounded temporaries)

LARGE_ERROR = 9999.0
"""Errors at or above this value mark an entry as missing (paper §2.1)."""
MIN_FLUX_IVAR = 0.1
"""Spectral pixels with inverse variance below this are missing (paper §2.1)."""

MAX_FLUX_ERROR = MIN_FLUX_IVAR ** -0.5
"""The flux error above which the inverse variance is below :data:`MIN_FLUX_IVAR`."""

Kind = Literal["label", "spectrum"]


class DataError(ValueError):
    """Input data that cannot be used; the message names the output and the problem."""


def missing_reasons(xp: Any, values: Any, errors: Any, spectrum: bool) -> dict[str, Any]:
    """The missing-entry rule (module docstring), reason by reason: boolean masks.

    ``xp`` is ``numpy`` or ``jax.numpy``: the one rule serves :meth:`Output.create` and
    the jitted inference kernels alike.
    """
    # comparisons in the arrays' own dtype: no float64 copies of (N, D) spectra
    v, e = values, errors
    finite_e = xp.isfinite(e)
    reasons = {
        "value not finite": ~xp.isfinite(v),
        "error not finite": ~finite_e,
        "error <= 0": finite_e & (e <= 0),
        f"error >= {LARGE_ERROR:g}": finite_e & (e >= LARGE_ERROR),
    }
    if spectrum:
        # 1 / e^2 < MIN_FLUX_IVAR  <=>  e > MIN_FLUX_IVAR^-1/2 for 0 < e < 9999
        reasons["flux == 0"] = v == 0
        reasons[f"inverse variance < {MIN_FLUX_IVAR:g}"] = (
            finite_e & (e > MAX_FLUX_ERROR) & (e < LARGE_ERROR))
    return reasons


def is_missing(xp: Any, values: Any, errors: Any, spectrum: bool) -> Any:
    """(N, D) True where an entry is missing under :func:`missing_reasons`."""
    masks = list(missing_reasons(xp, values, errors, spectrum).values())
    out = masks[0]
    for m in masks[1:]:
        out = out | m
    return out


def _as_2d(name: str, what: str, x: object, n: int | None = None,
           keep_float32: bool = False) -> np.ndarray:
    dtype = np.float64
    if keep_float32 and getattr(x, "dtype", None) == np.float32:
        dtype = np.float32  # spectra given as float32 stay float32 (half the memory)
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name}: {what} is not numeric ({exc})") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"{name}: {what} must be 2-D (N, D); got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise DataError(f"{name}: {what} has {arr.shape[0]} rows, expected {n}")
    return arr


def _as_3d(name: str, x: object, shape: tuple[int, int]) -> np.ndarray:
    """(N, D, D) float64 copy of a covariance (it is modified in place by the checks)."""
    try:
        arr = np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name}: covariance is not numeric ({exc})") from None
    n, d = shape
    if arr.shape != (n, d, d):
        raise DataError(f"{name}: covariance has shape {arr.shape}, expected (N, D, D) = "
                        f"({n}, {d}, {d})")
    return arr


def _check_covariance(name: str, cov: np.ndarray, errors: np.ndarray,
                      missing: np.ndarray) -> None:
    """Apply the covariance rules of the module docstring to ``cov`` in place.

    Blocks of objects keep the temporaries small ((block, D, D) at most); the first
    object that breaks a rule is named by its row.
    """
    n, d = errors.shape
    rows = np.arange(d)
    for a in range(0, n, _COV_BLOCK):
        c = cov[a:a + _COV_BLOCK]
        m = missing[a:a + _COV_BLOCK]
        obs = ~m
        pair = obs[:, :, None] & obs[:, None, :]
        bad = pair & ~np.isfinite(c)
        if bad.any():
            i, j, k = (int(t[0]) for t in np.nonzero(bad))
            raise DataError(f"{name}: covariance of the object at row {a + i} is not finite "
                            f"at ({j}, {k})")
        c[~pair] = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            var = errors[a:a + _COV_BLOCK].astype(np.float64) ** 2
            diag = c[:, rows, rows]
            off = obs & ~(np.abs(diag - var) <= COV_DIAGONAL_RTOL * var)
        if off.any():
            i, j = (int(t[0]) for t in np.nonzero(off))
            raise DataError(f"{name}: covariance diagonal of the object at row {a + i}, column "
                            f"{j} is {diag[i, j]:.6g}, but its error squared is "
                            f"{var[i, j]:.6g} (they must agree)")
        c[:, rows, rows] = np.where(obs, var, 0.0)
        scale = np.sqrt(np.where(obs, var, 1.0))
        corr = c / scale[:, :, None] / scale[:, None, :]
        asym = np.abs(corr - np.swapaxes(corr, 1, 2)) > COV_SYMMETRY_RTOL
        if asym.any():
            i, j, k = (int(t[0]) for t in np.nonzero(asym))
            raise DataError(f"{name}: covariance of the object at row {a + i} is not symmetric "
                            f"at ({j}, {k})")
        c[...] = 0.5 * (c + np.swapaxes(c, 1, 2))
        # positive definite on the observed block <=> the correlation matrix with unit
        # rows for the missing entries has a Cholesky factor (scale-free check)
        corr = 0.5 * (corr + np.swapaxes(corr, 1, 2))
        corr[:, rows, rows] = 1.0
        try:
            np.linalg.cholesky(corr)
        except np.linalg.LinAlgError:
            for i in range(corr.shape[0]):
                try:
                    np.linalg.cholesky(corr[i])
                except np.linalg.LinAlgError:
                    raise DataError(f"{name}: covariance of the object at row {a + i} is not "
                                    f"positive definite (on its {int(obs[i].sum())} observed "
                                    "entries)") from None


@dataclass(frozen=True, eq=False)
class Output:
    """One observed output block of a dataset.

    Attributes:
        values: (N, D) observed values (labels in their natural units, or flux);
            float64, except spectra given as float32, which are kept as float32
            (every computation uses them in float64).
        errors: (N, D) 1-sigma errors, same units and dtype as ``values``.
        kind: ``"label"`` (rescaled before fitting, names required) or ``"spectrum"``
            (pixels on a wavelength grid; extra scatter fitted by default).
        names: (D,) column names for labels (e.g. ``"TEFF"``); pixel indices otherwise.
        wavelength: (D,) wavelengths in Angstrom for spectra, or None.
        missing: (N, D) boolean, True where the entry carries no information.
        mask_summary: counts of entries masked, by reason.
        covariance: (N, D, D) float64 per-object error covariance in the units of
            ``values`` squared, or None (independent errors). Its diagonal equals
            ``errors**2`` on observed entries; rows and columns of missing entries
            are 0 (module docstring).
    """

    values: np.ndarray
    errors: np.ndarray
    kind: Kind = "label"
    names: tuple[str, ...] = ()
    wavelength: np.ndarray | None = None
    missing: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    mask_summary: dict[str, int] = field(default_factory=dict, repr=False)
    covariance: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        values: object,
        errors: object,
        *,
        kind: Kind = "label",
        names: Sequence[str] | None = None,
        wavelength: object | None = None,
        label: str = "output",
        covariance: object | None = None,
    ) -> Output:
        """Validate arrays, apply the missing-entry rules and build an Output.

        ``label`` is only used in error messages (the output's name in its dataset).
        ``covariance`` (N, D, D) is an optional per-object error covariance (module
        docstring: its rules); with it, ``errors`` may be None (the square roots of
        its diagonal are used).
        """
        if kind not in ("label", "spectrum"):
            raise DataError(f"{label}: kind must be 'label' or 'spectrum', got {kind!r}")
        spectrum = kind == "spectrum"
        v = _as_2d(label, "values", values, keep_float32=spectrum)
        cov = None
        if covariance is not None:
            cov = _as_3d(label, covariance, v.shape)
            if errors is None:
                with np.errstate(invalid="ignore"):
                    diag = np.diagonal(cov, axis1=1, axis2=2)
                    errors = np.sqrt(np.where(np.isfinite(diag) & (diag > 0), diag, np.nan))
        elif errors is None:
            raise DataError(f"{label}: errors are needed (or a covariance)")
        e = _as_2d(label, "errors", errors, n=v.shape[0], keep_float32=spectrum)
        if e.shape != v.shape:
            raise DataError(f"{label}: errors shape {e.shape} differs from values {v.shape}")
        d = v.shape[1]
        if names is None:
            if kind == "label":
                raise DataError(f"{label}: label outputs need column names")
            names = [str(i) for i in range(d)]
        names = tuple(str(s) for s in np.asarray(names).ravel())
        if len(names) != d:
            raise DataError(f"{label}: {len(names)} names for {d} columns")
        if len(set(names)) != d:
            dup = sorted({s for s in names if names.count(s) > 1})
            raise DataError(f"{label}: duplicated column names {dup}")
        wl = None
        if wavelength is not None:
            wl = np.asarray(wavelength, dtype=np.float64).ravel()
            if wl.shape != (d,):
                raise DataError(f"{label}: wavelength has {wl.size} entries for {d} pixels")
            if not np.all(np.isfinite(wl)):
                raise DataError(f"{label}: wavelength grid contains non-finite values")

        summary: dict[str, int] = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            reasons = missing_reasons(np, v, e, spectrum)
        missing = np.zeros(v.shape, dtype=bool)
        for why, m in reasons.items():
            summary[why] = int(np.count_nonzero(m & ~missing))
            missing |= m
        summary["total missing"] = int(missing.sum())
        summary["total entries"] = int(missing.size)
        if cov is not None:
            _check_covariance(label, cov, e, missing)
        return cls(
            values=v, errors=e, kind=kind, names=names, wavelength=wl,
            missing=missing, mask_summary=summary, covariance=cov,
        )

    @property
    def n(self) -> int:
        return self.values.shape[0]

    @property
    def dim(self) -> int:
        return self.values.shape[1]

    def ivar(self) -> np.ndarray:
        """(N, D) inverse variances 1/err^2, exactly 0 for missing entries."""
        with np.errstate(divide="ignore", invalid="ignore"):
            w = 1.0 / self.errors.astype(np.float64) ** 2
        return np.where(self.missing, 0.0, w)

    def clean_values(self) -> np.ndarray:
        """(N, D) values with missing entries set to 0.

        The zero is only a placeholder that keeps arithmetic finite: every missing
        entry also has weight exactly 0, so it never contributes to any fit.
        """
        return np.where(self.missing, 0.0, self.values.astype(np.float64))

    def take(self, index: np.ndarray) -> Output:
        """Rows ``index`` of this output (a new Output; arrays are copied)."""
        return Output(
            values=self.values[index], errors=self.errors[index], kind=self.kind,
            names=self.names, wavelength=self.wavelength, missing=self.missing[index],
            mask_summary=dict(self.mask_summary),
            covariance=None if self.covariance is None else self.covariance[index],
        )

    def select(self, names: Iterable[str]) -> Output:
        """Columns by name; unknown names raise a :class:`DataError` listing them."""
        names = list(names)
        unknown = [s for s in names if s not in self.names]
        if unknown:
            raise DataError(f"unknown column name(s) {unknown}; available: {list(self.names)}")
        idx = [self.names.index(s) for s in names]
        cov = None
        if self.covariance is not None:  # the marginal covariance of the kept columns
            cov = self.covariance[:, idx][:, :, idx]
        return Output(
            values=self.values[:, idx], errors=self.errors[:, idx], kind=self.kind,
            names=tuple(names),
            wavelength=None if self.wavelength is None else self.wavelength[idx],
            missing=self.missing[:, idx], mask_summary=dict(self.mask_summary),
            covariance=cov,
        )


@dataclass(frozen=True, eq=False)
class Dataset:
    """N objects observed through any number of named outputs.

    Conventional names are ``"label"`` (stellar labels) and ``"flux"`` (a spectrum);
    any other name (``"galah"``, ``"phot"`` ...) is a further output.
    """

    outputs: Mapping[str, Output]
    ids: np.ndarray | None = None
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.outputs:
            raise DataError("a Dataset needs at least one output")
        ns = {k: o.n for k, o in self.outputs.items()}
        if len(set(ns.values())) != 1:
            raise DataError(f"outputs have different numbers of objects: {ns}")
        if self.ids is not None:
            ids = np.asarray(self.ids)
            if ids.shape != (self.n,):
                raise DataError(f"ids has shape {ids.shape}, expected ({self.n},)")
            object.__setattr__(self, "ids", ids)

    @classmethod
    def from_arrays(
        cls,
        *,
        flux: object | None = None,
        flux_err: object | None = None,
        label: object | None = None,
        label_err: object | None = None,
        label_names: Sequence[str] | None = None,
        wavelength: object | None = None,
        ids: object | None = None,
        flux_cov: object | None = None,
        label_cov: object | None = None,
        **extras: np.ndarray,
    ) -> Dataset:
        """Build the common two-output dataset (``label`` and/or ``flux``), with optional
        per-object error covariances (N, D, D) (``*_err`` may then be left out)."""
        outputs: dict[str, Output] = {}
        if label is not None:
            if label_err is None and label_cov is None:
                raise DataError("label given without label_err")
            outputs["label"] = Output.create(
                label, label_err, kind="label", names=label_names, label="label",
                covariance=label_cov,
            )
        if flux is not None:
            if flux_err is None and flux_cov is None:
                raise DataError("flux given without flux_err")
            outputs["flux"] = Output.create(
                flux, flux_err, kind="spectrum", wavelength=wavelength, label="flux",
                covariance=flux_cov,
            )
        return cls(outputs=outputs, ids=None if ids is None else np.asarray(ids),
                   extras=dict(extras))

    @property
    def n(self) -> int:
        return next(iter(self.outputs.values())).n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, name: str) -> Output:
        try:
            return self.outputs[name]
        except KeyError:
            raise DataError(
                f"dataset has no output {name!r}; it has {list(self.outputs)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.outputs

    def take(self, index: np.ndarray) -> Dataset:
        """Objects ``index`` (integer or boolean array) as a new Dataset."""
        index = np.asarray(index)
        return Dataset(
            outputs={k: o.take(index) for k, o in self.outputs.items()},
            ids=None if self.ids is None else self.ids[index],
            extras={k: np.asarray(v)[index] for k, v in self.extras.items()
                    if np.ndim(v) >= 1 and len(v) == self.n},
        )

    def with_outputs(self, names: Iterable[str]) -> Dataset:
        """The same objects with only the named outputs."""
        return Dataset(outputs={k: self[k] for k in names}, ids=self.ids, extras=self.extras)

    def mask_summary(self) -> dict[str, dict[str, int]]:
        """Per output, how many entries were masked and why."""
        return {k: dict(o.mask_summary) for k, o in self.outputs.items()}

    def __repr__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """A short human-readable summary (objects, outputs, missing fractions)."""
        lines = [f"Dataset: {self.n} objects"]
        for k, o in self.outputs.items():
            frac = o.missing.mean() if o.missing.size else 0.0
            cols = ", ".join(o.names) if o.kind == "label" else f"{o.dim} pixels"
            cov = "; with error covariance" if o.covariance is not None else ""
            lines.append(f"  {k} ({o.kind}): {cols}; {100 * frac:.2f}% missing{cov}")
        return "\n".join(lines)


def label_folds(dataset: Dataset, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Split the objects with at least one observed label into ``k`` random folds (the
    one fold rule of training's calibration and of ``starlux cv``). Objects with no
    label are never held out: they still train every fold's model."""
    has_label = np.zeros(dataset.n, bool)
    for o in dataset.outputs.values():
        if o.kind == "label":
            has_label |= (~o.missing).any(axis=1)
    cand = rng.permutation(np.flatnonzero(has_label))
    return [np.sort(f) for f in np.array_split(cand, k)]
