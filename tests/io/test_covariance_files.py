"""A per-object error covariance goes through every dataset file as ``<out>_cov``."""

from __future__ import annotations

import numpy as np
import pytest

from starlux.data import DataError, Dataset, Output
from starlux.io.chunked import ChunkedDatasetWriter, dataset_info, iter_dataset_chunks
from starlux.io.datasets import read_dataset, write_arrays, write_dataset
from starlux.io.errors import FileFormatError


def _dataset(n: int = 7, d: int = 5) -> Dataset:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(n, d, d))
    cov = 1e-4 * (a @ np.swapaxes(a, 1, 2) + 0.1 * np.eye(d))
    flux = 1 + rng.normal(size=(n, d)) * 0.01
    flux[2, 4] = np.nan  # a missing entry: its row and column of the covariance are 0
    lab = rng.normal(size=(n, 2))
    return Dataset(outputs={
        "flux": Output.create(flux, None, kind="spectrum", wavelength=np.arange(d) + 3360.0,
                              label="flux", covariance=cov),
        "label": Output.create(lab, np.full((n, 2), 0.1), names=["TEFF", "LOGG"])},
        ids=np.arange(n) + 10**18)


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".fits"])
def test_a_covariance_is_written_as_out_cov_and_read_back_unchanged(tmp_path, suffix):
    ds = _dataset()
    path = tmp_path / f"d{suffix}"
    write_dataset(path, ds)
    assert dataset_info(path)["arrays"]["flux_cov"] == (7, 5, 5)
    back = read_dataset(path)
    assert np.array_equal(back["flux"].covariance, ds["flux"].covariance)
    assert np.array_equal(back["flux"].errors, ds["flux"].errors)
    assert back["label"].covariance is None
    assert "flux_cov" not in back.extras
    chunks = [c["flux"].covariance for _, c in iter_dataset_chunks(path, chunk_size=3)]
    assert np.array_equal(np.concatenate(chunks), ds["flux"].covariance)


def test_a_covariance_without_errors_in_the_file_gives_them_from_its_diagonal(tmp_path):
    ds = _dataset()
    path = tmp_path / "d.npz"
    write_arrays(path, {"flux": ds["flux"].values, "flux_cov": ds["flux"].covariance,
                        "xp": ds["flux"].values, "xp_cov": ds["flux"].covariance})
    back = read_dataset(path)
    ok = ~ds["flux"].missing
    for name in ("flux", "xp"):
        assert np.allclose(back[name].errors[ok], ds["flux"].errors[ok], rtol=1e-15)
        assert back[name].kind == "spectrum" and back[name].covariance is not None


def test_a_file_whose_covariance_disagrees_with_its_errors_is_a_one_line_error(tmp_path):
    ds = _dataset()
    path = tmp_path / "d.h5"
    write_arrays(path, {"flux": ds["flux"].values, "flux_err": ds["flux"].errors * 2,
                        "flux_cov": ds["flux"].covariance})
    with pytest.raises(DataError, match=r"d\.h5: flux: covariance diagonal of the object "
                                        r"at row 0, column 0"):
        read_dataset(path)


def test_the_chunked_writer_appends_covariances(tmp_path):
    ds = _dataset()
    path = tmp_path / "big.h5"
    with ChunkedDatasetWriter(path, chunk_rows=2) as w:
        w.append(ds.take(np.arange(4)))
        w.append(ds.take(np.arange(4, 7)))
    assert np.array_equal(read_dataset(path)["flux"].covariance, ds["flux"].covariance)


def test_a_label_table_file_cannot_hold_a_covariance(tmp_path):
    rng = np.random.default_rng(0)
    cov = np.repeat(np.eye(2)[None] * 0.01, 3, axis=0)
    ds = Dataset(outputs={"label": Output.create(rng.normal(size=(3, 2)), None,
                                                 names=["A", "B"], covariance=cov)})
    with pytest.raises(FileFormatError, match="label_cov"):
        write_dataset(tmp_path / "t.csv", ds)
