"""The sections of the validation report, one small function each.

Every section takes the shared :class:`ReportContext` (the model, the data, the
predictions made once) and adds its figures, skipped items and notes to the
:class:`Report`. :data:`SECTIONS` lists them in page order; :mod:`.report` runs them
and renders the page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset, Output
from ..labels import find_label, format_value, label_info
from ..model import LuxModel
from ..prediction import Prediction
from . import plots, spectrum_plots
from .derivatives import derivative_spectra
from .metrics import label_metrics

__all__ = ["Report", "Figure", "ReportContext", "SECTIONS", "estimate_snr",
           "noise_realizations", "latent_embedding", "reference_labels"]


@dataclass
class Figure:
    """One figure of the page: its file, section title, caption, and how much of the
    grid it takes: one cell, two (``double``: side-by-side panels) or the page's full
    width (``wide``: spectra, many panels)."""

    path: Path
    section: str
    caption: str
    wide: bool = False
    double: bool = False


@dataclass
class Report:
    """What the report wrote: ``figures``, the ``index`` page, ``skipped`` (what, why),
    the label ``metrics`` rows and ``notes``."""

    out: Path
    index: Path
    figures: list[Figure] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [f.path for f in self.figures]

    def add(self, path: Path, section: str, caption: str, wide: bool = False,
            double: bool = False) -> None:
        self.figures.append(Figure(Path(path), section, caption, wide, double))


@dataclass
class ReportContext:
    """Everything the sections share, computed once by :func:`.report.make_report`.

    ``reference[k]`` (N, D) holds the values each label output is compared with, the
    truth (``label_true`` in the data) when present, else the catalogue;
    ``reference_err[k]`` the catalogue errors (None against the truth).
    """

    model: LuxModel
    dataset: Dataset
    out: Path
    flux_output: str
    label_outputs: list[str]
    pred: Prediction
    pred_lab: Prediction | None
    has_labels: np.ndarray
    snr: np.ndarray
    snr_source: str
    wavelength: np.ndarray | None
    zoom: tuple[float, float] | None
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    reference_err: dict[str, np.ndarray | None] = field(default_factory=dict)
    reference_name: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    picked: np.ndarray = field(default_factory=lambda: np.array([], int))
    windows: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)

    @property
    def input_text(self) -> str:
        """What the labels are predicted from, for captions: "the spectra", or "the
        spectra and 'phot'"."""
        rest = [k for k in self.inputs if k != self.flux_output]
        return "the spectra" + (" and " + ", ".join(f"'{k}'" for k in rest) if rest else "")

    @property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.options.get("seed", 0))

    @property
    def multi(self) -> bool:
        return len(self.label_outputs) > 1

    def predicted(self) -> dict[str, np.ndarray]:
        """Label name -> (N,) predicted from spectra (first output wins on a clash)."""
        out: dict[str, np.ndarray] = {}
        for k in self.label_outputs:
            for j, n in enumerate(self.model.specs[k].names):
                out.setdefault(n, self.pred[k].values[:, j])
        return out

    def compared(self) -> tuple[dict[str, np.ndarray], str]:
        """Label name -> (N,) reference values (the truth when known, else the
        catalogue, NaN where missing), and what they are."""
        out: dict[str, np.ndarray] = {}
        what = []
        for k in self.label_outputs:
            if k not in self.reference:
                continue
            what.append(self.reference_name[k])
            for j, n in enumerate(self.model.specs[k].names):
                out.setdefault(n, self.reference[k][:, j])
        return out, (what[0] if len(set(what)) == 1 else "reference")


# ---------------------------------------------------------------------- helpers


def estimate_snr(dataset: Dataset, flux_output: str = "flux") -> tuple[np.ndarray, str]:
    """(N,) SNR per object and where it came from: the ``snr`` extra if present (any
    case), else the median of flux / flux_err over each object's observed pixels."""
    for k, v in dataset.extras.items():
        if k.lower() == "snr" and np.ndim(v) == 1 and len(v) == dataset.n:
            return np.asarray(v, dtype=float), f"'{k}' column of the data"
    o = dataset[flux_output]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(o.missing, np.nan, np.abs(o.values) / o.errors)
    snr = np.full(o.n, np.nan)
    ok = (~o.missing).any(axis=1)
    snr[ok] = np.nanmedian(ratio[ok], axis=1)
    return snr, "median flux / flux error over observed pixels"


