"""Datasets as tables: FITS tables of any outputs, CSV / Parquet for labels only."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from io_helpers import GALAH, same_dataset, set671, shared

from starlux.io.datasets import FileFormatError, read_dataset, write_dataset
from starlux.io.tabular import is_static_key, read_fits_arrays


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_label_only_datasets_round_trip_through_csv_and_parquet(tmp_path, ext):
    labels = set671().with_outputs(["label", "galah"])
    path = tmp_path / f"labels.{ext}"
    write_dataset(path, labels)
    back = read_dataset(path)
    same_dataset(labels, back)
    assert back["label"].missing[5, 1]
    with pytest.raises(FileFormatError, match=rf"spectra\.{ext}: .*label tables only"):
        write_dataset(tmp_path / f"spectra.{ext}", set671())
    assert not (tmp_path / f"spectra.{ext}").exists()
    assert [p.name for p in tmp_path.iterdir()] == [f"labels.{ext}"]  # no temp files


def test_a_fits_dataset_keeps_per_column_arrays_in_their_own_named_hdus(tmp_path):
    path = tmp_path / "set.fits"
    write_dataset(path, set671().take(np.arange(10)))
    with fits.open(path) as hdul:
        keys = {h.header.get("STLXKEY") for h in hdul} - {None}
        assert hdul["OBJECTS"].data["flux"].shape == (10, 100)
    assert keys == {"wavelength", "label_names", "galah_names"}
    assert all(is_static_key(k) for k in keys) and not is_static_key("flux")
    assert read_fits_arrays(path)["label_names"].tolist() == ["TEFF", "LOGG", "PARAM_M_H"]


def test_tables_not_written_by_starlux_are_refused_naming_the_file(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FileFormatError, match=r"x\.csv: not a starlux label table"):
        read_dataset(tmp_path / "x.csv")
    with pytest.raises(FileFormatError, match="not a starlux dataset FITS"):
        read_dataset(shared(*GALAH))
