"""Dataset files (npz / h5 / fits / csv / parquet), chunked reading and writing."""

from __future__ import annotations

import numpy as np
import pytest
from io_helpers import shared

from starlux.data import DataError, Dataset, Output
from starlux.io.chunked import ChunkedDatasetWriter, dataset_info, iter_dataset_chunks
from starlux.io.datasets import FileFormatError, read_dataset, write_dataset


@pytest.fixture(scope="module")
def set671() -> Dataset:
    """The 671-star AnniesLasso set (100 real pixels, Teff/logg/[M/H]) as a dataset,
    from the copy shipped in the package (so this never skips)."""
    from importlib import resources

    with resources.files("starlux").joinpath("sample_data", "apogee_671.npz").open("rb") as fh:
        d = dict(np.load(fh))
    lab = d["label"].copy()
    lab[5, 1] = np.nan  # one missing label
    err = np.abs(d["label"]) * 0.01 + 0.01
    galah = Output.create(lab[:, :1] + 10, np.full((671, 1), 50.0), kind="label",
                          names=["teff_galah"], label="galah")
    base = Dataset.from_arrays(flux=d["flux"], flux_err=d["flux_err"], label=lab,
                               label_err=err, label_names=d["label_names"],
                               wavelength=np.linspace(15200, 15300, 100),
                               ids=np.array([f"star{i:03d}" for i in range(671)]),
                               snr=np.arange(671.0))
    return Dataset(outputs={**base.outputs, "galah": galah}, ids=base.ids, extras=base.extras)


def _same(a: Dataset, b: Dataset, outputs=None) -> None:
    assert a.n == b.n and a.ids.tolist() == b.ids.tolist()
    for k in outputs or a.outputs:
        assert np.array_equal(a[k].values, b[k].values, equal_nan=True), k
        assert np.array_equal(a[k].errors, b[k].errors, equal_nan=True), k
        assert np.array_equal(a[k].missing, b[k].missing), k
        assert a[k].names == b[k].names


@pytest.mark.parametrize("ext", ["npz", "h5", "fits"])
def test_round_trip_and_chunks(set671, tmp_path, ext):
    path = tmp_path / f"set.{ext}"
    write_dataset(path, set671)
    back = read_dataset(path)
    _same(set671, back)
    assert list(back.outputs) == ["label", "flux", "galah"]
    assert np.allclose(back["flux"].wavelength, set671["flux"].wavelength)
    assert np.array_equal(back.extras["snr"], set671.extras["snr"])
    assert dataset_info(path)["n"] == 671
    starts = []
    for rows, chunk in iter_dataset_chunks(path, chunk_size=200):
        starts.append(rows.start)
        _same(set671.take(np.arange(rows.start, rows.stop)), chunk)
    assert starts == [0, 200, 400, 600]


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_label_tables(set671, tmp_path, ext):
    labels = set671.with_outputs(["label", "galah"])
    path = tmp_path / f"labels.{ext}"
    write_dataset(path, labels)
    back = read_dataset(path)
    _same(labels, back)
    assert back["label"].missing[5, 1]
    with pytest.raises(FileFormatError, match=rf"spectra\.{ext}: .*label tables only"):
        write_dataset(tmp_path / f"spectra.{ext}", set671)
    assert not (tmp_path / f"spectra.{ext}").exists()
    assert [p.name for p in tmp_path.iterdir()] == [f"labels.{ext}"]  # no temp files


def test_chunked_writer(set671, tmp_path):
    path = tmp_path / "big.h5"
    with ChunkedDatasetWriter(path, chunk_rows=64) as w:
        for start in range(0, 671, 250):
            w.append(set671.take(np.arange(start, min(start + 250, 671))))
    assert w.n_written == 671
    _same(set671, read_dataset(path))
    assert sum(c.n for _, c in iter_dataset_chunks(path, 100)) == 671


def test_chunked_writer_is_atomic_and_checks_layout(set671, tmp_path):
    path = tmp_path / "big.h5"
    write_dataset(path, set671.take(np.arange(3)))
    before = path.read_bytes()
    other = Dataset.from_arrays(flux=set671["flux"].values[:2],
                                flux_err=set671["flux"].errors[:2],
                                wavelength=np.linspace(15000, 15100, 100),
                                ids=np.array(["a", "b"]), snr=np.ones(2))
    with pytest.raises(DataError, match=r"big\.h5: .*differs"):
        with ChunkedDatasetWriter(path) as w:
            w.append(set671.with_outputs(["flux"]).take(np.arange(2)))
            w.append(other)                      # a different wavelength grid
    assert path.read_bytes() == before           # the old file is untouched
    with pytest.raises(RuntimeError):
        with ChunkedDatasetWriter(path) as w:
            w.append(set671.take(np.arange(2)))
            raise RuntimeError("crash half way")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.h5"]


def test_bad_dataset_files(tmp_path):
    (tmp_path / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(FileFormatError, match=r"bad\.h5: cannot read"):
        read_dataset(tmp_path / "bad.h5")
    with pytest.raises(FileFormatError, match=r"bad\.h5: cannot read"):
        next(iter_dataset_chunks(tmp_path / "bad.h5", 10))
    with pytest.raises(FileFormatError, match="not a starlux dataset FITS"):
        read_dataset(shared("apogee-label-catalogs", "Galah_data_filtered_1061.fits"))
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FileFormatError, match=r"x\.csv: not a starlux label table"):
        read_dataset(tmp_path / "x.csv")
    with pytest.raises(DataError, match="chunk_size"):
        next(iter_dataset_chunks(tmp_path / "x.h5", 0))


def test_mismatched_shapes_name_file_and_array(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, flux=np.ones((3, 10)), flux_err=np.ones((3, 9)))
    with pytest.raises(DataError, match=r"bad\.npz: flux: errors shape \(3, 9\)"):
        read_dataset(path)
    np.savez(path, label=np.ones((3, 2)), label_err=np.ones((3, 2)),
             label_names=np.array(["a", "b", "c"]))
    with pytest.raises(DataError, match=r"bad\.npz: label: 3 names for 2 columns"):
        read_dataset(path)


def test_inverse_variance_keys_are_accepted(tmp_path):
    flux = np.ones((2, 3))
    ivar = np.array([[100.0, 0.0, 4.0], [1e4, 1e4, -1.0]])
    np.savez(tmp_path / "iv.npz", flux=flux, flux_ivar=ivar)
    ds = read_dataset(tmp_path / "iv.npz")
    assert ds["flux"].missing.tolist() == [[False, True, False], [False, False, True]]
    np.testing.assert_allclose(ds["flux"].errors[0, [0, 2]], [0.1, 0.5])
