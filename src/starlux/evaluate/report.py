"""The science report of a trained model on a labelled dataset: PNG figures plus an
``index.html`` page that gathers them in a navigable grid with short captions.

The report is the list of sections in :mod:`.report_sections` (one small function
each): labels from spectra against the reference (Fig. 7) and residuals vs SNR; error
calibration per label; Kiel and Tinsley–Wallerstein diagrams (Fig. 8); reduced chi^2
and data vs model spectra (Figs. 3, 4); derivative spectra (eq. 13, Fig. 6) with
ASPCAP windows when given; precision vs SNR (Fig. 10); latent maps (PCA, t-SNE;
Fig. 19). A figure whose inputs are absent is skipped, with the reason on the page.

The reference is the truth when the data carry ``label_true`` (simulations), else the
catalogue; against a catalogue its error is added in quadrature wherever residuals are
compared with errors. SNR is the data's ``snr`` column when present, otherwise the
median of flux / flux_err over each object's observed pixels.

Command line: ``starlux report MODEL DATA_FILE --out DIR`` (:mod:`starlux.commands.report`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data import DataError, Dataset
from ..labels import find_label
from ..model import LuxModel
from .metrics import COLUMN_TITLES, metrics_table, metrics_to_csv
from .report_sections import (
    SECTIONS,
    Figure,
    Report,
    ReportContext,
    default_zoom,
    estimate_snr,
    latent_embedding,
    noise_realizations,
    reference_labels,
)

__all__ = ["make_report", "Report", "Figure", "find_label", "estimate_snr",
           "noise_realizations", "latent_embedding", "render_index"]

log = logging.getLogger(__name__)


def _context(model: LuxModel, dataset: Dataset, out: Path, flux_output: str | None,
             label_outputs: Sequence[str] | None, wave_range: tuple[float, float] | None,
             options: dict[str, Any], inputs: Sequence[str] | None = None) -> ReportContext:
    """Check the inputs and make the predictions every section shares."""
    flux_output = flux_output or next(iter(model.spectral_outputs), None)
    if flux_output is None or flux_output not in dataset:
        raise DataError(f"the report predicts labels from spectra, but the dataset has no "
                        f"spectral output of the model (model: {model.spectral_outputs}, "
                        f"data: {list(dataset.outputs)})")
    labels = [k for k in (label_outputs or model.label_outputs) if k in model.specs]
    if not labels:
        raise DataError("the model has no label output to report on")
    if inputs is None:  # what the model infers from by default: every spectral output
        inputs = [flux_output] + [k for k in model.spectral_outputs
                                  if k != flux_output and k in dataset]
    else:
        inputs = list(inputs)
        absent = [k for k in inputs if k not in dataset or k not in model.specs]
        if flux_output not in inputs or absent:
            raise DataError(f"report inputs {inputs}: they must include {flux_output!r} and "
                            "be outputs of both the model and the data")
    wl = model.specs[flux_output].wavelength
    pred = model.predict(dataset, inputs=inputs, outputs=labels + [flux_output])
    observed = [k for k in labels if k in dataset]
    has = np.zeros(dataset.n, bool)
    pred_lab = None
    if observed:
        for k in observed:
            has |= (~dataset[k].missing).any(axis=1)
        lab_ds = Dataset(outputs={k: dataset[k] for k in observed}, ids=dataset.ids)
        pred_lab = model.predict(lab_ds, inputs=observed, outputs=[flux_output])
    snr, snr_source = estimate_snr(dataset, flux_output)
    ctx = ReportContext(model=model, dataset=dataset, out=out, flux_output=flux_output,
                        label_outputs=labels, pred=pred, pred_lab=pred_lab, has_labels=has,
                        snr=snr, snr_source=snr_source, wavelength=wl,
                        zoom=wave_range or default_zoom(wl), options=options,
                        inputs=list(inputs))
    for k in observed:
        ctx.reference[k], ctx.reference_err[k], ctx.reference_name[k] = \
            reference_labels(model, dataset, k)
    return ctx


def render_index(rep: Report, title: str, intro: Sequence[str]) -> str:
    """The ``index.html`` page (jinja2 template ``templates/report.html``): a table of
    contents, the metrics table, and each section's figures in a responsive grid."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("starlux.evaluate", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]))
    sections: dict[str, list[Figure]] = {}
    for f in rep.figures:
        sections.setdefault(f.section, []).append(f)
    metrics = None
    if rep.metrics:
        shown = [{k: v for k, v in r.items() if k != "reference"} for r in rep.metrics]
        t = metrics_table(shown)
        metrics = {"columns": t.colnames,
                   "rows": list(zip(*(t[c].iter_str_vals() for c in t.colnames), strict=True)),
                   "reference": sorted({str(r.get("reference", "")) for r in rep.metrics}),
                   "z_title": COLUMN_TITLES["z_std"]}
    slug = {s: f"s{i}" for i, s in enumerate(sections)}
    return env.get_template("report.html").render(
        title=title, intro=list(intro), metrics=metrics, sections=sections, slug=slug,
        skipped=rep.skipped, notes=rep.notes)


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
    inputs: Sequence[str] | None = None,
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
            (default: 15700-15850 Å when on the grid; no zoom without wavelengths or
            for Gaia XP grids). Figures of Gaia XP spectra are drawn in nm.
        tsne: also embed with t-SNE (perplexity 25).
        max_embed_objects: random subset size for the latent maps.
        inputs: the outputs labels are predicted from (default: every spectral output
            of the model the data have, e.g. ``flux`` and the photometry ``phot``;
            ``[flux_output]`` for spectra alone).
    """
    from tqdm.auto import tqdm

    from ..io.datasets import atomic_path

    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rep = Report(out=out, index=out / "index.html")
    options = dict(windows=windows, n_spectra=n_spectra, n_realizations=n_realizations,
                   max_realization_objects=max_realization_objects, tsne=tsne,
                   max_embed_objects=max_embed_objects, seed=seed)
    bar = tqdm(total=len(SECTIONS) + 2, desc="report", disable=None if progress else True)
    bar.set_postfix_str("predicting labels and spectra")
    ctx = _context(model, dataset, out, flux_output, label_outputs, wave_range, options,
                   inputs)
    bar.update(1)
    for name, section in SECTIONS:
        bar.set_postfix_str(name)
        section(ctx, rep)
        bar.update(1)
    intro = [f"Model: P = {model.n_latents} latents, Ω = {model.reg:g}; outputs "
             f"{', '.join(f'{k} ({s.kind}, {s.dim})' for k, s in model.specs.items())}.",
             f"Data: {dataset.n} objects; labels predicted from "
             f"{' + '.join(repr(k) for k in ctx.inputs)} only. SNR: {ctx.snr_source}."]
    if rep.metrics:
        metrics_to_csv(rep.metrics, out / "metrics.csv")
    rep.notes.append(f"written in {time.time() - t0:.1f} s")
    bar.set_postfix_str("index.html")
    with atomic_path(rep.index) as tmp:
        tmp.write_text(render_index(rep, title or "starlux validation report", intro))
    bar.update(1)
    bar.close()
    log.info("report: %d figures in %s", len(rep.figures), out)
    return rep
