"""The one suffix -> format table: what each file holds, and the error for the rest."""

from __future__ import annotations

import pytest

from starlux.io.errors import FileFormatError
from starlux.io.formats import (
    astropy_format,
    can_hold,
    format_name,
    format_of,
    format_suffixes,
    suffix_of,
    suffixes,
)


def test_a_suffix_is_read_case_blind_and_fits_gz_counts_as_one_suffix():
    assert suffix_of("a/B.H5") == ".h5"
    assert suffix_of("allStar.FITS.GZ") == ".fits.gz"
    assert suffix_of("archive.tar.gz") == ".gz"
    assert suffix_of("README") == ""
    assert format_name("x.fits.gz") == format_name("x.fit") == "fits"
    assert format_name("x.gz") is None


def test_each_kind_of_file_accepts_the_suffixes_it_always_did():
    assert suffixes("dataset", "label dataset") == (
        ".npz", ".h5", ".hdf5", ".fits", ".fit", ".csv", ".parquet", ".pq")
    assert suffixes("prediction arrays", "label table") == (
        ".npz", ".h5", ".hdf5", ".fits", ".fit", ".csv", ".ecsv")
    assert suffixes("label table") == (".fits", ".fit", ".csv", ".ecsv")
    assert suffixes("catalogue") == (".fits", ".fit", ".fits.gz", ".csv", ".ecsv",
                                     ".parquet", ".pq", ".npy", ".txt", ".dat")
    assert suffixes("model") == (".h5", ".hdf5")
    assert format_suffixes("fits") == (".fits", ".fit", ".fits.gz")
    with pytest.raises(ValueError, match="unknown kind"):
        suffixes("spreadsheet")


def test_a_compressed_fits_file_is_a_catalogue_but_not_a_dataset():
    assert can_hold("allStar.fits.gz", "catalogue")
    assert not can_hold("allStar.fits.gz", "dataset", "label dataset")
    assert can_hold("labels.csv", "label dataset") and not can_hold("labels.csv", "dataset")


def test_an_unknown_suffix_is_one_line_naming_the_path_and_the_accepted_suffixes():
    with pytest.raises(FileFormatError) as err:
        format_of("out/p.txt", "prediction arrays", "label table", what="prediction")
    assert str(err.value) == ("out/p.txt: unknown prediction format '.txt' "
                              "(use .npz, .h5, .hdf5, .fits, .fit, .csv, .ecsv)")
    with pytest.raises(FileFormatError, match=r"^m\.npz: unknown model format '\.npz'"):
        format_of("m.npz", "model")
    assert format_of("T.PQ", "label dataset") == "parquet"


def test_table_formats_have_their_astropy_names_and_others_pass_through():
    assert [astropy_format(f) for f in ("fits", "csv", "ecsv", "parquet", "ascii")] == [
        "fits", "ascii.csv", "ascii.ecsv", "parquet", "ascii"]
    assert astropy_format("ascii.basic") == "ascii.basic"