def reference_labels(model: LuxModel, dataset: Dataset, output: str,
                     ) -> tuple[np.ndarray, np.ndarray | None, str]:
    """What ``output``'s predictions are compared with: (values (N, D), errors or None,
    name). The truth when the data carry ``label_true`` for this output (simulations),
    else the catalogue values and errors (NaN where missing)."""
    names = model.specs[output].names
    o = dataset[output]
    truth = dataset.extras.get(f"{output}_true")
    if truth is not None and np.shape(truth) == o.values.shape:
        cols = [list(o.names).index(n) for n in names]
        return np.asarray(truth, float)[:, cols], None, "truth"
    s = o.select(names)
    return (np.where(s.missing, np.nan, s.values), np.where(s.missing, np.nan, s.errors),
            "catalogue")


def noise_realizations(model: LuxModel, dataset: Dataset, k: int = 10, seed: int = 0,
                       flux_output: str = "flux", label_output: str = "label",
                       inputs: Sequence[str] | None = None) -> np.ndarray:
    """(K, N, M) labels predicted from K noisy copies of each spectrum.

    Every observed pixel gets Gaussian noise of its own error added (missing pixels
    stay missing); the spread over the K predictions is the label precision that
    the flux noise allows (paper §4.6, Fig. 10). Further ``inputs`` (photometry) are
    given as they are, without added noise.
    """
    rng = np.random.default_rng(seed)
    o = dataset[flux_output]
    others = [n for n in (inputs or ()) if n != flux_output]
    out = []
    for _ in range(k):
        noise = rng.normal(size=o.values.shape) * np.where(o.missing, 0.0, o.errors)
        noisy = Output(values=o.values + noise, errors=o.errors, kind=o.kind, names=o.names,
                       wavelength=o.wavelength, missing=o.missing,
                       mask_summary=o.mask_summary)
        ds = Dataset(outputs={flux_output: noisy, **{n: dataset[n] for n in others}},
                     ids=dataset.ids)
        p = model.predict(ds, inputs=[flux_output, *others], outputs=[label_output])
        out.append(p[label_output].values)
    return np.stack(out)


def latent_embedding(z: np.ndarray, method: str = "pca", perplexity: float = 25.0,
                     seed: int = 0, max_iter: int = 1000, standardize: bool = False,
                     ) -> np.ndarray | None:
    """(N, 2) embedding of latents: ``"pca"`` (numpy SVD) or ``"tsne"`` (scikit-learn,
    ``max_iter`` iterations; None when scikit-learn is not installed).

    Constant latents (the offset) are dropped and the rest centred. By default the
    latents keep their own scales (the model's units, in which the well-used
    directions are the large ones); ``standardize`` gives every latent unit variance
    instead, which lets poorly constrained directions weigh as much as the rest.
    """
    z = np.asarray(z, float)
    keep = np.std(z, axis=0) > 1e-12 * max(np.abs(z).max(), 1e-300)
    zs = z[:, keep] - z[:, keep].mean(0)
    if standardize:
        zs = zs / zs.std(0)
    if method == "pca":
        _, _, vt = np.linalg.svd(zs, full_matrices=False)
        return zs @ vt[:2].T
    if method == "tsne":
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            return None
        from threadpoolctl import threadpool_limits

        perp = min(perplexity, max(2.0, (len(z) - 1) / 3.0))
        tsne = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed,
                    max_iter=max_iter)
        # one OpenMP thread: the Barnes-Hut gradient is ~10x slower when its threads
        # compete with JAX's for the cores (and the result is then reproducible)
        with threadpool_limits(1):
            return tsne.fit_transform(zs)
    raise ValueError(f"unknown embedding {method!r}; use 'pca' or 'tsne'")


