"""Label catalogues: APOGEE allStar, GALAH DR3 and generic FITS / CSV / Parquet tables.

Each reader selects label columns *by name* (case-insensitive; unknown names raise a
:class:`~starlux.data.DataError` that lists close matches), finds their error columns,
turns flagged or absent entries into missing ones (value NaN) and returns a
:class:`LabelTable`: a label-kind :class:`~starlux.data.Output` plus the object ids
used for cross-matching and a per-label count of what was masked and why.

Missing-entry rules applied while reading:

* blank / masked cells, non-finite values and values <= -9999 (the APOGEE/OCCAM
  "no value" sentinel) -> missing; error cells the same;
* allStar: ``<LABEL>_FLAG != 0`` -> that label missing; a bad ``ASPCAPFLAG`` bit
  (``STAR_BAD``, bit 23, by default) -> the whole row missing;
* GALAH DR3: ``flag_sp != 0`` -> the whole row missing; ``flag_<label> != 0``
  (``flag_fe_h``, ``flag_X_fe``) -> that label missing; errors from ``e_<label>``.

A label that is missing for *every* row raises an error naming the file and column.
Parquet needs ``pyarrow`` (``pip install 'starlux[extras]'``).
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..data import DataError, Output
from .crossmatch import normalize_ids
from .errors import FileFormatError
from .formats import astropy_format, format_name, format_of

__all__ = [
    "LabelTable", "read_table", "read_allstar", "read_galah_dr3", "read_label_table",
    "read_catalog", "labels_from_table", "table_colnames", "detect_catalog_kind", "SENTINEL",
]

SENTINEL = -9999.0
"""Catalogue values at or below this mean "no value"."""

APOGEE_ID_COLUMNS = ("apogee_id", "2mass_id", "tmass_id", "star_id", "apogee id")
GAIA_DR3_COLUMNS = ("gaiaedr3_source_id", "gaia_dr3_source_id", "gaiadr3_source_id",
                    "dr3_source_id", "gaia_edr3_source_id", "source_id")
ERR_PATTERNS = ("{}_err", "e_{}", "{}_error", "err_{}", "{}_sigma", "sig_{}", "e{}")
STAR_BAD_BIT = 23


@dataclass(frozen=True, eq=False)
class LabelTable:
    """Labels of N catalogue rows, with ids for cross-matching.

    Attributes:
        output: (N, M) label-kind Output (names as requested; missing = NaN).
        ids: id arrays by kind: ``"apogee_id"`` (str, ``2M...`` form) and/or
            ``"gaia_source_id"`` (int64, -1 = none), plus ``"row"`` (row in the file).
        source: the file read.
        columns: for each label, the (value, error, flag-or-None) columns used.
        mask_summary: for each label, entries made missing by the reader, by reason.
    """

    output: Output
    ids: dict[str, np.ndarray]
    source: str
    columns: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    mask_summary: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.output.n

    def __len__(self) -> int:
        return self.n

    def take(self, index: np.ndarray) -> LabelTable:
        """Rows ``index`` as a new LabelTable."""
        index = np.asarray(index)
        return LabelTable(output=self.output.take(index),
                          ids={k: v[index] for k, v in self.ids.items()},
                          source=self.source, columns=dict(self.columns),
                          mask_summary={k: dict(v) for k, v in self.mask_summary.items()})

    def match_ids(self) -> dict[str, np.ndarray]:
        """The id arrays usable for cross-matching (``row`` left out)."""
        return {k: v for k, v in self.ids.items() if k != "row"}

    def describe(self) -> str:
        """What was read and what was masked, one line per label."""
        lines = [f"{self.source}: {self.n} rows, labels {list(self.output.names)}"]
        for name in self.output.names:
            reasons = {k: v for k, v in self.mask_summary.get(name, {}).items() if v}
            n_miss = int(self.output.missing[:, self.output.names.index(name)].sum())
            other = n_miss - sum(reasons.values())
            if other > 0:
                reasons["invalid error (not finite, <= 0 or >= 9999)"] = other
            lines.append(f"  {name}: {n_miss} missing" + (f" ({reasons})" if reasons else ""))
        return "\n".join(lines)


# ------------------------------------------------------------------------ reading tables


def _wanted(names: Sequence[str], columns: Iterable[str] | None) -> list[str]:
    if columns is None:
        return list(names)
    want = {c.lower() for c in columns}
    return [n for n in names if n.lower() in want]


def read_table(path: str | os.PathLike, *, hdu: int | str | None = None,
               format: str | None = None, columns: Iterable[str] | None = None) -> Table:
    """Read a catalogue table: FITS (first table HDU, or ``hdu``), CSV, ECSV, Parquet,
    plain ASCII, or a numpy ``.npy`` structured array (no pickles).

    ``columns`` (case-insensitive; names the file lacks are ignored) limits what is
    kept; FITS tables are memory-mapped so only those columns are read, which keeps
    multi-GB allStar files cheap. Raises :class:`FileFormatError` naming the file for
    anything unreadable.
    """
    path = Path(path)
    fmt = format or format_of(path, "catalogue", what="table")
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    if fmt == "fits":
        return _read_fits_table(path, hdu, columns)
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise FileFormatError(f"{path}: reading Parquet needs pyarrow "
                                  "(pip install 'starlux[extras]')") from None
    try:
        if fmt == "npy":
            arr = np.load(path, allow_pickle=False, mmap_mode="r")
            if arr.dtype.names is None:
                raise FileFormatError(f"{path}: .npy file is not a structured (table) array")
            keep = [n for n in _wanted(arr.dtype.names, columns)
                    if arr.dtype[n].kind in "biufSU" and arr.dtype[n].shape == ()]
            return Table({n: np.array(arr[n]) for n in keep})
        table = Table.read(path, format=astropy_format(fmt))
    except FileFormatError:
        raise
    except Exception as exc:  # astropy/pyarrow raise many kinds
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileFormatError(f"{path}: cannot read as a {fmt} table ({reason})") from None
    if columns is not None:
        table = table[_wanted(table.colnames, columns)]
    return table


def _read_fits_table(path: Path, hdu: int | str | None,
                     columns: Iterable[str] | None) -> Table:
    failure = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, memmap=True, lazy_load_hdus=False) as hdul:
                if hdu is None:
                    idx = next((i for i, h in enumerate(hdul)
                                if isinstance(h, (fits.BinTableHDU, fits.TableHDU))), None)
                    if idx is None:
                        raise FileFormatError(f"{path}: no table HDU in this FITS file")
                else:
                    idx = hdu
                h = hdul[idx]
                if not isinstance(h, (fits.BinTableHDU, fits.TableHDU)):
                    raise FileFormatError(f"{path}: HDU {idx} is not a table")
                names = _wanted(h.columns.names, columns)
                data = h.data
                if data is None:
                    raise FileFormatError(f"{path}: table HDU {idx} has no rows")
                table = Table({n: np.array(data[n]) for n in names})
                nulls = {c.name: c.null for c in h.columns if c.null is not None}
        except FileFormatError:
            raise
        except Exception as exc:
            failure = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    truncated = [str(w.message) for w in caught if "truncated" in str(w.message).lower()]
    if truncated:
        raise FileFormatError(f"{path}: file is truncated ({truncated[0]})")
    if failure is not None:
        raise FileFormatError(f"{path}: cannot read as a FITS table ({failure})")
    for n, null in nulls.items():  # integer TNULL values mark blank cells
        if n in table.colnames and table[n].dtype.kind in "iu":
            table[n] = np.ma.MaskedArray(table[n], mask=np.asarray(table[n]) == null)
    return table


class _Columns:
    """Case-insensitive column lookup with helpful errors."""

    def __init__(self, table: Table, source: str, all_columns: Sequence[str] | None = None):
        self.table, self.source = table, source
        self.all_columns = list(all_columns) if all_columns is not None else table.colnames
        self.lower: dict[str, str] = {}
        for c in table.colnames:
            self.lower.setdefault(c.lower(), c)

    def find(self, name: str) -> str | None:
        if name in self.table.colnames:
            return name
        return self.lower.get(name.lower())

    def first(self, candidates: Iterable[str]) -> str | None:
        for c in candidates:
            hit = self.find(c)
            if hit is not None:
                return hit
        return None

    def require(self, names: Sequence[str], what: str = "label") -> list[str]:
        found = [self.find(n) for n in names]
        unknown = [n for n, f in zip(names, found, strict=True) if f is None]
        if unknown:
            hints = []
            lower_all = {c.lower(): c for c in self.all_columns}
            for u in unknown:
                close = difflib.get_close_matches(u.lower(), list(lower_all), n=3, cutoff=0.6)
                if close:
                    hints.append(f"{u!r} -> did you mean {[lower_all[c] for c in close]}?")
            cols = self.all_columns
            shown = ", ".join(cols[:40]) + (f", ... ({len(cols)} columns)" if len(cols) > 40
                                            else "")
            raise DataError(f"{self.source}: unknown {what} column(s) {unknown}"
                            + (f"; {'; '.join(hints)}" if hints else "")
                            + f"; available: {shown}")
        return found  # type: ignore[return-value]

    def numeric(self, col: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(values as float64, masked/blank cells, sentinel cells) of a scalar column."""
        c = self.table[col]
        if c.ndim != 1:
            raise DataError(f"{self.source}: column {col!r} holds vectors of shape "
                            f"{c.shape[1:]}; select a scalar column")
        data = np.ma.getdata(c)
        masked = np.ma.getmaskarray(c) if hasattr(c, "mask") else np.zeros(len(c), bool)
        if data.dtype.kind in "SU":
            vals = np.full(len(c), np.nan)
            for i, s in enumerate(data.astype(str)):
                s = s.strip()
                try:
                    vals[i] = float(s) if s else np.nan
                except ValueError:
                    raise DataError(f"{self.source}: column {col!r} is not numeric "
                                    f"(row {i}: {s!r})") from None
            masked = masked | np.array([not s.strip() for s in data.astype(str)], bool)
        elif data.dtype.kind in "biuf":
            vals = np.asarray(data, dtype=np.float64)
        else:
            raise DataError(f"{self.source}: column {col!r} is not numeric "
                            f"(dtype {data.dtype})")
        vals = np.where(masked, np.nan, vals)
        sentinel = np.isfinite(vals) & (vals <= SENTINEL)
        return np.where(sentinel, np.nan, vals), masked, sentinel


