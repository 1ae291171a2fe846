"""Broad-band photometry as one more output (paper §6.1): Gaia G, BP, RP and 2MASS J,
H, Ks magnitudes, relative to one band, with their errors and covariance.

Why relative magnitudes: a Gaia XP spectrum in a dataset is divided by its median,
so it says nothing about the distance; magnitudes relative to one band (``BP-G``,
``RP-G``, ``J-G``, ``H-G``, ``K-G`` with the default reference G) are the colours,
which carry temperature and extinction, and nothing else. Each is ``m_band - m_ref``
in mag; five of them hold everything six magnitudes say about the spectral shape.

Columns read (case-insensitive, the first found; the Gaia archive's names first):

* G, BP, RP: ``phot_g_mean_mag``, ``phot_bp_mean_mag``, ``phot_rp_mean_mag``, also with
  a ``gaiaedr3_`` / ``gaiadr3_`` / ``dr3_`` prefix; errors ``1.0857 /
  phot_g_mean_flux_over_error`` (same prefixes) or ``phot_g_mean_mag_error``;
* J, H, Ks: ``j_m``, ``h_m``, ``ks_m`` (the 2MASS PSC), ``j``, ``h``, ``k``, ``jmag``,
  ``j_mag`` ...; errors ``j_msigcom`` (2MASS), ``j_err``, ``e_jmag`` ... .

Errors, when the file gives none (the shared APOGEE x XP table has no photometric
errors): **0.01 mag for G, BP and RP** and **0.03 mag for J, H and Ks**. These are
chosen, not measured star by star: Gaia's random errors for stars this bright
(G < 15) are of order a millimagnitude (Riello et al. 2021, A&A 649, A3), well
below what limits a colour, its calibration, which that paper validates at the
per-cent level; 2MASS quotes rms uncertainties below 0.03 mag for unconfused bright
stars and 0.02-0.05 mag for the saturated ones brighter than about 9 mag (2MASS
Explanatory Supplement, §VI.1). The error of ``m - m_ref`` is
``sqrt(s_m^2 + s_ref^2)``, and because every entry shares the reference band's
error, the output carries the exact per-object covariance
``diag(s_m^2) + s_ref^2 * 1 1^T`` (:attr:`~starlux.data.Output.covariance`).

The output is of kind ``"spectrum"``: an observed input the latents are inferred
from, with a fitted extra scatter per colour, not a label to predict (module
:mod:`starlux.io.gaiaxp`, ``photometry=``; docs/gaia-xp.md). The fitted scatter
absorbs what the chosen errors leave out (calibration, variability, and what the
model cannot reproduce), and because ``starlux train`` infers its held-out
predictions from every spectrum-kind output, the error calibration and the choice of
P then hold for predictions from spectra *and* photometry.

``ak_targ`` (APOGEE's targeting K-band extinction, from the RJCE method or, where it
cannot be used, the SFD map) has no error column; as a label it gets
:data:`AK_TARG_ERROR`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from ..data import DataError, Output

__all__ = ["Band", "BANDS", "DEFAULT_BANDS", "AK_TARG_ERROR", "photometry_output",
           "find_band_columns", "colour_name", "derived_label_errors"]

AK_TARG_ERROR = 0.035
"""1-sigma error given to ``ak_targ`` (mag). Derived on the shared APOGEE x XP table:
A_K estimated two more ways, from the J-Ks and the BP-RP colour excess at each star's
APOGEE Teff, log g and [Fe/H] (a cubic intrinsic-colour relation fitted together with
the extinction coefficient, 3,500-6,500 K stars), and the three estimates' robust
pairwise scatters (0.042, 0.042 and 0.034 mag) split by the three-cornered hat: 0.034
mag for ``ak_targ``, rounded up. Errors the two colour estimates share (the intrinsic-colour
relation) make this an upper bound. For comparison, RJCE's photometric error alone,
0.918 * sqrt(0.03^2 + 0.02^2) (2MASS H and WISE 4.5 um), is 0.033 mag."""

_GAIA_PREFIXES = ("", "gaiaedr3_", "gaiadr3_", "dr3_", "gaia_")
_FLUX_TO_MAG = 2.5 / np.log(10.0)  # 1.0857: sigma_m = 1.0857 sigma_f / f


@dataclass(frozen=True)
class Band:
    """One photometric band: its printed name, the columns that may hold its
    magnitude and error, and the error used when the file gives none (mag)."""

    name: str
    survey: str
    magnitude: tuple[str, ...]
    error: tuple[str, ...]
    flux_over_error: tuple[str, ...]
    typical_error: float


def _gaia(band: str) -> Band:
    return Band(name=band.upper(), survey="Gaia",
                magnitude=tuple(f"{p}phot_{band}_mean_mag" for p in _GAIA_PREFIXES),
                error=tuple(f"{p}phot_{band}_mean_mag_error" for p in _GAIA_PREFIXES),
                flux_over_error=tuple(f"{p}phot_{band}_mean_flux_over_error"
                                      for p in _GAIA_PREFIXES),
                typical_error=0.01)


def _tmass(band: str, psc: str) -> Band:
    names = (f"{psc}_m", band, f"{band}mag", f"{band}_mag", f"tmass_{psc}_m",
             f"{band}_2mass", f"{band}mag_2mass")
    errors = (f"{psc}_msigcom", f"{psc}_cmsig", f"{band}_err", f"e_{band}mag", f"{band}_error",
              f"e_{band}", f"{band}mag_err", f"{band}_mag_err", f"tmass_{psc}_msigcom")
    return Band(name=band.upper(), survey="2MASS", magnitude=names, error=errors,
                flux_over_error=(), typical_error=0.03)


BANDS: dict[str, Band] = {
    "G": _gaia("g"), "BP": _gaia("bp"), "RP": _gaia("rp"),
    "J": _tmass("j", "j"), "H": _tmass("h", "h"), "K": _tmass("k", "ks"),
}
"""The bands starlux reads, by name (``KS`` is accepted for ``K``)."""
DEFAULT_BANDS = ("G", "BP", "RP", "J", "H", "K")

DERIVED_LABEL_ERRORS: dict[str, float] = {"ak_targ": AK_TARG_ERROR}


def derived_label_errors() -> dict[str, float]:
    """Labels that files give without an error column, and the error starlux uses."""
    return dict(DERIVED_LABEL_ERRORS)


def _band(name: str) -> Band:
    key = str(name).strip().upper()
    key = {"KS": "K", "GBP": "BP", "GRP": "RP", "G_BP": "BP", "G_RP": "RP"}.get(key, key)
    if key not in BANDS:
        raise DataError(f"unknown photometric band {name!r}; starlux reads "
                        f"{', '.join(BANDS)}")
    return BANDS[key]


def colour_name(band: str, reference: str) -> str:
    """The column name of ``m_band - m_reference``: ``"BP-G"``."""
    return f"{_band(band).name}-{_band(reference).name}"


def _lookup(table: Table) -> dict[str, str]:
    return {c.lower(): c for c in table.colnames}


def find_band_columns(table: Table, band: str) -> tuple[str | None, str | None, str | None]:
    """(magnitude, error, flux_over_error) columns of ``band`` in ``table`` (None when
    absent)."""
    b = _band(band)
    lower = _lookup(table)

    def first(names: Sequence[str]) -> str | None:
        return next((lower[n.lower()] for n in names if n.lower() in lower), None)

    return first(b.magnitude), first(b.error), first(b.flux_over_error)


def _column(table: Table, col: str) -> np.ndarray:
    c = table[col]
    data = np.ma.getdata(c)
    if data.ndim != 1 or data.dtype.kind not in "biuf":
        raise DataError(f"column {col!r} is not a numeric scalar column")
    return np.ma.filled(np.ma.asarray(c).astype(np.float64), np.nan)


def photometry_output(
    table: Table,
    bands: Sequence[str] | None = None,
    reference: str = "G",
    *,
    source: str = "",
) -> tuple[Output, list[str]]:
    """The photometry of ``table`` as a ``"spectrum"``-kind :class:`Output` of
    magnitudes relative to ``reference`` (module docstring), and report lines.

    Args:
        table: one row per object.
        bands: the bands to use (default: every one of :data:`DEFAULT_BANDS` found;
            the reference is always needed). Naming a band the table lacks is an error.
        reference: the band subtracted from the others (default G, which every Gaia
            source has).
        source: the file name, for messages.

    Returns:
        An (N, B-1) output with names ``"BP-G"`` ..., errors in mag and the per-object
        covariance; entries whose band or reference magnitude is missing (blank, NaN)
        are missing.
    """
    where = f"{source}: " if source else ""
    ref = _band(reference)
    if bands is None:
        use = [b for b in DEFAULT_BANDS if find_band_columns(table, b)[0] is not None]
    else:
        use = [_band(b).name for b in bands]
        if len(set(use)) != len(use):
            raise DataError(f"{where}photometric bands repeated: {list(bands)}")
        absent = [b for b in use if find_band_columns(table, b)[0] is None]
        if absent:
            raise DataError(f"{where}no magnitude column for band(s) {', '.join(absent)} "
                            f"(looked for e.g. {BANDS[absent[0]].magnitude[0]!r})")
    if ref.name not in use:
        if find_band_columns(table, ref.name)[0] is None:
            raise DataError(f"{where}no magnitude column for the reference band {ref.name} "
                            f"(looked for e.g. {ref.magnitude[0]!r})")
        use.insert(0, ref.name)
    others = [b for b in use if b != ref.name]
    if not others:
        raise DataError(f"{where}photometry needs at least one band besides the reference "
                        f"{ref.name}")
    n = len(table)
    mags, errs, lines = {}, {}, []
    for b in use:
        mcol, ecol, fcol = find_band_columns(table, b)
        assert mcol is not None
        m = _column(table, mcol)
        if ecol is not None:
            e, how = _column(table, ecol), f"errors from {ecol!r}"
        elif fcol is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                e = _FLUX_TO_MAG / _column(table, fcol)
            how = f"errors 1.0857 / {fcol!r}"
        else:
            e = np.full(n, BANDS[b].typical_error)
            how = f"no error column: {BANDS[b].typical_error:g} mag"
        bad = ~(np.isfinite(m) & np.isfinite(e) & (e > 0))
        m, e = np.where(bad, np.nan, m), np.where(bad, np.nan, e)
        mags[b], errs[b] = m, e
        lines.append(f"{b} ({BANDS[b].survey}) from {mcol!r}, {how}; "
                     f"{int(bad.sum())} missing")
    values = np.stack([mags[b] - mags[ref.name] for b in others], axis=1)
    var_b = np.stack([errs[b] ** 2 for b in others], axis=1)
    var_r = errs[ref.name] ** 2
    errors = np.sqrt(var_b + var_r[:, None])
    k = len(others)
    cov = var_r[:, None, None] * np.ones((1, k, k))
    cov[:, np.arange(k), np.arange(k)] += var_b
    cov = np.where(np.isfinite(cov), cov, 0.0)  # missing entries: zeroed by Output.create
    names = [colour_name(b, ref.name) for b in others]
    out = Output.create(values, errors, kind="spectrum", names=names, label="phot",
                        covariance=cov)
    lines.insert(0, f"photometry -> {', '.join(names)} (mag, relative to {ref.name}); "
                    f"{int(out.missing.any(axis=1).sum())} object(s) with a missing entry")
    return out, lines