def pick_objects(values: np.ndarray, ok: np.ndarray, n: int) -> np.ndarray:
    """Up to n objects spread over the range of ``values`` (quantiles)."""
    idx = np.flatnonzero(ok & np.isfinite(values))
    if idx.size == 0:
        return np.flatnonzero(ok)[:n]
    order = idx[np.argsort(values[idx], kind="stable")]
    pos = np.unique(np.round(np.linspace(0, order.size - 1, min(n, order.size))).astype(int))
    return order[pos]


def default_zoom(wl: np.ndarray | None) -> tuple[float, float] | None:
    """A ~150 Å stretch (15700-15850 Å, rich in Fe and Mg lines, when on the grid,
    else the first tenth of the grid); None without wavelengths, and for Gaia XP
    grids, whose few hundred smooth samples the whole-spectrum figure already shows."""
    if wl is None or spectrum_plots.is_gaia_xp_grid(wl):
        return None
    lo, hi = float(np.nanmin(wl)), float(np.nanmax(wl))
    if lo <= 15700 and hi >= 15850:
        return 15700.0, 15850.0
    return lo, min(hi, lo + 0.1 * (hi - lo))


def _suffix(ctx: ReportContext, k: str) -> str:
    return f"_{k}" if ctx.multi else ""


def _range_text(ctx: ReportContext) -> str:
    if not ctx.zoom:
        return ""
    unit = spectrum_plots.wavelength_unit(ctx.wavelength)
    f = spectrum_plots.UNIT_PER_ANGSTROM[unit]
    return f"{ctx.zoom[0] * f:.0f}–{ctx.zoom[1] * f:.0f} {unit}"


# ---------------------------------------------------------------------- sections


def labels_section(ctx: ReportContext, rep: Report) -> None:
    """Metrics rows, one-to-one plots and residuals vs SNR for each label output."""
    sec = "Labels from spectra (Fig. 7)"
    for k in ctx.label_outputs:
        if k not in ctx.reference:
            rep.skipped.append((f"one-to-one plots of {k}",
                                "the data have no reference values for this output"))
            continue
        p, names = ctx.pred[k], ctx.model.specs[k].names
        ref, ref_err, what = ctx.reference[k], ctx.reference_err[k], ctx.reference_name[k]
        rows = label_metrics(p.values, p.errors, ref, names, reference_err=ref_err,
                             reference_is_truth=what == "truth")
        for r in rows:
            r["output"] = k
        rep.metrics += rows
        prefix = f"{k}_" if ctx.multi else ""
        for j, name in enumerate(names):
            path = ctx.out / f"one_to_one_{prefix}{name}.png"
            plots.one_to_one(p.values[:, j], ref[:, j], name, path, p.errors[:, j],
                             None if ref_err is None else ref_err[:, j],
                             reference_name=what, pred_name="starlux")
            rep.add(path, sec, f"{label_info(name).text} predicted from {ctx.input_text} vs the "
                    f"{what}, with bias, RMSE and mean errors; below, the residuals.")
        if np.isfinite(ctx.snr).any():
            path = ctx.out / f"residuals_vs_snr{_suffix(ctx, k)}.png"
            plots.residuals_vs_snr(p.values, ref, names, ctx.snr, path, pred_err=p.errors,
                                   reference_err=ref_err, reference_name=what)
            rep.add(path, "Residuals vs SNR",
                    f"{k + ': ' if ctx.multi else ''}Residual (predicted − {what}) against "
                    f"SNR ({ctx.snr_source}); "
                    "red: running median and 16–84 % band; dashed: the expected ±1σ, "
                    + ("the predicted error and the catalogue error in quadrature."
                       if ref_err is not None else "the predicted error."),
                    wide=len(names) >= 3)
        else:
            rep.skipped.append(("residuals vs SNR", "no SNR could be estimated"))


