"""Evaluation: metrics tables, validation plots, cross-validation, reports, derivative
spectra, label transfer and latent similarity search.

Submodules (imported on demand; plotting pulls in matplotlib):

* :mod:`.metrics` — :func:`label_metrics` (against the truth, or a catalogue with its
  error in quadrature), :func:`format_metrics`, ``metrics_to_csv``;
* :mod:`.cv` — ``cross_validate`` over (P, Omega), ``write_cv``; CLI ``starlux cv``;
* :mod:`.report` — ``make_report`` (PNGs + index.html from a jinja2 template), built
  from the sections in :mod:`.report_sections`; CLI ``starlux report``;
* :mod:`.derivatives` — ``derivative_spectra`` (eq. 13 and the exact inference
  Jacobian, optionally per-label masked);
* :mod:`.transfer` — ``make_cross_survey``, ``transfer_metrics``,
  ``real_transfer_dataset``;
* :mod:`.similar` — ``latent_distances``, ``rank_similar``; CLI ``starlux similar``;
* :mod:`.plots` — the label figures; :mod:`.spectrum_plots` — the spectral ones.

Wavelength masking lives in :mod:`starlux.masking`.
"""

from .metrics import format_metrics, label_metrics

__all__ = ["label_metrics", "format_metrics"]
