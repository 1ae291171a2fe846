"""File input and output: datasets, models, predictions and survey files.

* :mod:`~starlux.io.formats` — the one table of file suffixes, formats and what each
  file can hold;
* :mod:`~starlux.io.datasets` — dataset files (``.npz``, ``.h5``, ``.fits``, label-only
  ``.csv`` / ``.parquet``), atomic writes;
* :mod:`~starlux.io.chunked` — large ``.h5`` files read and written in chunks of objects;
* :mod:`~starlux.io.apogee` — apStar / aspcapStar / apVisit spectra on one grid;
* :mod:`~starlux.io.continuum` — continuum normalisation of raw APOGEE spectra;
* :mod:`~starlux.io.catalogs` — allStar, GALAH DR3 and generic label tables;
* :mod:`~starlux.io.gaiaxp` — Gaia XP spectra: sampled, or XP_CONTINUOUS coefficients
  with their covariance;
* :mod:`~starlux.io.crossmatch` — cross-match by APOGEE/2MASS id or Gaia DR3 source_id;
* :mod:`~starlux.io.build` — the ``starlux build-dataset`` pipeline;
* :mod:`~starlux.io.atomic` / :mod:`~starlux.io.locks` — atomic writes, one writer per
  output file;
* :mod:`~starlux.io.errors` — the errors of the file layer.
"""

from .apogee import Spectra, apogee_wavelength, read_apogee_spectra, remove_chip_gaps
from .atomic import atomic_path
from .build import build_dataset, build_from_files
from .catalogs import LabelTable, read_allstar, read_catalog, read_galah_dr3, read_label_table
from .chunked import ChunkedDatasetWriter, dataset_info, iter_dataset_chunks
from .continuum import normalize_spectra
from .crossmatch import crossmatch, merge_outputs
from .datasets import read_dataset, write_dataset
from .errors import FileFormatError, OutputBusyError
from .gaiaxp import XPBasis, XPSpectra, coefficient_covariance, read_xp, read_xp_spectra, xp_basis
from .locks import output_lock

__all__ = [
    "read_dataset", "write_dataset", "atomic_path", "FileFormatError", "OutputBusyError",
    "output_lock",
    "Spectra", "read_apogee_spectra", "apogee_wavelength", "remove_chip_gaps",
    "normalize_spectra",
    "LabelTable", "read_allstar", "read_galah_dr3", "read_label_table", "read_catalog",
    "crossmatch", "merge_outputs",
    "iter_dataset_chunks", "dataset_info", "ChunkedDatasetWriter",
    "build_dataset", "build_from_files",
    "read_xp", "read_xp_spectra", "XPSpectra", "XPBasis", "xp_basis", "coefficient_covariance",
]