def calibration_section(ctx: ReportContext, rep: Report) -> None:
    """Per label: coverage within k·σ against the Gaussian curve, and std(Δ/σ) per SNR
    bin, against the truth when known, else the catalogue with its error added."""
    sec = "Error calibration"
    for k in ctx.label_outputs:
        if k not in ctx.reference:
            continue
        p, names = ctx.pred[k], ctx.model.specs[k].names
        ref, ref_err, what = ctx.reference[k], ctx.reference_err[k], ctx.reference_name[k]
        sigma = p.errors if ref_err is None else np.sqrt(p.errors**2 + ref_err**2)
        sig_text = ("predicted error" if ref_err is None
                    else "predicted error ⊕ catalogue error")
        prefix = f"{k}_" if ctx.multi else ""
        known = ctx.model.error_uncertainty.get(k)
        for j, name in enumerate(names):
            path = ctx.out / f"calibration_{prefix}{name}.png"
            plots.calibration_plot(p.values[:, j] - ref[:, j], sigma[:, j], ctx.snr, name,
                                   path, sigma_label=sig_text)
            pct = None if known is None or not np.isfinite(known[j]) else \
                100 * min(float(known[j]), 1.0)
            how_well = ("" if pct is None else
                        " From its training set, starlux knows this label's error bars "
                        f"only to ±{pct:.0f} % (1σ, limited by the catalogue noise): a "
                        f"std within about {2 * pct:.0f} % of 1 is as close as these "
                        "labels allow.")
            rep.add(path, sec, f"{label_info(name).text} against the {what}: the fraction "
                    "of objects within k·σ against k (dashed: a Gaussian, what honest errors "
                    "give: 0.68 at 1σ, 0.95 at 2σ), and the std of Δ/σ in SNR bins "
                    f"(1 for honest errors); σ = {sig_text}.{how_well}", double=True)


def diagrams_section(ctx: ReportContext, rep: Report) -> None:
    """Kiel and Tinsley-Wallerstein diagrams, predicted and catalogue side by side."""
    sec = "Kiel and Tinsley–Wallerstein diagrams (Fig. 8)"
    pred, (cat, what) = ctx.predicted(), ctx.compared()
    names = list(pred)
    teff, logg = find_label(names, "teff"), find_label(names, "logg")
    feh, mgfe = find_label(names, "feh"), find_label(names, "mgfe")
    if not cat:
        rep.skipped.append(("Kiel / Tinsley-Wallerstein diagrams", "no reference labels"))
        return
    full = {n: cat.get(n, np.full(ctx.dataset.n, np.nan)) for n in names}
    if teff and logg:
        path = ctx.out / "kiel.png"
        plots.label_diagram(pred, full, teff, logg, path, color=feh, invert=True,
                            titles=(f"starlux, from {ctx.input_text}", what),
                            suptitle="Kiel diagram")
        rep.add(path, sec, "log g against T_eff" + (f", coloured by {label_info(feh).text}"
                                                     if feh else "")
                + f": labels predicted from {ctx.input_text} (left) and the {what} (right).",
                double=True)
    else:
        rep.skipped.append(("Kiel diagram", "no Teff / logg labels"))
    if feh and mgfe:
        path = ctx.out / "tinsley_wallerstein.png"
        plots.label_diagram(pred, full, feh, mgfe, path, color=teff,
                            titles=(f"starlux, from {ctx.input_text}", what),
                            suptitle="Tinsley–Wallerstein diagram")
        rep.add(path, sec, f"{label_info(mgfe).text} against {label_info(feh).text}"
                + (", coloured by T_eff" if teff else "")
                + f": predicted (left) and the {what} (right).", double=True)
    else:
        rep.skipped.append(("Tinsley-Wallerstein diagram",
                            "no [Fe/H] and [Mg/Fe]-like labels"))


def _chi2_from_labels(ctx: ReportContext) -> np.ndarray:
    fo, spec = ctx.dataset[ctx.flux_output], ctx.model.specs[ctx.flux_output]
    f_lab = ctx.pred_lab[ctx.flux_output].values
    var = np.where(fo.missing, 1.0, fo.errors) ** 2
    if ctx.flux_output in ctx.model.ln_scatter:
        var = var + np.exp(2 * ctx.model.ln_scatter[ctx.flux_output])[None, :] * spec.scale**2
    r2 = np.where(fo.missing, 0.0, (fo.clean_values() - f_lab) ** 2 / var)
    nobs = (~fo.missing).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((nobs > 0) & ctx.has_labels, r2.sum(axis=1) / np.maximum(nobs, 1),
                        np.nan)