def _flag_nonzero(cols: _Columns, col: str) -> np.ndarray:
    c = cols.table[col]
    data = np.ma.getdata(c)
    if data.dtype.kind in "SU":
        return np.array([bool(str(s).strip()) and str(s).strip() not in ("0", "0.0")
                         for s in data.astype(str)])
    if c.ndim != 1:
        raise DataError(f"{cols.source}: flag column {col!r} is not a scalar column")
    flags = np.asarray(data)
    out = flags != 0
    if np.issubdtype(flags.dtype, np.floating):
        out &= ~np.isnan(flags)
    return out


def labels_from_table(
    table: Table,
    labels: Sequence[str],
    *,
    source: str,
    errors: Mapping[str, str] | None = None,
    err_patterns: Sequence[str] = ERR_PATTERNS,
    flags: Mapping[str, str] | None = None,
    flag_patterns: Sequence[str] = (),
    row_flags: Sequence[tuple[str, np.ndarray]] = (),
    id_column: str | None = None,
    gaia_column: str | None = None,
    allow_empty: bool = False,
    all_columns: Sequence[str] | None = None,
) -> LabelTable:
    """Build a :class:`LabelTable` from an astropy table.

    Args:
        table: the catalogue.
        labels: label names to select (case-insensitive column names).
        source: file name, for messages.
        errors: explicit ``{label: error column}``; otherwise the first existing of
            ``err_patterns`` (``"{}_err"``, ``"e_{}"`` ...) is used.
        flags: explicit ``{label: flag column}``; otherwise the first existing of
            ``flag_patterns``. A non-zero flag makes the entry missing.
        row_flags: ``(reason, (N,) bool)`` pairs; True rows lose all labels.
        id_column, gaia_column: id columns (default: found by common names).
        allow_empty: do not raise when a label is missing in every row.
        all_columns: every column of the file (when ``table`` holds only some), for
            the "unknown column" message.
    """
    labels = [str(s) for s in labels]
    if not labels:
        raise DataError(f"{source}: no label names given")
    if len(set(s.lower() for s in labels)) != len(labels):
        raise DataError(f"{source}: label names repeated in {labels}")
    cols = _Columns(table, source, all_columns)
    found = cols.require(labels)
    n = len(table)
    values = np.full((n, len(labels)), np.nan)
    errs = np.full((n, len(labels)), np.nan)
    used: dict[str, tuple[str, str, str | None]] = {}
    summary: dict[str, dict[str, int]] = {}
    row_bad = np.zeros(n, dtype=bool)
    row_reasons = []
    for reason, bad in row_flags:
        bad = np.asarray(bad, dtype=bool)
        row_reasons.append((reason, bad & ~row_bad))
        row_bad |= bad
    for j, (name, col) in enumerate(zip(labels, found, strict=True)):
        if errors and name in errors:
            ecol = cols.require([errors[name]], what=f"error (for {name!r})")[0]
        else:
            ecol = cols.first(p.format(col) for p in err_patterns)
            if ecol is None:
                tried = [p.format(col) for p in err_patterns]
                raise DataError(f"{source}: label {name!r} (column {col!r}) has no error "
                                f"column (looked for {tried[:4]} ...); name it explicitly")
        if flags and name in flags:
            fcol = cols.require([flags[name]], what=f"flag (for {name!r})")[0]
        else:
            fcol = cols.first(p.format(col) for p in flag_patterns)
        v, v_masked, v_sent = cols.numeric(col)
        e, e_masked, e_sent = cols.numeric(ecol)
        reasons: dict[str, int] = {}
        miss = np.zeros(n, dtype=bool)

        def add(why: str, m: np.ndarray, reasons: dict[str, int] = reasons,
                miss: np.ndarray = miss) -> None:
            reasons[why] = int(np.count_nonzero(m & ~miss))
            miss |= m

        for why, m in row_reasons:
            add(why, m)
        add("blank in file", v_masked | e_masked)
        add(f"value <= {SENTINEL:g}", v_sent)
        add(f"error <= {SENTINEL:g}", e_sent)
        add("value not finite", ~np.isfinite(v))
        if fcol is not None:
            add(f"{fcol} != 0", _flag_nonzero(cols, fcol))
        values[:, j] = np.where(miss, np.nan, v)
        errs[:, j] = np.where(miss, np.nan, e)
        used[name] = (col, ecol, fcol)
        summary[name] = reasons
    output = Output.create(values, errs, kind="label", names=labels, label=source)
    if not allow_empty and n > 0:
        empty = np.flatnonzero(output.missing.all(axis=0))
        if empty.size:
            j = int(empty[0])
            name = labels[j]
            why = {k: v for k, v in summary[name].items() if v}
            if not why:
                why = {"invalid error (non-finite, <= 0 or >= 9999)": n}
            raise DataError(f"{source}: column {used[name][0]!r}: all {n} values are missing "
                            f"({why}); drop this label")
    ids: dict[str, np.ndarray] = {"row": np.arange(n)}
    acol = cols.require([id_column], what="id")[0] if id_column \
        else cols.first(APOGEE_ID_COLUMNS)
    if acol is not None:
        ids["apogee_id"] = normalize_ids(table[acol], "apogee_id")
    gcol = cols.require([gaia_column], what="Gaia id")[0] if gaia_column \
        else cols.first(GAIA_DR3_COLUMNS)
    if gcol is not None:
        ids["gaia_source_id"] = normalize_ids(table[gcol], "gaia_source_id")
    return LabelTable(output=output, ids=ids, source=source, columns=used,
                      mask_summary=summary)


