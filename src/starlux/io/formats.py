"""File formats: the one table of suffixes, what each file can hold, and astropy names.

Every reader and writer of starlux asks this module what a path is:

==============  =========  ====================================================
suffix          format     holds
==============  =========  ====================================================
``.npz``        npz        dataset, prediction arrays
``.h5``         hdf5       dataset, prediction arrays, model
``.hdf5``       hdf5       dataset, prediction arrays, model
``.fits``       fits       dataset, label table, catalogue, XP spectra
``.fit``        fits       dataset, label table, catalogue, XP spectra
``.fits.gz``    fits       catalogue, XP spectra
``.csv``        csv        label dataset, label table, catalogue, XP spectra
``.ecsv``       ecsv       label table, catalogue, XP spectra
``.parquet``    parquet    label dataset, catalogue
``.pq``         parquet    label dataset, catalogue
``.npy``        npy        catalogue (a structured array)
``.txt``        ascii      catalogue
``.dat``        ascii      catalogue
``.xml``        votable    XP spectra
``.vot``        votable    XP spectra
``.avro``       avro       XP spectra
==============  =========  ====================================================

What a file holds:

* ``dataset``: the starlux dataset layout with any outputs, spectra included
  (:mod:`starlux.io.datasets`; read in chunks by :mod:`starlux.io.chunked`);
* ``label dataset``: a dataset of label outputs only, one row per object
  (:mod:`starlux.io.tabular`);
* ``prediction arrays``: the array layout of :mod:`starlux.io.predictions`;
* ``label table``: a prediction as a label table, one row per object
  (:func:`starlux.tables.label_table`);
* ``catalogue``: a survey label catalogue (:mod:`starlux.io.catalogs`);
* ``model``: a model file (:mod:`starlux.io.models`);
* ``XP spectra``: Gaia XP spectra as the Gaia archive and GaiaXPy write them, sampled
  or as XP_CONTINUOUS coefficients (:mod:`starlux.io.gaiaxp`).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import FileFormatError

__all__ = ["SUFFIXES", "HOLDS", "ASTROPY_FORMATS", "suffix_of", "format_name", "format_of",
           "can_hold", "suffixes", "format_suffixes", "astropy_format"]

_DATASET, _LABELS, _ARRAYS = "dataset", "label dataset", "prediction arrays"
_TABLE, _CATALOGUE, _MODEL = "label table", "catalogue", "model"
_XP = "XP spectra"

_TABLE_ROWS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (".npz", "npz", (_DATASET, _ARRAYS)),
    (".h5", "hdf5", (_DATASET, _ARRAYS, _MODEL)),
    (".hdf5", "hdf5", (_DATASET, _ARRAYS, _MODEL)),
    (".fits", "fits", (_DATASET, _TABLE, _CATALOGUE, _XP)),
    (".fit", "fits", (_DATASET, _TABLE, _CATALOGUE, _XP)),
    (".fits.gz", "fits", (_CATALOGUE, _XP)),
    (".csv", "csv", (_LABELS, _TABLE, _CATALOGUE, _XP)),
    (".ecsv", "ecsv", (_TABLE, _CATALOGUE, _XP)),
    (".parquet", "parquet", (_LABELS, _CATALOGUE)),
    (".pq", "parquet", (_LABELS, _CATALOGUE)),
    (".npy", "npy", (_CATALOGUE,)),
    (".txt", "ascii", (_CATALOGUE,)),
    (".dat", "ascii", (_CATALOGUE,)),
    (".xml", "votable", (_XP,)),
    (".vot", "votable", (_XP,)),
    (".avro", "avro", (_XP,)),
)

SUFFIXES: dict[str, str] = {suffix: fmt for suffix, fmt, _ in _TABLE_ROWS}
"""Suffix (lower case, ``.fits.gz`` as one) -> format name."""

HOLDS: dict[str, tuple[str, ...]] = {suffix: holds for suffix, _, holds in _TABLE_ROWS}
"""Suffix -> what a file of that suffix can hold (module docstring)."""

ASTROPY_FORMATS: dict[str, str] = {"fits": "fits", "csv": "ascii.csv", "ecsv": "ascii.ecsv",
                                   "parquet": "parquet", "ascii": "ascii",
                                   "votable": "votable"}
"""Format name -> the ``format=`` of :meth:`astropy.table.Table.read` / ``write``."""

_COMPOUND = tuple(s for s in SUFFIXES if s.count(".") > 1)


def suffix_of(path: str | os.PathLike) -> str:
    """The lower-case suffix of ``path`` that the table knows it by (``.fits.gz`` whole);
    ``""`` when the name has none."""
    name = Path(path).name.lower()
    for s in _COMPOUND:
        if name.endswith(s):
            return s
    return Path(name).suffix


def format_name(path: str | os.PathLike) -> str | None:
    """The format of ``path`` by its suffix, or ``None`` for a suffix not in the table."""
    return SUFFIXES.get(suffix_of(path))


def can_hold(path: str | os.PathLike, *holds: str) -> bool:
    """True if a file named like ``path`` can hold one of ``holds``."""
    return suffix_of(path) in suffixes(*holds)


def suffixes(*holds: str) -> tuple[str, ...]:
    """The suffixes of the files that can hold any of ``holds``, in table order."""
    unknown = set(holds) - {h for row in HOLDS.values() for h in row}
    if unknown:
        raise ValueError(f"unknown kind(s) of file content {sorted(unknown)}")
    return tuple(s for s, what in HOLDS.items() if set(what) & set(holds))


def format_suffixes(fmt: str) -> tuple[str, ...]:
    """The suffixes of one format, in table order (``"fits"``: ``.fits``, ``.fit``,
    ``.fits.gz``)."""
    return tuple(s for s, f in SUFFIXES.items() if f == fmt)


def format_of(path: str | os.PathLike, *holds: str, what: str | None = None) -> str:
    """The format of ``path``, which must be able to hold one of ``holds``.

    Raises :class:`FileFormatError` naming the path, its suffix and the accepted
    suffixes (one line); ``what`` names the kind of file in that message (default: the
    first of ``holds``).
    """
    accepted = suffixes(*holds)
    suffix = suffix_of(path)
    if suffix not in accepted:
        raise FileFormatError(f"{path}: unknown {what or holds[0]} format {suffix!r} "
                              f"(use {', '.join(accepted)})")
    return SUFFIXES[suffix]


def astropy_format(fmt: str) -> str:
    """The astropy ``format=`` string of a format name (other strings pass unchanged,
    so that an astropy name such as ``"ascii.basic"`` can be given directly)."""
    return ASTROPY_FORMATS.get(fmt, fmt)