def spectra_section(ctx: ReportContext, rep: Report) -> None:
    """Reduced chi^2 histograms and data vs model spectra of a few objects."""
    sec = "Spectra (Figs. 3 and 4)"
    chi2 = {"latents from spectra": ctx.pred.chi2[ctx.flux_output]}
    if ctx.pred_lab is not None:
        chi2["latents from labels"] = _chi2_from_labels(ctx)
    path = ctx.out / "chi2_hist.png"
    plots.chi2_hist(chi2, path)
    rep.add(path, sec, "Reduced χ² of each object's spectrum (χ² / observed pixels, flux "
            "errors and fitted scatter in quadrature), the model spectrum from latents "
            "inferred from the spectrum itself and from the labels.")
    fo = ctx.dataset[ctx.flux_output]
    pred = ctx.predicted()
    first = find_label(list(pred), "teff") or next(iter(pred), None)
    ok = (~fo.missing).any(axis=1)
    if ctx.pred_lab is not None:
        ok &= ctx.has_labels
    ctx.picked = pick_objects(pred[first] if first else np.zeros(ctx.dataset.n), ok,
                              ctx.options.get("n_spectra", 4))
    if not ctx.picked.size:
        rep.skipped.append(("spectra", "no object with an observed spectrum"))
        return
    ids = ctx.dataset.ids if ctx.dataset.ids is not None else np.arange(ctx.dataset.n)
    names = list(pred)[:4]
    titles = [f"{ids[i]}: " + ", ".join(f"{label_info(n).tex} = {format_value(n, pred[n][i])}"
                                        for n in names)
              + f";  reduced χ² from the spectrum {ctx.pred.chi2[ctx.flux_output][i]:.2f}"
              for i in ctx.picked]
    f_lab = None if ctx.pred_lab is None else ctx.pred_lab[ctx.flux_output].values[ctx.picked]
    err = np.asarray(fo.errors[ctx.picked], float)
    noise = None
    if ctx.flux_output in ctx.model.ln_scatter:
        s2 = np.exp(2 * np.asarray(ctx.model.ln_scatter[ctx.flux_output])) \
            * np.asarray(ctx.model.specs[ctx.flux_output].scale) ** 2
        noise = np.sqrt(err ** 2 + s2[None, :])
    views = [("spectra.png", None, "the whole spectrum")]
    if ctx.zoom:
        views.append(("spectra_zoom.png", ctx.zoom, _range_text(ctx)))
    for fname, rng_w, what in views:
        path = ctx.out / fname
        spectrum_plots.spectra_comparison(
            ctx.wavelength, fo.values[ctx.picked], fo.missing[ctx.picked],
            ctx.pred[ctx.flux_output].values[ctx.picked], f_lab, titles, path,
            wave_range=rng_w, errors=err, noise=noise)
        rep.add(path, sec, f"{ctx.picked.size} objects spread in "
                f"{label_info(first).text if first else 'order'}, {what}: data (black) "
                "with its 1σ errors (grey band), the model from latents inferred from "
                f"{ctx.input_text} (cyan) and from the labels (navy); lower panels: "
                "data − model, the grey band the data's ±1σ"
                + (", dotted the errors with the model's fitted scatter in quadrature"
                   if noise is not None else "")
                + ". Missing pixels and chip gaps are not drawn.", wide=True)


def _window_masks(ctx: ReportContext, rep: Report) -> dict[str, np.ndarray]:
    windows = ctx.options.get("windows")
    if windows is None:
        return {}
    from ..masking import ElementWindows, label_element, read_aspcap_windows

    if ctx.wavelength is None:
        rep.notes.append("element windows were given but the spectra have no wavelengths")
        return {}
    ew = windows if isinstance(windows, ElementWindows) else read_aspcap_windows(windows)
    masks: dict[str, np.ndarray] = {}
    for k in ctx.label_outputs:
        for name in ctx.model.specs[k].names:
            el = label_element(name, ew.elements)
            if el is not None:
                masks[name] = ew.on_grid(ctx.wavelength, 0.0, [el])[el]
    if not masks:
        rep.notes.append("window files were given but no label matched an element")
    return masks