# ----------------------------------------------------------------------- survey readers


def _needed(labels: Sequence[str], patterns: Sequence[str], *extra: object) -> list[str]:
    out = []
    for name in labels:
        out.append(name)
        out.extend(p.format(name) for p in patterns)
    for e in extra:
        if isinstance(e, str):
            out.append(e)
        elif isinstance(e, Mapping):
            out.extend(str(v) for v in e.values())
        elif e is not None:
            out.extend(str(v) for v in e)  # type: ignore[union-attr]
    return out


def table_colnames(path: str | os.PathLike, *, hdu: int | str | None = None) -> list[str]:
    """Column names of a table file (FITS: from the header only)."""
    path = Path(path)
    if format_name(path) == "fits" and path.exists():
        try:
            with fits.open(path, memmap=True) as hdul:
                h = hdul[hdu] if hdu is not None else next(
                    (h for h in hdul if isinstance(h, (fits.BinTableHDU, fits.TableHDU))), None)
                if h is not None and hasattr(h, "columns"):
                    return list(h.columns.names)
        except Exception:
            pass  # fall through: read_table gives the proper error
    return list(read_table(path, hdu=hdu).colnames)


def _load(path: Path, hdu: int | str | None, needed: list[str]) -> tuple[Table, list[str]]:
    """(table with the needed columns, every column name of the file)."""
    if format_name(path) == "fits":
        table = read_table(path, hdu=hdu, columns=needed)
        return table, table_colnames(path, hdu=hdu)
    table = read_table(path, hdu=hdu)
    return table, list(table.colnames)


