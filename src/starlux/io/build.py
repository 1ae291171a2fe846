"""``starlux build-dataset``: survey files in, one starlux dataset file out.

Pipeline (paper §2.1): read APOGEE spectra onto one grid (bad pixels missing),
continuum-normalise raw apStar/apVisit spectra (aspcapStar spectra are used as they
are) — or read Gaia XP spectra (:mod:`starlux.io.gaiaxp`: sampled, or XP_CONTINUOUS
coefficients with their covariance) —, read label catalogues (flags -> missing),
cross-match on APOGEE_ID/2MASS id or Gaia DR3 ``source_id``, check that no object,
spectrum or label column is left without any usable entry, and write the dataset
atomically in the layout that ``starlux train`` and ``starlux predict`` read.

The ``starlux build-dataset`` command is :mod:`starlux.commands.build_dataset`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..data import DataError, Dataset
from .apogee import Spectra, read_apogee_spectra
from .catalogs import LabelTable, detect_catalog_kind, read_catalog, table_colnames
from .continuum import normalize_spectra
from .crossmatch import ID_KEYS, merge_outputs
from .gaiaxp import XPSpectra, read_xp_spectra

__all__ = ["CatalogSpec", "XPSpec", "BuildResult", "build_dataset", "build_from_files",
           "check_dataset"]


@dataclass
class CatalogSpec:
    """One catalogue to join: file, label names, output name, kind, match key."""

    path: str
    labels: list[str]
    output: str | None = None
    kind: str = "auto"
    match_on: str = "apogee_id"


@dataclass
class XPSpec:
    """A Gaia XP file to read as the spectra (see :func:`starlux.io.gaiaxp.read_xp_spectra`).

    ``labels`` are label columns of the same file (the APOGEE x XP table carries
    them); they become the output ``label``. ``sampling`` is in nm. ``photometry``
    (True, or a list of bands) reads the same file's Gaia / 2MASS magnitudes as output
    ``phot``, relative to ``photometry_reference`` (:mod:`starlux.io.photometry`).
    """

    path: str
    labels: list[str] = field(default_factory=list)
    representation: Literal["sampled", "coefficients"] = "sampled"
    sampling: np.ndarray | None = None
    truncation: bool = False
    normalize: bool = True
    on_bad: Literal["mask", "error"] = "mask"
    photometry: bool | list[str] = False
    photometry_reference: str = "G"


@dataclass
class BuildResult:
    """The dataset built and a human-readable report (what was read, matched, masked)."""

    dataset: Dataset
    report: list[str] = field(default_factory=list)


def _fmt(d: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in d.items() if v and not k.startswith("total")) \
        or "nothing"


def check_dataset(ds: Dataset, *, sources: dict[str, str] | None = None,
                  files: np.ndarray | None = None, optional: Sequence[str] = ()) -> None:
    """Raise :class:`DataError` if an object's spectrum or the whole object is empty,
    or a label column has no usable entry.

    ``sources`` maps output names to the file they came from; ``files`` gives the
    source file of each object's spectrum. Spectral pixels missing for every object
    (chip gaps) are allowed: they carry zero weight. Spectrum-kind outputs named in
    ``optional`` (photometry) may be empty for some objects.
    """
    sources = sources or {}
    ids = ds.ids if ds.ids is not None else np.arange(ds.n)
    for name, o in ds.outputs.items():
        src = sources.get(name, name)
        if o.kind == "label":
            empty = np.flatnonzero(o.missing.all(axis=0))
            if empty.size:
                col = o.names[int(empty[0])]
                raise DataError(f"{src}: column {col!r} (output {name!r}): no usable value "
                                f"among the {ds.n} objects; drop this label")
        elif name not in optional:
            rows = np.flatnonzero(o.missing.all(axis=1))
            if rows.size:
                i = int(rows[0])
                where = files[i] if files is not None else f"object {ids[i]}"
                raise DataError(f"{where}: every pixel of the {name!r} spectrum is missing "
                                f"({len(rows)} such object(s))")
    none = np.ones(ds.n, dtype=bool)
    for o in ds.outputs.values():
        none &= o.missing.all(axis=1)
    if none.any():
        i = int(np.flatnonzero(none)[0])
        raise DataError(f"object {ids[i]}: no usable entry in any output "
                        f"({int(none.sum())} such object(s))")


def build_dataset(
    spectra: Spectra | XPSpectra | None,
    catalogs: Sequence[tuple[str, LabelTable, str]] = (),
    *,
    keep_unmatched: bool = False,
    drop_empty: bool = False,
    on_duplicate: Literal["error", "first"] = "error",
) -> BuildResult:
    """Combine spectra and catalogue labels into one :class:`Dataset`.

    Args:
        spectra: the spectra (define the objects): APOGEE :class:`Spectra`, or Gaia
            :class:`~starlux.io.gaiaxp.XPSpectra` (output ``flux``, ids = Gaia source
            ids), or None for a labels-only dataset whose objects are the rows of the
            first catalogue.
        catalogs: ``(output_name, table, match_key)``; ``match_key`` is ``apogee_id``
            or ``gaia_source_id``.
        keep_unmatched: keep objects without a catalogue match (their labels missing);
            default keeps only objects matched in every catalogue.
        drop_empty: drop matched objects whose catalogue labels are all missing
            (flagged) instead of raising an error.
        on_duplicate: duplicated ids in a catalogue -> ``"error"`` or keep ``"first"``.
    """
    report: list[str] = []
    sources: dict[str, str] = {}
    ids_key = None
    optional: list[str] = []
    if isinstance(spectra, XPSpectra):
        base = {"flux": spectra.to_output("flux")}
        if spectra.photometry is not None:
            base["phot"] = spectra.photometry
            sources["phot"] = spectra.source
            optional.append("phot")
        base_ids = {"gaia_source_id": spectra.source_id}
        if "apogee_id" in spectra.meta:  # the APOGEE x XP table: match allStar too
            base_ids["apogee_id"] = spectra.meta["apogee_id"]
        base_extras = {k: v for k, v in spectra.meta.items() if k != "apogee_id"}
        base_name, others, ids_key = spectra.source, list(catalogs), "gaia_source_id"
        sources["flux"] = spectra.source
    elif spectra is not None:
        base = {"flux": spectra.to_output("flux")}
        base_ids: dict[str, np.ndarray] = {"apogee_id": spectra.ids}
        if "gaia_source_id" in spectra.meta:
            base_ids["gaia_source_id"] = spectra.meta["gaia_source_id"]
        base_extras = {k: v for k, v in spectra.meta.items() if k != "gaia_source_id"}
        base_extras["source_file"] = spectra.files
        base_extras["spectrum_kind"] = spectra.kinds
        base_name, others = "spectra", list(catalogs)
    else:
        if not catalogs:
            raise DataError("nothing to build: give spectra and/or a catalogue")
        name0, t0, _ = catalogs[0]
        base = {name0: t0.output}
        base_ids = t0.match_ids()
        base_extras = {}
        sources[name0] = t0.source
        base_name, others = t0.source, list(catalogs[1:])
    for name, t, _ in catalogs:
        sources[name] = t.source
    merged = merge_outputs(
        base, base_ids,
        [(name, t.output, t.match_ids(), key, t.source) for name, t, key in others],
        how="left" if keep_unmatched else "inner", base_name=base_name,
        on_duplicate=on_duplicate, base_extras=base_extras, ids_key=ids_key)
    for m in merged.matches:
        if m.n_matched == 0:
            raise DataError(f"{m.right_name}: no row matches any of the {m.n_left} "
                            f"{m.left_name} on {m.key} ({m.summary()})")
        report.append(m.summary())
    ds = merged.dataset
    # matched rows whose labels were all flagged away
    drop = np.zeros(ds.n, dtype=bool)
    for name, hit in merged.matched.items():
        empty = hit & ds[name].missing.all(axis=1)
        if empty.any():
            src = sources[name]
            if not drop_empty:
                i = int(np.flatnonzero(empty)[0])
                raise DataError(f"{src}: {int(empty.sum())} matched object(s) have every "
                                f"label of output {name!r} missing (flagged or blank; e.g. "
                                f"{ds.ids[i]}); use --drop-empty to drop them")
            drop |= empty
            report.append(f"{src}: dropped {int(empty.sum())} matched object(s) whose "
                          f"labels are all missing")
    if drop.any():
        if drop.all():
            raise DataError("no objects left after dropping those with all labels missing")
        ds = _rebuild(ds.take(np.flatnonzero(~drop)))
    files = np.asarray(ds.extras["source_file"]) if "source_file" in ds.extras else None
    check_dataset(ds, sources=sources, files=files, optional=optional)
    if keep_unmatched:
        for name, hit in merged.matched.items():
            report.append(f"{sources[name]}: {int((~hit).sum())} object(s) without a match "
                          f"keep output {name!r} missing")
    report.append(ds.describe())
    for name, o in ds.outputs.items():
        report.append(f"  masked in {name!r}: {_fmt(o.mask_summary)}")
    return BuildResult(dataset=ds, report=report)


def _rebuild(ds: Dataset) -> Dataset:
    """Recompute mask summaries after taking rows."""
    from ..data import Output

    return Dataset(
        outputs={k: Output.create(o.values, o.errors, kind=o.kind, names=o.names,
                                  wavelength=o.wavelength, label=k, covariance=o.covariance)
                 for k, o in ds.outputs.items()},
        ids=ds.ids, extras=ds.extras)


def build_from_files(
    spectra: Sequence[str] | None,
    catalogs: Sequence[CatalogSpec] = (),
    *,
    normalize: bool | None = None,
    continuum: str = "pixels",
    grid: str = "apstar",
    resample: bool = False,
    row: int = 0,
    keep_unmatched: bool = False,
    drop_empty: bool = False,
    on_duplicate: Literal["error", "first"] = "error",
    xp: XPSpec | None = None,
) -> BuildResult:
    """Read spectra and catalogues from files and :func:`build_dataset`.

    ``normalize``: None or True continuum-normalises apStar/apVisit spectra (aspcapStar
    spectra are already normalised and used as they are); False uses all as read.
    ``xp``: read Gaia XP spectra instead of APOGEE ``spectra`` (with the labels of the
    same file, if it names any); catalogues then match on ``gaia_source_id`` (or on
    ``apogee_id`` where the XP file carries APOGEE ids).
    """
    report: list[str] = []
    spec: Spectra | XPSpectra | None = None
    tables: list[tuple[str, LabelTable, str]] = []
    used: set[str] = set()
    if xp is not None:
        if spectra:
            raise DataError("give APOGEE spectra (--spectra) or Gaia XP spectra (--xp), "
                            "not both")
        spec = read_xp_spectra(xp.path, representation=xp.representation,
                               sampling=xp.sampling, truncation=xp.truncation,
                               normalize=xp.normalize, labels=xp.labels or None,
                               on_bad=xp.on_bad, on_duplicate=on_duplicate,
                               photometry=xp.photometry,
                               photometry_reference=xp.photometry_reference)
        report.extend(spec.report)
        used.add("flux")
        if spec.photometry is not None:
            used.add("phot")
        if spec.labels is not None:
            report.append("XP file labels -> output 'label': " + spec.labels.describe())
            tables.append(("label", spec.labels, "gaia_source_id"))
            used.add("label")
    elif spectra:
        spec = read_apogee_spectra(spectra, grid=grid, resample=resample, row=row,
                                   on_duplicate=on_duplicate)
        kinds = dict(zip(*np.unique(spec.kinds, return_counts=True), strict=True))
        report.append(f"read {spec.n} spectra ({', '.join(f'{v} {k}' for k, v in kinds.items())})"
                      f" on a {spec.wavelength.size}-pixel grid; reader masked: "
                      f"{_fmt(spec.mask_summary)}")
        if normalize is False:
            if not spec.normalized.all():
                report.append("warning: raw (not continuum-normalised) spectra kept as read; "
                              "the inverse variance < 0.1 rule then applies in raw flux units")
        else:
            todo = int((~spec.normalized).sum())
            spec = normalize_spectra(spec, method=continuum)  # type: ignore[arg-type]
            if todo:
                med = np.nanmedian(spec.flux, axis=1)
                report.append(f"continuum-normalised {todo} spectra ({continuum}); median "
                              f"normalised flux {np.nanmin(med):.3f}-{np.nanmax(med):.3f}")
        bad = np.flatnonzero(~(np.isfinite(spec.flux) & np.isfinite(spec.flux_err)
                               & (spec.flux_err > 0)).any(axis=1))
        if bad.size:
            raise DataError(f"{spec.files[bad[0]]}: no usable pixel left after continuum "
                            "normalisation")
    if isinstance(spec, Spectra):
        used.add("flux")
    for i, c in enumerate(catalogs):
        kind = c.kind
        if kind == "auto":
            kind = detect_catalog_kind(table_colnames(c.path))
        t = read_catalog(c.path, c.labels, kind=kind)  # type: ignore[arg-type]
        name = c.output or ("label" if "label" not in used
                            else (kind if kind in ("galah", "allstar") and kind not in used
                                  else f"label{i + 1}"))
        if name in used:
            raise DataError(f"{c.path}: output name {name!r} is already used; choose "
                            "another with --output-name")
        used.add(name)
        if c.match_on not in ID_KEYS:
            raise DataError(f"{c.path}: --match-on must be one of {list(ID_KEYS)}, "
                            f"got {c.match_on!r}")
        report.append(f"catalogue ({kind}) -> output {name!r}: " + t.describe())
        tables.append((name, t, c.match_on))
    try:
        result = build_dataset(spec, tables, keep_unmatched=keep_unmatched,
                               drop_empty=drop_empty, on_duplicate=on_duplicate)
    except DataError as exc:
        if isinstance(spec, Spectra) and not spec.normalized.all() \
                and "every pixel" in str(exc):
            raise DataError(f"{exc} (the flux is not continuum-normalised, and the inverse "
                            "variance < 0.1 rule is meant for normalised flux; drop "
                            "--no-normalize)") from None
        raise
    result.report[:0] = report
    return result
