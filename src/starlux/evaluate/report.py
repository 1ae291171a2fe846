"""The science report of a trained model on a labelled dataset: PNG figures plus an
``index.html`` that gathers them with short captions.

Figures (each skipped, with the reason noted in the page, when its inputs are absent):

* one-to-one plots per label with bias, RMSE and mean catalogue error (paper Fig. 7),
  and residuals vs SNR;
* Kiel (logg vs Teff, coloured by [Fe/H]) and Tinsley–Wallerstein ([Mg/Fe] vs [Fe/H])
  diagrams, predicted and catalogue side by side (Fig. 8);
* the reduced chi^2 of each object's spectrum (Fig. 4) and data vs model spectra for a
  few objects, the model from the spectrum and from the labels (Fig. 3);
* derivative spectra d label / d flux = A B^+ per label (eq. 13, Fig. 6), with ASPCAP
  element windows shaded when a window folder is given;
* label precision vs SNR (Fig. 10), analytic and from K noise realisations per object;
* 2-D maps of the latents (PCA, and t-SNE with perplexity 25 when scikit-learn is
  installed) coloured by each label (Fig. 19).

SNR is the dataset's ``snr`` extra when present, otherwise estimated per object as
the median of flux / flux_err over its observed pixels.

Command line: ``starlux report MODEL DATA_FILE --out DIR [--windows DIR]``.
"""

from __future__ import annotations

import argparse
import html
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import DataError, Dataset
from ..model import LuxModel

__all__ = ["make_report", "Report", "find_label", "estimate_snr", "noise_realizations",
           "latent_embedding", "add_arguments", "run"]

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


def noise_realizations(model: LuxModel, dataset: Dataset, k: int = 10, seed: int = 0,
                       flux_output: str = "flux", label_output: str = "label",
                       ) -> np.ndarray:
    """(K, N, M) labels predicted from K noisy copies of each spectrum.

    Every observed pixel gets Gaussian noise of its own error added (missing pixels
    stay missing); the spread over the K predictions is the label precision that
    the flux noise allows (paper §4.6, Fig. 10).
    """
    from ..data import Output

    rng = np.random.default_rng(seed)
    o = dataset[flux_output]
    out = []
    for _ in range(k):
        noise = rng.normal(size=o.values.shape) * np.where(o.missing, 0.0, o.errors)
        noisy = Output(values=o.values + noise, errors=o.errors, kind=o.kind, names=o.names,
                       wavelength=o.wavelength, missing=o.missing,
                       mask_summary=o.mask_summary)
        ds = Dataset(outputs={flux_output: noisy}, ids=dataset.ids)
        p = model.predict(ds, inputs=[flux_output], outputs=[label_output])
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
        from threadpoolctl import threadpool_limits  # a scikit-learn dependency

        perp = min(perplexity, max(2.0, (len(z) - 1) / 3.0))
        tsne = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed,
                    max_iter=max_iter)
        # one OpenMP thread: the Barnes-Hut gradient is ~10x slower when its threads
        # compete with JAX's for the cores (and the result is then reproducible)
        with threadpool_limits(1):
            return tsne.fit_transform(zs)
    raise ValueError(f"unknown embedding {method!r}; use 'pca' or 'tsne'")