def read_allstar(
    path: str | os.PathLike,
    labels: Sequence[str],
    *,
    hdu: int | None = None,
    use_flags: bool = True,
    aspcapflag_bits: Iterable[int] = (STAR_BAD_BIT,),
    primary_only: bool = False,
    id_column: str | None = None,
    gaia_column: str | None = None,
    allow_empty: bool = False,
) -> LabelTable:
    """Read labels from an APOGEE allStar catalogue (FITS, or any :func:`read_table` file).

    Errors come from ``<LABEL>_ERR``; ``<LABEL>_FLAG != 0`` and the ``aspcapflag_bits``
    of ``ASPCAPFLAG`` (default STAR_BAD) make entries missing when ``use_flags``.
    ``primary_only`` drops rows with EXTRATARG bit 4 (duplicate observations).
    Ids: ``APOGEE_ID`` and the Gaia (E)DR3 ``source_id`` column if there is one.
    """
    path = Path(path)
    table, all_columns = _load(path, hdu, _needed(
        labels, ("{}_ERR", "{}_FLAG"), ["ASPCAPFLAG", "EXTRATARG"], APOGEE_ID_COLUMNS,
        GAIA_DR3_COLUMNS, [id_column or "", gaia_column or ""]))
    cols = _Columns(table, str(path))
    if primary_only:
        et = cols.find("EXTRATARG")
        if et is None:
            raise DataError(f"{path}: primary_only needs an EXTRATARG column")
        table = table[(np.asarray(table[et]).astype(np.int64) & 16) == 0]
        cols = _Columns(table, str(path))
    row_flags = []
    if use_flags:
        af = cols.find("ASPCAPFLAG")
        if af is not None and np.ma.getdata(table[af]).dtype.kind in "iu":
            bits = 0
            for b in aspcapflag_bits:
                bits |= 1 << int(b)
            flag = np.asarray(np.ma.getdata(table[af])).astype(np.int64)
            row_flags.append((f"{af} bad bits {sorted(aspcapflag_bits)}", (flag & bits) != 0))
    return labels_from_table(
        table, labels, source=str(path), err_patterns=("{}_ERR", "{}_err"),
        flag_patterns=("{}_FLAG",) if use_flags else (), row_flags=row_flags,
        id_column=id_column, gaia_column=gaia_column, allow_empty=allow_empty,
        all_columns=all_columns)


