"""Cross-matching objects between spectra and catalogues by APOGEE/2MASS id or Gaia id.

Two id kinds (``key``):

* ``"apogee_id"`` — APOGEE_ID / 2MASS designation. ``2M03292572-6933158``,
  ``J03292572-6933158`` and ``03292572-6933158`` (GALAH ``star_id``) are the same
  star; all are normalised to the ``2M...`` form. Other ids are compared stripped and
  upper-cased.
* ``"gaia_source_id"`` — Gaia DR3 (= EDR3) ``source_id``, an int64. Zero, negative,
  blank or masked ids mean "no id" and never match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..data import DataError, Dataset, Output

__all__ = ["ID_KEYS", "normalize_ids", "Match", "crossmatch", "merge_outputs", "Merged"]

IdKey = Literal["apogee_id", "gaia_source_id"]
ID_KEYS: tuple[str, ...] = ("apogee_id", "gaia_source_id")
_TMASS = re.compile(r"^(?:2M|J|2MASS\s*J?)?(\d{8}[+-]\d{7})$")


def _as_str(values: Iterable[object]) -> list[str]:
    out = []
    for v in values:
        if v is None or v is np.ma.masked:
            out.append("")
        elif isinstance(v, bytes):
            out.append(v.decode("ascii", "replace"))
        else:
            out.append(str(v))
    return out


def normalize_ids(values: object, key: str) -> np.ndarray:
    """Ids in a comparable form: (N,) str for ``apogee_id``, (N,) int64 for Gaia.

    Missing ids become ``""`` (apogee_id) or ``-1`` (Gaia).
    """
    if key not in ID_KEYS:
        raise DataError(f"unknown id kind {key!r}; use one of {list(ID_KEYS)}")
    arr = values if isinstance(values, np.ma.MaskedArray) else np.asarray(values)
    masked = np.ma.getmaskarray(arr) if isinstance(arr, np.ma.MaskedArray) \
        else np.zeros(np.shape(arr), dtype=bool)
    flat = np.ma.getdata(arr).ravel()
    if key == "apogee_id":
        out = []
        for s, m in zip(_as_str(flat), masked.ravel(), strict=True):
            s = "" if m else s.strip().upper()
            hit = _TMASS.match(s)
            out.append("2M" + hit.group(1) if hit else s)
        return np.array(out, dtype=str) if out else np.array([], dtype=str)
    ids = np.full(flat.size, -1, dtype=np.int64)
    if flat.dtype.kind in "iu":
        ids[:] = flat.astype(np.int64)
    else:
        for i, s in enumerate(_as_str(flat)):
            try:
                f = s.strip()
                ids[i] = int(f) if f else -1
            except ValueError:
                try:
                    ids[i] = int(float(s))  # e.g. "1.234e18" written by a spreadsheet
                except (ValueError, OverflowError):
                    ids[i] = -1
    ids[masked.ravel() | (ids <= 0)] = -1
    return ids


def _valid(ids: np.ndarray) -> np.ndarray:
    return ids != "" if ids.dtype.kind in "US" else ids > 0


def _duplicates(ids: np.ndarray) -> list[object]:
    v = ids[_valid(ids)]
    u, c = np.unique(v, return_counts=True)
    return list(u[c > 1])


@dataclass(frozen=True)
class Match:
    """Result of a cross-match: ``left[k]`` is the same object as ``right[k]``.

    Attributes:
        key: the id kind matched on.
        left, right: (K,) row indices into the two sides.
        n_left, n_right: number of rows on each side; ``n_left_with_id`` etc. count rows
            that had a usable id.
        left_name, right_name: what the sides are (file names) for reports.
    """

    key: str
    left: np.ndarray
    right: np.ndarray
    n_left: int
    n_right: int
    n_left_with_id: int
    n_right_with_id: int
    left_name: str = "left"
    right_name: str = "right"

    @property
    def n_matched(self) -> int:
        return int(self.left.size)

    def unmatched_left(self) -> np.ndarray:
        """Row indices of the left side without a partner."""
        return np.setdiff1d(np.arange(self.n_left), self.left)

    def summary(self) -> str:
        """One line: how many matched, on which key."""
        return (f"matched {self.n_matched} of {self.n_left} ({self.left_name}) with "
                f"{self.n_right} ({self.right_name}) on {self.key}"
                + ("" if self.n_left_with_id == self.n_left
                   else f"; {self.n_left - self.n_left_with_id} {self.left_name} rows "
                        "have no id")
                + ("" if self.n_right_with_id == self.n_right
                   else f"; {self.n_right - self.n_right_with_id} {self.right_name} rows "
                        "have no id"))


def crossmatch(
    left_ids: object,
    right_ids: object,
    *,
    key: str = "apogee_id",
    left_name: str = "left",
    right_name: str = "right",
    on_duplicate: Literal["error", "first"] = "error",
) -> Match:
    """Match two id lists exactly (after :func:`normalize_ids`).

    Duplicated ids on either side raise a :class:`DataError` naming the side, the key
    and up to five of the ids, unless ``on_duplicate="first"`` (first row wins).
    Matches are returned in the order of the left side.
    """
    lid = normalize_ids(left_ids, key)
    rid = normalize_ids(right_ids, key)
    for ids, name in ((lid, left_name), (rid, right_name)):
        dups = _duplicates(ids)
        if dups and on_duplicate == "error":
            shown = ", ".join(str(d) for d in dups[:5])
            raise DataError(f"{name}: {len(dups)} duplicated {key} value(s) ({shown}"
                            f"{', ...' if len(dups) > 5 else ''}); use --on-duplicate "
                            "first (on_duplicate='first' in Python) to keep the first row "
                            "of each")
    first_right: dict[object, int] = {}
    for j, v in enumerate(rid.tolist()):
        if (v != "" if isinstance(v, str) else v > 0):
            first_right.setdefault(v, j)
    li, ri, seen = [], [], set()
    for i, v in enumerate(lid.tolist()):
        j = first_right.get(v)
        if j is None or v in seen:
            continue
        seen.add(v)
        li.append(i)
        ri.append(j)
    return Match(key=key, left=np.array(li, dtype=int), right=np.array(ri, dtype=int),
                 n_left=int(lid.size), n_right=int(rid.size),
                 n_left_with_id=int(_valid(lid).sum()), n_right_with_id=int(_valid(rid).sum()),
                 left_name=left_name, right_name=right_name)


@dataclass(frozen=True, eq=False)
class Merged:
    """Result of :func:`merge_outputs`.

    Attributes:
        dataset: the merged dataset (K objects).
        matches: one :class:`Match` per catalogue joined.
        base_rows: (K,) rows of the base objects kept.
        matched: per joined output name, (K,) True where the object had a match.
    """

    dataset: Dataset
    matches: list[Match]
    base_rows: np.ndarray
    matched: dict[str, np.ndarray]


def _take_or_blank(o: Output, rows: np.ndarray, n: int, name: str) -> Output:
    """Rows of ``o`` placed at ``rows`` of an N-row block; other rows NaN (missing)."""
    cov = None
    if o.covariance is not None:  # blank rows: all entries missing, covariance 0
        cov = np.zeros((n, o.dim, o.dim))
        cov[rows[:, 0]] = o.covariance[rows[:, 1]]
    return Output.create(*_scatter(o, rows, n), kind=o.kind, names=o.names,
                         wavelength=o.wavelength, label=name, covariance=cov)


def _scatter(o: Output, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    v = np.full((n, o.dim), np.nan)
    e = np.full((n, o.dim), np.nan)
    vals = np.where(o.missing, np.nan, o.values)  # missing stays missing
    v[rows[:, 0]] = vals[rows[:, 1]]
    e[rows[:, 0]] = o.errors[rows[:, 1]]
    return v, e


def merge_outputs(
    base: Mapping[str, Output],
    base_ids: Mapping[str, np.ndarray],
    others: Sequence[tuple[str, Output, Mapping[str, np.ndarray], str, str]],
    *,
    how: Literal["inner", "left"] = "inner",
    base_name: str = "spectra",
    on_duplicate: Literal["error", "first"] = "error",
    ids_key: str | None = None,
    base_extras: Mapping[str, np.ndarray] | None = None,
) -> Merged:
    """Join further outputs onto a base set of objects by id.

    Args:
        base: outputs of the N base objects (e.g. ``{"flux": ...}``).
        base_ids: id arrays of the base objects by kind (``"apogee_id"``,
            ``"gaia_source_id"``).
        others: ``(output_name, output, ids_by_kind, key, source_name)`` for each
            catalogue to join, matched on ``key``. When a matched catalogue carries an
            id kind the base lacks (e.g. an allStar table's Gaia ids) it is copied onto
            the base objects, so a later catalogue can match on it.
        how: ``"inner"`` keeps base objects matched in every catalogue; ``"left"``
            keeps all base objects (unmatched catalogue entries are missing).
        ids_key: id kind stored as ``Dataset.ids`` (default ``apogee_id`` when the base
            has it); the other id kinds go to ``Dataset.extras``.
        base_extras: further (N,) arrays of the base objects, kept in ``extras``.

    Returns:
        A :class:`Merged` (dataset, matches, kept base rows, matched flags).
    """
    ids = {k: np.asarray(normalize_ids(v, k)) for k, v in base_ids.items()}
    n = next(iter(base.values())).n if base else len(next(iter(ids.values())))
    for k, v in ids.items():
        if v.shape != (n,):
            raise DataError(f"{base_name}: {k} ids have shape {v.shape}, expected ({n},)")
    placed: dict[str, tuple[Output, np.ndarray]] = {}
    matches: list[Match] = []
    keep = np.ones(n, dtype=bool)
    for name, out, oids, key, source in others:
        if name in base or name in placed:
            raise DataError(f"{source}: output name {name!r} is used twice; give each "
                            "catalogue its own output name")
        if key not in ids or not _valid(ids[key]).any():
            have = [k for k in ids if _valid(ids[k]).any()]
            raise DataError(
                f"{source}: cannot match on {key}: the {base_name} carry no {key} "
                f"(they have {have}); match on one of those, or first add a catalogue "
                f"with both ids (e.g. an allStar table) matched on apogee_id")
        if key not in oids:
            raise DataError(f"{source}: catalogue has no {key} column to match on")
        m = crossmatch(ids[key], oids[key], key=key, left_name=base_name,
                       right_name=source, on_duplicate=on_duplicate)
        matches.append(m)
        for k, v in oids.items():  # bridge ids the base lacks
            v = normalize_ids(v, k)
            if k not in ids:
                ids[k] = np.full(n, "" if v.dtype.kind in "US" else -1, dtype=v.dtype)
            if m.n_matched:
                fill = ~_valid(ids[k][m.left])
                ids[k][m.left[fill]] = v[m.right[fill]]
        hit = np.zeros(n, dtype=bool)
        hit[m.left] = True
        if how == "inner":
            keep &= hit
        placed[name] = (out, np.stack([m.left, m.right], axis=1))
    rows = np.flatnonzero(keep)
    pos = np.full(n, -1)
    pos[rows] = np.arange(rows.size)
    if rows.size == 0:
        raise DataError("no objects left after cross-matching: "
                        + "; ".join(m.summary() for m in matches))
    outputs: dict[str, Output] = {
        k: Output.create(o.values[rows], o.errors[rows], kind=o.kind, names=o.names,
                         wavelength=o.wavelength, label=k,
                         covariance=None if o.covariance is None else o.covariance[rows])
        for k, o in base.items()}
    matched: dict[str, np.ndarray] = {}
    for name, (out, pairs) in placed.items():
        pairs = pairs[keep[pairs[:, 0]]]
        pairs = np.stack([pos[pairs[:, 0]], pairs[:, 1]], axis=1)
        outputs[name] = _take_or_blank(out, pairs, rows.size, name)
        hit = np.zeros(rows.size, dtype=bool)
        hit[pairs[:, 0]] = True
        matched[name] = hit
    key = ids_key or ("apogee_id" if "apogee_id" in ids else next(iter(ids)))
    extras = {k: np.asarray(v)[rows] for k, v in (base_extras or {}).items()}
    extras.update({k: v[rows] for k, v in ids.items() if k != key})
    ds = Dataset(outputs=outputs, ids=ids[key][rows], extras=extras)
    return Merged(dataset=ds, matches=matches, base_rows=rows, matched=matched)
