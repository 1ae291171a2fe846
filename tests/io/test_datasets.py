"""Dataset files in the starlux layout: round trips, damaged files, the keys read."""

from __future__ import annotations

import numpy as np
import pytest
from io_helpers import same_dataset, set671

from starlux.data import DataError
from starlux.io.datasets import (
    FileFormatError,
    dataset_to_arrays,
    read_dataset,
    write_arrays,
    write_dataset,
)
from tests.conftest import make_bilinear


@pytest.mark.parametrize("ext", ["npz", "h5", "fits"])
def test_a_dataset_comes_back_from_every_format_as_it_was_written(tmp_path, ext):
    ds = set671()
    path = tmp_path / f"set.{ext}"
    write_dataset(path, ds)
    back = read_dataset(path)
    same_dataset(ds, back)
    assert list(back.outputs) == ["label", "flux", "galah"]
    assert np.allclose(back["flux"].wavelength, ds["flux"].wavelength)
    assert np.array_equal(back.extras["snr"], ds.extras["snr"])


def test_a_damaged_h5_file_is_named_with_what_went_wrong(tmp_path):
    (tmp_path / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(FileFormatError, match=r"bad\.h5: cannot read as hdf5"):
        read_dataset(tmp_path / "bad.h5")


def test_a_missing_file_a_folder_and_an_unknown_suffix_are_refused(tmp_path):
    with pytest.raises(FileFormatError, match=r"absent\.h5: no such file"):
        read_dataset(tmp_path / "absent.h5")
    with pytest.raises(FileFormatError, match="is a folder, not a dataset file"):
        read_dataset(tmp_path)
    (tmp_path / "d.txt").write_text("1 2\n")
    with pytest.raises(FileFormatError, match=r"d\.txt: unknown dataset format '\.txt' "
                                              r"\(use \.npz, \.h5, .*\.parquet, \.pq\)"):
        read_dataset(tmp_path / "d.txt")
    ds, _ = make_bilinear(n=3, d=4)
    with pytest.raises(FileFormatError, match=r"d\.fits\.gz: unknown dataset format"):
        write_dataset(tmp_path / "d.fits.gz", ds)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.txt"]


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


@pytest.fixture
def arrays():
    ds, _ = make_bilinear(n=40, p=4, d=8, noise=0.01, label_noise=0.02, seed=2)
    return dataset_to_arrays(ds)


def test_unknown_dataset_keys_draw_a_warning_naming_them(arrays, tmp_path):
    path = tmp_path / "extra.npz"
    write_arrays(path, {**arrays, "junk": np.arange(3), "label_eror": np.ones((40, 3))})
    with pytest.warns(UserWarning, match=r"unknown key\(s\) \['junk'\]"):
        ds = read_dataset(path)
    assert "label_eror" in ds.extras  # one value per object: kept as an extra


def test_annies_lasso_labels_key_is_read_as_label_with_a_warning(arrays, tmp_path):
    arrays["labels"], arrays["labels_err"] = arrays.pop("label"), arrays.pop("label_err")
    path = tmp_path / "cannon.npz"
    write_arrays(path, arrays)
    with pytest.warns(UserWarning, match="reading the key 'labels' as 'label'"):
        ds = read_dataset(path)
    assert list(ds["label"].names) == ["TEFF", "LOGG", "FE_H"]