def read_galah_dr3(
    path: str | os.PathLike,
    labels: Sequence[str],
    *,
    hdu: int | None = None,
    use_flags: bool = True,
    id_column: str | None = None,
    gaia_column: str | None = None,
    allow_empty: bool = False,
) -> LabelTable:
    """Read labels from a GALAH DR3 catalogue (``main_star``-style columns).

    Errors from ``e_<label>``; ``flag_sp != 0`` empties the row and ``flag_<label>``
    (``flag_fe_h``, ``flag_Mg_fe`` ...) ``!= 0`` empties that label, when ``use_flags``.
    Ids: ``star_id`` (the 2MASS designation) and ``dr3_source_id``.
    """
    path = Path(path)
    table, all_columns = _load(path, hdu, _needed(
        labels, ("e_{}", "{}_err", "flag_{}"), ["flag_sp", "sobject_id"], APOGEE_ID_COLUMNS,
        GAIA_DR3_COLUMNS, [id_column or "", gaia_column or ""]))
    cols = _Columns(table, str(path))
    row_flags = []
    if use_flags:
        sp = cols.find("flag_sp")
        if sp is None:
            raise DataError(f"{path}: no 'flag_sp' column; is this a GALAH DR3 catalogue? "
                            "(use read_label_table for other tables)")
        row_flags.append((f"{sp} != 0", _flag_nonzero(cols, sp)))
    return labels_from_table(
        table, labels, source=str(path), err_patterns=("e_{}", "{}_err"),
        flag_patterns=("flag_{}",) if use_flags else (), row_flags=row_flags,
        id_column=id_column, gaia_column=gaia_column, allow_empty=allow_empty,
        all_columns=all_columns)


