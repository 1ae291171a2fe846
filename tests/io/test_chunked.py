"""Large dataset files: read in chunks of objects, written chunk by chunk."""

from __future__ import annotations

import numpy as np
import pytest
from io_helpers import same_dataset, set671

from starlux.data import DataError, Dataset
from starlux.io.chunked import ChunkedDatasetWriter, dataset_info, iter_dataset_chunks
from starlux.io.datasets import FileFormatError, read_dataset, write_dataset


@pytest.mark.parametrize("ext", ["npz", "h5", "fits"])
def test_every_dataset_format_is_read_in_chunks_equal_to_its_rows(tmp_path, ext):
    ds = set671()
    path = tmp_path / f"set.{ext}"
    write_dataset(path, ds)
    info = dataset_info(path)
    assert info["n"] == 671 and tuple(info["arrays"]["flux"]) == (671, 100)
    starts = []
    for rows, chunk in iter_dataset_chunks(path, chunk_size=200):
        starts.append(rows.start)
        same_dataset(ds.take(np.arange(rows.start, rows.stop)), chunk)
    assert starts == [0, 200, 400, 600]


def test_chunks_appended_to_an_h5_file_read_back_as_one_dataset(tmp_path):
    ds = set671()
    path = tmp_path / "big.h5"
    with ChunkedDatasetWriter(path, chunk_rows=64) as w:
        for start in range(0, 671, 250):
            w.append(ds.take(np.arange(start, min(start + 250, 671))))
    assert w.n_written == 671
    same_dataset(ds, read_dataset(path))
    assert sum(c.n for _, c in iter_dataset_chunks(path, 100)) == 671


def test_chunked_writer_is_atomic_and_checks_layout(tmp_path):
    ds = set671()
    path = tmp_path / "big.h5"
    write_dataset(path, ds.take(np.arange(3)))
    before = path.read_bytes()
    other = Dataset.from_arrays(flux=ds["flux"].values[:2], flux_err=ds["flux"].errors[:2],
                                wavelength=np.linspace(15000, 15100, 100),
                                ids=np.array(["a", "b"]), snr=np.ones(2))
    with pytest.raises(DataError, match=r"big\.h5: .*differs"):
        with ChunkedDatasetWriter(path) as w:
            w.append(ds.with_outputs(["flux"]).take(np.arange(2)))
            w.append(other)                      # a different wavelength grid
    assert path.read_bytes() == before           # the old file is untouched
    with pytest.raises(RuntimeError):
        with ChunkedDatasetWriter(path) as w:
            w.append(ds.take(np.arange(2)))
            raise RuntimeError("crash half way")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.h5"]
    with pytest.raises(FileFormatError, match=r"big\.npz: chunked writing needs an \.h5"):
        ChunkedDatasetWriter(tmp_path / "big.npz")


def test_damaged_files_bad_chunk_sizes_and_label_tables_are_refused(tmp_path):
    (tmp_path / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(FileFormatError, match=r"bad\.h5: cannot read"):
        next(iter_dataset_chunks(tmp_path / "bad.h5", 10))
    with pytest.raises(DataError, match="chunk_size"):
        next(iter_dataset_chunks(tmp_path / "x.h5", 0))
    write_dataset(tmp_path / "labels.csv", set671().with_outputs(["label"]))
    with pytest.raises(FileFormatError, match=r"labels\.csv: chunked reading supports "
                                              r"\.npz, \.h5, \.hdf5, \.fits, \.fit, not"):
        dataset_info(tmp_path / "labels.csv")
