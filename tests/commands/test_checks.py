"""Pre-flight checks of the commands: the data's size and labels, before any work."""

from __future__ import annotations

import numpy as np
import pytest

from starlux.commands.checks import (
    check_folds,
    check_latents,
    labelled_objects,
    require_objects,
    warn_constant_labels,
)
from starlux.data import DataError, Dataset
from tests.conftest import make_bilinear


def _labels(values: np.ndarray) -> Dataset:
    return Dataset.from_arrays(label=values, label_err=np.ones_like(values),
                               label_names=["TEFF", "LOGG", "FE_H"][: values.shape[1]])


def test_an_empty_dataset_is_refused_naming_the_file():
    ds, _ = make_bilinear(n=5, d=4)
    assert require_objects(ds, "d.h5") is ds
    with pytest.raises(DataError, match=r"^empty\.h5: holds no objects$"):
        require_objects(ds.take(np.arange(0)), "empty.h5")


def test_an_object_counts_as_labelled_when_it_has_one_usable_label():
    lab = np.ones((4, 2))
    lab[1, 0] = np.nan       # one label left: labelled
    lab[2] = np.nan          # none left: not labelled
    assert labelled_objects(_labels(lab)) == 3


def test_more_folds_than_labelled_objects_are_refused_with_the_largest_allowed():
    ds = _labels(np.arange(12.0).reshape(6, 2))
    check_folds(ds, 6, "t.h5")
    with pytest.raises(DataError, match=r"t\.h5: --folds 7 is more than the 6 objects "
                                        r"with labels; use --folds 6 or fewer"):
        check_folds(ds, 7, "t.h5")
    with pytest.raises(DataError, match=r"--folds 4 is too many for \(each fold needs 2\) "
                                        r"the 6 objects with labels; use --folds 3"):
        check_folds(ds, 4, "t.h5", per_fold=2)


def test_a_latent_size_is_resolved_for_the_label_count_or_refused_naming_the_flag():
    ds = _labels(np.arange(12.0).reshape(4, 3))
    assert check_latents(ds, "2x", "t.h5") == 6
    assert check_latents(ds, "1x+1", "t.h5") == 4
    with pytest.raises(DataError, match=r"^t\.h5: --latents 3: latent size P=3 is too small"):
        check_latents(ds, 3, "t.h5")


def test_a_label_with_one_value_for_every_object_draws_a_warning_naming_it():
    lab = np.arange(15.0).reshape(5, 3)
    lab[:, 2] = -0.5
    lab[0, 2] = np.nan  # a missing entry does not make the column vary
    with pytest.warns(UserWarning, match=r"t\.h5: label 'FE_H' .* same value -0.5 for all 4"):
        assert warn_constant_labels(_labels(lab), "t.h5") == ["FE_H"]
    assert warn_constant_labels(_labels(np.arange(15.0).reshape(5, 3)), "t.h5") == []