def read_label_table(
    path: str | os.PathLike,
    labels: Sequence[str],
    *,
    errors: Mapping[str, str] | None = None,
    flags: Mapping[str, str] | None = None,
    hdu: int | None = None,
    id_column: str | None = None,
    gaia_column: str | None = None,
    allow_empty: bool = False,
) -> LabelTable:
    """Read labels from any FITS / CSV / ECSV / Parquet / .npy table.

    Error columns are ``errors[label]`` or the first of ``<label>_err``, ``e_<label>``,
    ``<label>_error`` ... that exists; ``flags[label] != 0`` or ``<label>_flag != 0``
    make entries missing.
    """
    path = Path(path)
    table, all_columns = _load(path, hdu, _needed(
        labels, ERR_PATTERNS + ("{}_flag", "{}_FLAG"), errors, flags, APOGEE_ID_COLUMNS,
        GAIA_DR3_COLUMNS, [id_column or "", gaia_column or ""]))
    return labels_from_table(table, labels, source=str(path), errors=errors, flags=flags,
                             flag_patterns=("{}_flag", "{}_FLAG"), id_column=id_column,
                             gaia_column=gaia_column, allow_empty=allow_empty,
                             all_columns=all_columns)


CatalogKind = Literal["auto", "allstar", "galah", "table"]


def detect_catalog_kind(colnames: Iterable[str]) -> str:
    """``"galah"`` (has flag_sp and sobject_id), ``"allstar"`` (has APOGEE_ID and some
    ``*_ERR``/ASPCAPFLAG columns) or ``"table"``."""
    lower = {c.lower() for c in colnames}
    if "flag_sp" in lower and ("sobject_id" in lower or "star_id" in lower):
        return "galah"
    if "apogee_id" in lower and ("aspcapflag" in lower or any(c.endswith("_err")
                                                               for c in lower)):
        return "allstar"
    return "table"


def read_catalog(path: str | os.PathLike, labels: Sequence[str], *,
                 kind: CatalogKind = "auto", **kwargs: object) -> LabelTable:
    """Read a catalogue of any supported kind (``kind="auto"`` looks at the columns)."""
    if kind == "auto":
        kind = detect_catalog_kind(table_colnames(path))  # type: ignore[assignment]
    if kind == "allstar":
        return read_allstar(path, labels, **kwargs)  # type: ignore[arg-type]
    if kind == "galah":
        return read_galah_dr3(path, labels, **kwargs)  # type: ignore[arg-type]
    if kind == "table":
        return read_label_table(path, labels, **kwargs)  # type: ignore[arg-type]
    raise DataError(f"unknown catalogue kind {kind!r}; use auto, allstar, galah or table")
