"""What a label name means to an astronomer: its unit and its printed name.

One table, used by the tables (:meth:`starlux.prediction.Prediction.to_table`, the
prediction files) and by every figure, so that a column called ``PARAM_M_H`` is
written as [M/H] in dex everywhere and ``TEFF`` as T_eff in K.

Names are matched case-insensitively; survey prefixes and suffixes such as
``PARAM_`` or ``_SPEC`` are ignored, and any ``X_FE`` / ``X_H`` / ``X_M`` column is an
abundance ratio [X/Fe], [X/H] or [X/M] in dex. A photometric colour written
``BAND-BAND`` (``BP-G``, ``J-G``, ``G-K``: :mod:`starlux.io.photometry`) and the K-band
extinction (``AK_TARG``, ``A_K``) are in mag. Unknown names keep their own name and
get no unit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LabelInfo", "label_info", "label_unit", "axis_label", "delta_label", "format_value",
           "find_label", "LABEL_ALIASES"]


@dataclass(frozen=True)
class LabelInfo:
    """A label's printed name (matplotlib mathtext and plain text) and unit.

    ``unit`` is written the way astropy and FITS headers spell it (``"K"``, ``"dex"``,
    ``"km / s"``); an empty string means dimensionless or unknown.
    """

    name: str
    tex: str
    text: str
    unit: str


# canonical key -> (mathtext, plain text, unit)
_KNOWN: dict[str, tuple[str, str, str]] = {
    "TEFF": (r"$T_\mathrm{eff}$", "T_eff", "K"),
    "LOGG": (r"$\log g$", "log g", "dex"),
    "M_H": ("[M/H]", "[M/H]", "dex"),
    "FE_H": ("[Fe/H]", "[Fe/H]", "dex"),
    "ALPHA_M": (r"[$\alpha$/M]", "[alpha/M]", "dex"),
    "ALPHA_FE": (r"[$\alpha$/Fe]", "[alpha/Fe]", "dex"),
    "VMACRO": (r"$v_\mathrm{macro}$", "v_macro", "km / s"),
    "VMICRO": (r"$v_\mathrm{micro}$", "v_micro", "km / s"),
    "VSINI": (r"$v \sin i$", "v sin i", "km / s"),
    "VBROAD": (r"$v_\mathrm{broad}$", "v_broad", "km / s"),
    "VRAD": (r"$v_\mathrm{rad}$", "v_rad", "km / s"),
    "AK_TARG": (r"$A_K$", "A_K", "mag"),
    "A_K": (r"$A_K$", "A_K", "mag"),
    "AK": (r"$A_K$", "A_K", "mag"),
}

_BAND_TEX = {"G": "G", "BP": r"G_\mathrm{BP}", "RP": r"G_\mathrm{RP}", "J": "J", "H": "H",
             "K": r"K_s", "KS": r"K_s"}
_COLOUR = re.compile(r"^(G|BP|RP|J|H|KS?)-(G|BP|RP|J|H|KS?)$")

_SYNONYMS = {"T_EFF": "TEFF", "LOG_G": "LOGG", "MH": "M_H", "FEH": "FE_H",
             "VMAC": "VMACRO", "VMIC": "VMICRO", "ALPHA": "ALPHA_M"}

_ABUNDANCE = re.compile(r"^([A-Z][A-Z]?|ALPHA)_(FE|H|M)$")


def _canonical(name: str) -> str:
    key = name.upper().strip()
    for pre in ("PARAM_", "X_H_", "X_M_"):
        if key.startswith(pre) and key != pre.rstrip("_"):
            if pre == "X_H_":
                return f"{key[len(pre):]}_H"
            if pre == "X_M_":
                return f"{key[len(pre):]}_M"
            key = key[len(pre):]
    for suf in ("_SPEC", "_ASPCAP", "_CANNON"):
        if key.endswith(suf):
            key = key[: -len(suf)]
    return _SYNONYMS.get(key, key)


def label_info(name: str) -> LabelInfo:
    """The printed name and unit of label ``name`` (see the module docstring)."""
    key = _canonical(name)
    c = _COLOUR.match(key)
    if c:
        a, b = c.groups()
        return LabelInfo(name, f"${_BAND_TEX[a]} - {_BAND_TEX[b]}$", f"{a}-{b}", "mag")
    if key in _KNOWN:
        tex, text, unit = _KNOWN[key]
        return LabelInfo(name, tex, text, unit)
    m = _ABUNDANCE.match(key)
    if m:
        el = m.group(1).capitalize()
        ref = {"FE": "Fe", "H": "H", "M": "M"}[m.group(2)]
        if el == "Alpha":
            return LabelInfo(name, rf"[$\alpha$/{ref}]", f"[alpha/{ref}]", "dex")
        return LabelInfo(name, f"[{el}/{ref}]", f"[{el}/{ref}]", "dex")
    return LabelInfo(name, name, name, "")


def label_unit(name: str) -> str:
    """The unit of label ``name`` as astropy spells it ("" when unknown)."""
    return label_info(name).unit


def format_value(name: str, value: float) -> str:
    """``value`` of label ``name`` printed to a sensible precision with its unit:
    whole kelvin, two decimals in dex."""
    info = label_info(name)
    if info.unit == "K":
        return f"{value:.0f} K"
    if info.unit == "dex":
        return f"{round(value, 2) + 0.0:.2f}"  # + 0.0: never "-0.00"
    return f"{value:.3g} {_unit_text(info.unit)}".rstrip()


def _unit_text(unit: str) -> str:
    return {"km / s": "km/s"}.get(unit, unit)


def axis_label(name: str, qualifier: str = "") -> str:
    """An axis label with the proper name and the unit, e.g. ``$T_\\mathrm{eff}$ (K)``;
    ``qualifier`` goes in front ("predicted", "catalogue")."""
    info = label_info(name)
    unit = f" ({_unit_text(info.unit)})" if info.unit else ""
    front = f"{qualifier} " if qualifier else ""
    return f"{front}{info.tex}{unit}"


def delta_label(name: str, what: str = "") -> str:
    """A residual axis label, e.g. ``Δ $T_\\mathrm{eff}$ (K)``; ``what`` is appended in
    parentheses before the unit when given (e.g. "pred. − cat.")."""
    info = label_info(name)
    parts = [f"Δ {info.tex}"]
    if what:
        parts.append(what)
    if info.unit:
        parts.append(f"({_unit_text(info.unit)})")
    return " ".join(parts)


# candidate column names for the diagram axes, matched case-insensitively
LABEL_ALIASES: dict[str, tuple[str, ...]] = {
    "teff": ("TEFF", "T_EFF", "PARAM_TEFF", "TEFF_SPEC"),
    "logg": ("LOGG", "LOG_G", "PARAM_LOGG", "LOGG_SPEC"),
    "feh": ("FE_H", "M_H", "PARAM_M_H", "FEH", "MH", "X_H_FE", "PARAM_FE_H"),
    "mgfe": ("MG_FE", "MGFE", "X_M_MG", "ALPHA_FE", "ALPHA_M", "PARAM_ALPHA_M"),
}


def find_label(names: Sequence[str], what: str) -> str | None:
    """The first of ``names`` matching one of :data:`LABEL_ALIASES` [what]
    (case-insensitive), in alias order; None when absent."""
    lower = {n.lower(): n for n in names}
    for alias in LABEL_ALIASES[what]:
        if alias.lower() in lower:
            return lower[alias.lower()]
    return None