@dataclass
class Report:
    """What :func:`make_report` wrote: ``figures`` as (path, section, caption), the
    ``index`` page, ``skipped`` (what, why), and the label ``metrics`` rows."""

    out: Path
    index: Path
    figures: list[tuple[Path, str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [p for p, _, _ in self.figures]


def _pick_objects(values: np.ndarray, ok: np.ndarray, n: int) -> np.ndarray:
    """Up to n objects spread over the range of ``values`` (quantiles)."""
    idx = np.flatnonzero(ok & np.isfinite(values))
    if idx.size == 0:
        idx = np.flatnonzero(ok)
        return idx[:n]
    order = idx[np.argsort(values[idx], kind="stable")]
    pos = np.unique(np.round(np.linspace(0, order.size - 1, min(n, order.size))).astype(int))
    return order[pos]


def _default_zoom(wl: np.ndarray) -> tuple[float, float]:
    """A ~150 Å stretch of the grid (around the Fe/Mg-rich 15700-15850 Å APOGEE
    region when available, else the start of the grid)."""
    lo, hi = float(np.nanmin(wl)), float(np.nanmax(wl))
    if lo <= 15700 and hi >= 15850:
        return 15700.0, 15850.0
    return lo, min(hi, lo + 0.1 * (hi - lo))


def _metrics_html(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = [c for c in ("output", "label", "n", "bias", "rmse", "mean_err", "z_std",
                        "mean_ref_err") if c in rows[0]]
    head = {"output": "output", "label": "label", "n": "N", "bias": "bias", "rmse": "RMSE",
            "mean_err": "mean predicted error", "z_std": "std(resid / error)",
            "mean_ref_err": "mean catalogue error"}
    out = ["<table>", "<tr>" + "".join(f"<th>{head[c]}</th>" for c in cols) + "</tr>"]
    for r in rows:
        cells = [html.escape(str(r[c])) if isinstance(r[c], str | int) else f"{r[c]:.4g}"
                 for c in cols]
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _write_index(rep: Report, title: str, intro: list[str]) -> None:
    from ..io.datasets import atomic_path

    sections: dict[str, list[tuple[Path, str]]] = {}
    for p, sec, cap in rep.figures:
        sections.setdefault(sec, []).append((p, cap))
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             f"<title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
             "figure{display:inline-block;margin:0.5em;vertical-align:top;max-width:100%}"
             "img{max-width:100%;border:1px solid #ccc}figcaption{font-size:0.85em;"
             "max-width:60em}table{border-collapse:collapse;font-size:0.85em}"
             "td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}</style>",
             "</head><body>", f"<h1>{html.escape(title)}</h1>"]
    parts += [f"<p>{html.escape(s)}</p>" for s in intro]
    if rep.metrics:
        parts += ["<h2>Label metrics (labels from spectra vs catalogue)</h2>",
                  _metrics_html(rep.metrics), "<p><a href='metrics.csv'>metrics.csv</a></p>"]
    for sec, figs in sections.items():
        parts.append(f"<h2>{html.escape(sec)}</h2>")
        for p, cap in figs:
            name = html.escape(p.name)
            parts.append(f"<figure><a href='{name}'><img src='{name}' alt='{name}'></a>"
                         f"<figcaption>{html.escape(cap)}</figcaption></figure>")
    if rep.skipped:
        parts.append("<h2>Skipped</h2><ul>")
        parts += [f"<li>{html.escape(w)}: {html.escape(why)}</li>" for w, why in rep.skipped]
        parts.append("</ul>")
    if rep.notes:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li>{html.escape(n)}</li>" for n in rep.notes]
        parts.append("</ul>")
    parts.append("</body></html>")
    with atomic_path(rep.index) as tmp:
        tmp.write_text("\n".join(parts) + "\n")


def make_report(
    model: LuxModel,
    dataset: Dataset,
    out: str | os.PathLike,
    *,
    flux_output: str | None = None,
    label_outputs: Sequence[str] | None = None,
    windows: str | os.PathLike | Any | None = None,
    n_spectra: int = 4,
    n_realizations: int = 10,
    max_realization_objects: int = 500,
    wave_range: tuple[float, float] | None = None,
    tsne: bool = True,
    max_embed_objects: int = 3000,
    seed: int = 0,
    progress: bool = True,
    title: str | None = None,
) -> Report:
    """Write the validation report of ``model`` on ``dataset`` into ``out``.

    Args:
        flux_output: the spectral output labels are predicted from (default: the
            model's first spectral output).
        label_outputs: label outputs to validate (default: every label output of the
            model that the dataset has).
        windows: an ASPCAP window folder (``wave.dat`` + ``<El>.filt``) or an
            :class:`~starlux.masking.ElementWindows`, shaded on the derivative spectra.
        n_spectra: objects shown in the data-vs-model spectra figure.
        n_realizations: K noisy copies per object for the precision figure (0 = skip).
        max_realization_objects: at most this many (random) objects get realisations.
        wave_range: (min, max) Å of the zoomed spectra / derivative figures
            (default: 15700-15850 Å when on the grid).
        tsne: also embed with t-SNE (perplexity 25) if scikit-learn is installed.
        max_embed_objects: random subset size for the latent maps.
    """
    from tqdm.auto import tqdm

    from . import plots
    from .derivatives import derivative_spectra
    from .metrics import label_metrics, metrics_to_csv

    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rep = Report(out=out, index=out / "index.html")
    rng = np.random.default_rng(seed)

    flux_output = flux_output or next((k for k in model.spectral_outputs), None)
    if flux_output is None or flux_output not in dataset:
        raise DataError(f"the report predicts labels from spectra, but the dataset has no "
                        f"spectral output of the model (model: {model.spectral_outputs}, "
                        f"data: {list(dataset.outputs)})")
    if label_outputs is None:
        label_outputs = list(model.label_outputs)
    label_outputs = [k for k in label_outputs if k in model.specs]
    if not label_outputs:
        raise DataError("the model has no label output to report on")
    spec_f = model.specs[flux_output]
    wl = spec_f.wavelength if spec_f.wavelength is not None else np.arange(spec_f.dim, dtype=float)
    zoom = wave_range or _default_zoom(wl)
    fo = dataset[flux_output]

    steps = ["predict", "labels", "diagrams", "spectra", "derivatives", "precision",
             "latents", "index"]
    bar = tqdm(total=len(steps), desc="report", disable=not progress)

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    # ---- predictions ------------------------------------------------------------
    pred = model.predict(dataset, inputs=[flux_output], outputs=label_outputs + [flux_output])
    observed_labels = [k for k in label_outputs if k in dataset]
    pred_lab = None
    if observed_labels:
        lab_ds = Dataset(outputs={k: dataset[k] for k in observed_labels}, ids=dataset.ids)
        has = np.zeros(dataset.n, bool)
        for k in observed_labels:
            has |= (~dataset[k].missing).any(axis=1)
        pred_lab = model.predict(lab_ds, inputs=observed_labels, outputs=[flux_output])
    snr, snr_source = estimate_snr(dataset, flux_output)
    step("predict")

    # ---- one-to-one + residuals vs SNR -----------------------------------------
    diag_pred: dict[str, np.ndarray] = {}
    diag_ref: dict[str, np.ndarray] = {}
    for k in label_outputs:
        names = model.specs[k].names
        p = pred[k]
        prefix = "" if len(label_outputs) == 1 else f"{k}_"
        for j, name in enumerate(names):
            diag_pred.setdefault(name, p.values[:, j])
        if k not in dataset:
            rep.skipped.append((f"one-to-one plots of {k}", "the data have no catalogue "
                                "values for this output"))
            continue
        o = dataset[k].select(names)
        ref = np.where(o.missing, np.nan, o.values)
        ref_err = np.where(o.missing, np.nan, o.errors)
        for j, name in enumerate(names):
            diag_ref.setdefault(name, ref[:, j])
        rows = label_metrics(p.values, p.errors, ref, names, reference_err=ref_err)
        for r in rows:
            r["output"] = k
        rep.metrics += rows
        for j, name in enumerate(names):
            path = out / f"one_to_one_{prefix}{name}.png"
            plots.one_to_one(p.values[:, j], ref[:, j], name, path, p.errors[:, j],
                             ref_err[:, j], xlabel="catalogue", ylabel="starlux, from spectra")
            rep.figures.append((path, "Labels from spectra vs catalogue (Fig. 7)",
                                f"{k}: {name} predicted from the spectra vs the catalogue "
                                "value, with bias, RMSE, mean predicted error and mean "
                                "catalogue error; lower panel: residuals."))
        if np.isfinite(snr).any():
            path = out / f"residuals_vs_snr{'_' + k if prefix else ''}.png"
            plots.residuals_vs_snr(p.values, ref, names, snr, path, pred_err=p.errors)
            rep.figures.append((path, "Residuals vs SNR",
                                f"{k}: residual (predicted - catalogue) against SNR "
                                f"({snr_source}); red: running median and 16-84% band; "
                                "dashed: median predicted 1-sigma error."))
        else:
            rep.skipped.append(("residuals vs SNR", "no SNR could be estimated"))
    step("labels")

    # ---- Kiel and Tinsley-Wallerstein ---------------------------------------------
    allnames = list(diag_pred)
    teff, logg = find_label(allnames, "teff"), find_label(allnames, "logg")
    feh, mgfe = find_label(allnames, "feh"), find_label(allnames, "mgfe")
    if not diag_ref:
        rep.skipped.append(("Kiel / Tinsley-Wallerstein diagrams", "no catalogue labels"))
    else:
        ref_full = {n: diag_ref.get(n, np.full(dataset.n, np.nan)) for n in allnames}
        if teff and logg:
            path = out / "kiel.png"
            plots.label_diagram(diag_pred, ref_full, teff, logg, path, color=feh,
                                invert=True, suptitle="Kiel diagram")
            rep.figures.append((path, "Kiel and Tinsley-Wallerstein diagrams (Fig. 8)",
                                f"{logg} vs {teff}" + (f", coloured by {feh}" if feh else "")
                                + ": labels predicted from spectra (left) and catalogue "
                                "labels (right)."))
        else:
            rep.skipped.append(("Kiel diagram", "no Teff / logg labels"))
        if feh and mgfe:
            path = out / "tinsley_wallerstein.png"
            color = teff if teff else None
            plots.label_diagram(diag_pred, ref_full, feh, mgfe, path, color=color,
                                suptitle="Tinsley-Wallerstein diagram")
            rep.figures.append((path, "Kiel and Tinsley-Wallerstein diagrams (Fig. 8)",
                                f"{mgfe} vs {feh}" + (f", coloured by {color}" if color else "")
                                + ": predicted (left) and catalogue (right)."))
        else:
            rep.skipped.append(("Tinsley-Wallerstein diagram", "no [Fe/H] and [Mg/Fe]-like "
                                "labels"))
    step("diagrams")

    # ---- chi^2 and spectra --------------------------------------------------------
    chi2 = {"latents from spectra": pred.chi2[flux_output]}
    f_lab = None
    if pred_lab is not None:
        f_lab = pred_lab[flux_output].values
        var = np.where(fo.missing, 1.0, fo.errors) ** 2
        if flux_output in model.ln_scatter:
            var = var + np.exp(2 * model.ln_scatter[flux_output])[None, :] * spec_f.scale**2
        r2 = np.where(fo.missing, 0.0, (fo.clean_values() - f_lab) ** 2 / var)
        nobs = (~fo.missing).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            red = np.where((nobs > 0) & has, r2.sum(axis=1) / np.maximum(nobs, 1), np.nan)
        chi2["latents from labels"] = red
    path = out / "chi2_hist.png"
    plots.chi2_hist(chi2, path)
    rep.figures.append((path, "Spectra (Figs. 3 and 4)",
                        "Reduced chi^2 of each object's spectrum (chi^2 / observed pixels, "
                        "flux errors and fitted scatter in quadrature), model spectra from "
                        "latents inferred from the spectrum itself and from the labels."))
    first = find_label(allnames, "teff") or (allnames[0] if allnames else None)
    ok = (~fo.missing).any(axis=1)
    if pred_lab is not None:
        ok &= has
    sortv = diag_pred[first] if first else np.zeros(dataset.n)
    pick = _pick_objects(sortv, ok, n_spectra)
    if pick.size:
        ids = dataset.ids if dataset.ids is not None else np.arange(dataset.n)
        titles = []
        for i in pick:
            lab = ", ".join(f"{n}={diag_pred[n][i]:.3g}" for n in allnames[:4])
            titles.append(f"{ids[i]}  (predicted {lab}; reduced chi2 from spectrum "
                          f"{pred.chi2[flux_output][i]:.2f})")
        path = out / "spectra.png"
        plots.spectra_comparison(wl, fo.values[pick], fo.missing[pick],
                                 pred[flux_output].values[pick],
                                 None if f_lab is None else f_lab[pick], titles, path,
                                 wave_range=zoom)
        rep.figures.append((path, "Spectra (Figs. 3 and 4)",
                            f"{pick.size} objects spread in {first}: data (black), model from "
                            "latents inferred from the spectrum (cyan) and from the labels "
                            f"(navy), {zoom[0]:.0f}-{zoom[1]:.0f} Å; lower panels: "
                            "residuals. Missing pixels are not drawn."))
    step("spectra")

    # ---- derivative spectra ------------------------------------------------------
    wmasks: dict[str, np.ndarray] = {}
    if windows is not None:
        from ..masking import ElementWindows, label_element, read_aspcap_windows

        ew = windows if isinstance(windows, ElementWindows) else read_aspcap_windows(windows)
        for k in label_outputs:
            for name in model.specs[k].names:
                el = label_element(name, ew.elements)
                if el is not None:
                    wmasks[name] = ew.on_grid(wl, 0.0, [el])[el]
        if not wmasks:
            rep.notes.append("window files were given but no label matched an element")
    for k in label_outputs:
        names = model.specs[k].names
        d = derivative_spectra(model, k, flux_output, method="pinv")
        example = pred[flux_output].values[pick[0]] if pick.size else None
        suffix = "" if len(label_outputs) == 1 else f"_{k}"
        for tag, rng_w, cap in (("", None, "the whole grid"),
                                ("_zoom", zoom, f"{zoom[0]:.0f}-{zoom[1]:.0f} Å")):
            path = out / f"derivative_spectra{suffix}{tag}.png"
            plots.derivative_spectra_plot(wl, d, names, path, windows=wmasks or None,
                                          wave_range=rng_w, spectrum=example if tag else None,
                                          title=f"∂label/∂flux = A·B⁺ (eq. 13), {k}")
            rep.figures.append((path, "Derivative spectra (eq. 13, Fig. 6)",
                                f"d label / d flux = S A B^+ for each {k} label, in label "
                                f"units per unit normalised flux, over {cap}"
                                + ("; shaded: the label's ASPCAP element windows"
                                   if wmasks else "")
                                + ("; top: a model spectrum" if tag else "") + "."))
    if wmasks and pick.size:
        _masked_section(rep, model, dataset, label_outputs[0], flux_output, wmasks, wl, zoom,
                        int(pick[0]), observed_labels)
    step("derivatives")

    # ---- precision vs SNR ----------------------------------------------------------
    if n_realizations > 0 and np.isfinite(snr).any():
        sub = np.flatnonzero(np.isfinite(snr) & (~fo.missing).any(axis=1))
        if sub.size > max_realization_objects:
            sub = np.sort(rng.choice(sub, max_realization_objects, replace=False))
        dsub = dataset.take(sub)
        for k in label_outputs:
            real = noise_realizations(model, dsub, n_realizations, seed, flux_output, k)
            spread = real.std(axis=0, ddof=1)
            suffix = "" if len(label_outputs) == 1 else f"_{k}"
            path = out / f"precision_vs_snr{suffix}.png"
            plots.precision_vs_snr(snr[sub], pred[k].fisher_errors[sub], spread,
                                   model.specs[k].names, path, n_realizations)
            rep.figures.append((path, "Label precision vs SNR (Fig. 10)",
                                f"{k}: blue, the standard deviation of the labels predicted "
                                f"from {n_realizations} noisy copies of each spectrum (noise "
                                "drawn from the flux errors) for "
                                f"{sub.size} objects; red, the analytic (Fisher) error; "
                                "median and 16-84% band in SNR bins. The model-error term "
                                "is not included in either."))
    else:
        rep.skipped.append(("precision vs SNR", "no realisations requested"
                            if n_realizations <= 0 else "no SNR"))
    step("precision")

    # ---- latent maps ----------------------------------------------------------------
    emb_idx = np.arange(dataset.n)
    if emb_idx.size > max_embed_objects:
        emb_idx = np.sort(rng.choice(emb_idx, max_embed_objects, replace=False))
    colors = {n: v[emb_idx] for n, v in diag_pred.items()}
    z = pred.z[emb_idx]
    if emb_idx.size >= 5:
        for method, label in (("pca", "PCA"), ("tsne", "t-SNE (perplexity 25)")):
            if method == "tsne" and not tsne:
                rep.skipped.append(("t-SNE latent map", "disabled"))
                continue
            xy = latent_embedding(z, method, seed=seed)
            if xy is None:
                rep.skipped.append(("t-SNE latent map", "scikit-learn is not installed"))
                continue
            path = out / f"latents_{method}.png"
            plots.latent_map(xy, colors, path, title=f"{label} of the latents inferred from "
                             f"spectra ({emb_idx.size} objects)",
                             axis_label="PC" if method == "pca" else "t-SNE")
            rep.figures.append((path, "Latent space (Fig. 19)",
                                f"{label} of the centred latents z inferred from the "
                                "spectra, one panel per label, coloured by the label "
                                "predicted from the spectra."))
    else:
        rep.skipped.append(("latent maps", "fewer than 5 objects"))
    step("latents")

    intro = [f"Model: P = {model.n_latents} latents, Omega = {model.reg:g}, outputs "
             f"{', '.join(f'{k} ({s.kind}, {s.dim})' for k, s in model.specs.items())}.",
             f"Data: {dataset.n} objects; labels predicted from '{flux_output}' only. SNR: "
             f"{snr_source}."]
    if rep.metrics:
        metrics_to_csv(rep.metrics, out / "metrics.csv")
    _write_index(rep, title or "starlux validation report", intro)
    step("index")
    bar.close()
    rep.notes.append(f"written in {time.time() - t0:.1f} s")
    return rep


def _masked_section(rep: Report, model: LuxModel, dataset: Dataset, label_output: str,
                    flux_output: str, wmasks: dict[str, np.ndarray], wl: np.ndarray,
                    zoom: tuple[float, float], example: int,
                    observed_labels: Sequence[str]) -> None:
    """Wavelength masking (paper §5): labels with an element window inferred from
    their window pixels only; derivative spectra and accuracy of those labels."""
    from ..masking import predict_masked
    from . import plots
    from .derivatives import derivative_spectra
    from .metrics import label_metrics

    names = model.specs[label_output].names
    masks = {n: m for n, m in wmasks.items() if n in names and m.any()}
    if not masks:
        return
    shown = [n for n in names if n in masks]
    d = derivative_spectra(model, label_output, flux_output, method="weighted",
                           dataset=dataset, index=example, masks=masks)
    rows = [names.index(n) for n in shown]
    for tag, rng_w, cap in (("", None, "the whole grid"),
                            ("_zoom", zoom, f"{zoom[0]:.0f}-{zoom[1]:.0f} Å")):
        path = rep.out / f"derivative_spectra_masked{tag}.png"
        plots.derivative_spectra_plot(wl, d[rows], shown, path, windows=masks,
                                      wave_range=rng_w,
                                      title="masked: each label inferred from its element "
                                            "windows only (exact inference Jacobian)")
        rep.figures.append((path, "Wavelength masking (paper §5)",
                            "d label / d flux when each label with an ASPCAP element window "
                            "is inferred from its window pixels only (all other pixels get "
                            "zero weight; the model's latent prior is kept): the exact "
                            f"Jacobian of that inference for one object, over {cap}; it is "
                            "exactly zero outside the shaded windows."))
    if label_output in observed_labels:
        pm = predict_masked(model, dataset, masks, label_output, flux_output)
        o = dataset[label_output].select(names)
        ref = np.where(o.missing, np.nan, o.values)
        sel = [names.index(n) for n in shown]
        mrows = label_metrics(pm[label_output].values[:, sel], pm[label_output].errors[:, sel],
                              ref[:, sel], shown,
                              reference_err=np.where(o.missing, np.nan, o.errors)[:, sel])
        for r in mrows:
            r["output"] = f"{label_output} (windows only)"
        rep.metrics += mrows
        rep.notes.append("rows marked '(windows only)' in the metrics table: the label "
                         "inferred from its element-window pixels alone")


# ------------------------------------------------------------------------------- CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model file (.h5)")
    p.add_argument("data_file", metavar="DATA_FILE",
                   help="labelled dataset to validate on (.npz/.h5/.fits)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--windows", default=None, metavar="DIR",
                   help="ASPCAP element-window folder (wave.dat + <El>.filt), e.g. "
                        "shared/data/apogee-masks-windows/aspcap_dr17_windows")
    p.add_argument("--realizations", type=int, default=10,
                   help="noise realisations per object for the precision plot (0: skip)")
    p.add_argument("--max-realization-objects", type=int, default=500)
    p.add_argument("--spectra", type=int, default=4, help="objects in the spectra figure")
    p.add_argument("--wave-range", default=None, metavar="MIN,MAX",
                   help="zoom range in Å (default 15700,15850)")
    p.add_argument("--no-tsne", action="store_true", help="skip the t-SNE map")
    p.add_argument("--title", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..io.datasets import read_dataset
    from ..io.models import load_model

    model = load_model(args.model)
    ds = read_dataset(args.data_file)
    wr = None
    if args.wave_range:
        try:
            lo, hi = (float(x) for x in args.wave_range.split(","))
        except ValueError:
            raise ValueError(f"--wave-range must be MIN,MAX in Å, got {args.wave_range!r}"
                             ) from None
        wr = (lo, hi)
    rep = make_report(model, ds, args.out, windows=args.windows, n_spectra=args.spectra,
                      n_realizations=args.realizations,
                      max_realization_objects=args.max_realization_objects, wave_range=wr,
                      tsne=not args.no_tsne, seed=args.seed, progress=not args.no_progress,
                      title=args.title)
    print(f"wrote {len(rep.figures)} figures and {rep.index}")
    for what, why in rep.skipped:
        print(f"  skipped {what}: {why}")
    return 0