def derivatives_section(ctx: ReportContext, rep: Report) -> None:
    """Derivative spectra ∂label/∂flux = S A B⁺ (eq. 13), whole grid and zoomed."""
    sec = "Derivative spectra (eq. 13, Fig. 6)"
    ctx.windows = _window_masks(ctx, rep)
    views = [("", None, "the whole spectrum")]
    if ctx.zoom:
        views.append(("_zoom", ctx.zoom, _range_text(ctx)))
    for k in ctx.label_outputs:
        names = ctx.model.specs[k].names
        d = derivative_spectra(ctx.model, k, ctx.flux_output, method="pinv")
        example = (ctx.pred[ctx.flux_output].values[ctx.picked[0]] if ctx.picked.size
                   else None)
        out_text = f" of '{k}'" if ctx.multi else ""
        for tag, rng_w, what in views:
            path = ctx.out / f"derivative_spectra{_suffix(ctx, k)}{tag}.png"
            spectrum_plots.derivative_spectra_plot(
                ctx.wavelength, d, names, path, windows=ctx.windows or None,
                wave_range=rng_w, spectrum=example if tag else None,
                title=f"derivative spectra{out_text}: ∂(label)/∂(flux) = S A B⁺ (eq. 13)")
            rep.add(path, sec, f"How each label{out_text} responds to the flux, S A B⁺, in "
                    f"the label's unit per unit normalised flux, over {what}"
                    + ("; shaded: the label's ASPCAP element windows" if ctx.windows else "")
                    + ("; top: a model spectrum" if tag else "") + ".", wide=True)
    if ctx.windows and ctx.picked.size:
        _masked_section(ctx, rep)


def _masked_section(ctx: ReportContext, rep: Report) -> None:
    """Wavelength masking (paper §5): labels with an element window inferred from
    their window pixels only; derivative spectra and accuracy of those labels."""
    from ..masking import predict_masked

    k = ctx.label_outputs[0]
    names = ctx.model.specs[k].names
    masks = {n: m for n, m in ctx.windows.items() if n in names and m.any()}
    if not masks:
        return
    shown = [n for n in names if n in masks]
    d = derivative_spectra(ctx.model, k, ctx.flux_output, method="weighted",
                           dataset=ctx.dataset, index=int(ctx.picked[0]), masks=masks)
    rows = [names.index(n) for n in shown]
    views = [("", None, "the whole spectrum")]
    if ctx.zoom:
        views.append(("_zoom", ctx.zoom, _range_text(ctx)))
    for tag, rng_w, what in views:
        path = ctx.out / f"derivative_spectra_masked{tag}.png"
        spectrum_plots.derivative_spectra_plot(
            ctx.wavelength, d[rows], shown, path, windows=masks, wave_range=rng_w,
            title="masked: each label inferred from its element windows only "
                  "(exact inference Jacobian)")
        rep.add(path, "Wavelength masking (paper §5)",
                "∂label/∂flux when each label with an ASPCAP element window is inferred "
                "from its window pixels only (all other pixels get zero weight; the "
                "model's latent prior is kept): the exact Jacobian of that inference for "
                f"one object, over {what}; it is exactly zero outside the shaded windows.",
                wide=True)
    if k in ctx.reference:
        pm = predict_masked(ctx.model, ctx.dataset, masks, k, ctx.flux_output)
        ref, ref_err, what = ctx.reference[k], ctx.reference_err[k], ctx.reference_name[k]
        sel = [names.index(n) for n in shown]
        mrows = label_metrics(pm[k].values[:, sel], pm[k].errors[:, sel], ref[:, sel], shown,
                              reference_err=None if ref_err is None else ref_err[:, sel],
                              reference_is_truth=what == "truth")
        for r in mrows:
            r["output"] = f"{k} (windows only)"
        rep.metrics += mrows
        rep.notes.append("rows marked '(windows only)' in the metrics table: the label "
                         "inferred from its element-window pixels alone")


def precision_section(ctx: ReportContext, rep: Report) -> None:
    """Label precision vs SNR from K noise realisations and the Fisher error."""
    n_real = ctx.options.get("n_realizations", 10)
    fo = ctx.dataset[ctx.flux_output]
    if n_real <= 0 or not np.isfinite(ctx.snr).any():
        rep.skipped.append(("precision vs SNR", "no realisations requested"
                            if n_real <= 0 else "no SNR"))
        return
    sub = np.flatnonzero(np.isfinite(ctx.snr) & (~fo.missing).any(axis=1))
    cap = ctx.options.get("max_realization_objects", 500)
    if sub.size > cap:
        sub = np.sort(ctx.rng.choice(sub, cap, replace=False))
    dsub = ctx.dataset.take(sub)
    seed = ctx.options.get("seed", 0)
    for k in ctx.label_outputs:
        names = ctx.model.specs[k].names
        real = noise_realizations(ctx.model, dsub, n_real, seed, ctx.flux_output, k,
                                  inputs=ctx.inputs)
        path = ctx.out / f"precision_vs_snr{_suffix(ctx, k)}.png"
        plots.precision_vs_snr(ctx.snr[sub], ctx.pred[k].fisher_errors[sub],
                               real.std(axis=0, ddof=1), names, path, n_real)
        rep.add(path, "Label precision vs SNR (Fig. 10)",
                f"{k + ': ' if ctx.multi else ''}Blue, the std of the labels predicted "
                f"from {n_real} noisy copies of "
                f"each spectrum (noise drawn from the flux errors) for {sub.size} objects; "
                "red, the analytic (Fisher) error; median and 16–84 % band in SNR bins. The "
                "model-error term is in neither.", wide=len(names) >= 3)


def latents_section(ctx: ReportContext, rep: Report) -> None:
    """PCA and t-SNE maps of the latents inferred from spectra, coloured by label."""
    idx = np.arange(ctx.dataset.n)
    cap = ctx.options.get("max_embed_objects", 3000)
    if idx.size > cap:
        idx = np.sort(ctx.rng.choice(idx, cap, replace=False))
    if idx.size < 5:
        rep.skipped.append(("latent maps", "fewer than 5 objects"))
        return
    colors = {n: v[idx] for n, v in ctx.predicted().items()}
    z = ctx.pred.z[idx]
    seed = ctx.options.get("seed", 0)
    for method, label in (("pca", "PCA"), ("tsne", "t-SNE (perplexity 25)")):
        if method == "tsne" and not ctx.options.get("tsne", True):
            rep.skipped.append(("t-SNE latent map", "turned off (--no-tsne)"))
            continue
        xy = latent_embedding(z, method, seed=seed)
        if xy is None:
            rep.skipped.append(("t-SNE latent map", "scikit-learn, a starlux dependency, "
                                "is not installed (pip install scikit-learn)"))
            continue
        path = ctx.out / f"latents_{method}.png"
        plots.latent_map(xy, colors, path, title=f"{label} of the latents inferred from "
                         f"spectra ({idx.size} objects)",
                         axis_label_text="PC" if method == "pca" else "t-SNE")
        rep.add(path, "Latent space (Fig. 19)",
                f"{label} of the centred latents z inferred from the spectra, one panel "
                "per label, coloured by the label predicted from the spectra.",
                wide=len(colors) >= 3)


Section = Callable[[ReportContext, Report], None]

SECTIONS: Sequence[tuple[str, Section]] = (
    ("labels", labels_section),
    ("calibration", calibration_section),
    ("diagrams", diagrams_section),
    ("spectra", spectra_section),
    ("derivatives", derivatives_section),
    ("precision", precision_section),
    ("latents", latents_section),
)
"""(step name, section) in page order; the progress bar names each step."""
