"""Cross-matching by APOGEE/2MASS id and Gaia DR3 source_id; multi-output datasets."""

from __future__ import annotations

import numpy as np
import pytest
from io_helpers import ALLSTAR, GALAH, shared

from starlux.data import DataError, Output
from starlux.io.catalogs import read_allstar, read_galah_dr3, read_label_table
from starlux.io.crossmatch import crossmatch, merge_outputs, normalize_ids
from starlux.io.datasets import read_dataset, write_dataset


def test_ids_of_every_spelling_are_normalised_to_one_form():
    a = normalize_ids([b"2M03292572-6933158", " J03292572-6933158", "03292572-6933158 ",
                       "", "AP1234"], "apogee_id")
    assert a.tolist() == ["2M03292572-6933158"] * 3 + ["", "AP1234"]
    g = normalize_ids(np.ma.MaskedArray([5, 0, -1, 7], mask=[0, 0, 0, 1]), "gaia_source_id")
    assert g.tolist() == [5, -1, -1, -1]
    assert normalize_ids(["123", "", "x", "4.5e3"], "gaia_source_id").tolist() == \
        [123, -1, -1, 4500]
    with pytest.raises(DataError, match="unknown id kind"):
        normalize_ids([1], "tic_id")


def test_a_crossmatch_pairs_equal_ids_and_refuses_duplicates():
    m = crossmatch(["2MA", "2MB", "2MC", ""], ["2MC", "2MA", "", "2MD"], key="apogee_id")
    assert m.left.tolist() == [0, 2] and m.right.tolist() == [1, 0]
    assert m.n_matched == 2 and "1 left rows have no id" in m.summary()
    g = crossmatch([1, 2, 0], [0, 2, 1], key="gaia_source_id")  # 0 = no id: never matches
    assert g.left.tolist() == [0, 1] and g.right.tolist() == [2, 1]
    with pytest.raises(DataError, match=r"cat\.fits: 1 duplicated apogee_id value.*2MA"):
        crossmatch(["2MA"], ["2MA", "2MA"], right_name="cat.fits")
    m = crossmatch(["2MA"], ["2MB", "2MA", "2MA"], on_duplicate="first")
    assert m.right.tolist() == [1]


@pytest.fixture(scope="module")
def apogee_galah():
    a = read_allstar(shared(*ALLSTAR), ["TEFF", "LOGG", "FE_H", "MG_FE"])
    g = read_galah_dr3(shared(*GALAH), ["teff", "logg", "fe_h", "Mg_fe"])
    return a, g


def test_real_overlap_is_twelve_stars_by_either_id(apogee_galah):
    a, g = apogee_galah
    by_gaia = crossmatch(a.ids["gaia_source_id"], g.ids["gaia_source_id"],
                         key="gaia_source_id")
    by_2mass = crossmatch(a.ids["apogee_id"], g.ids["apogee_id"], key="apogee_id")
    assert by_gaia.n_matched == by_2mass.n_matched == 12
    assert np.array_equal(by_gaia.left, by_2mass.left)
    assert np.array_equal(by_gaia.right, by_2mass.right)
    assert "matched 12 of 1612" in by_gaia.summary()


def test_a_label_transfer_dataset_lines_up_the_same_stars(apogee_galah, tmp_path):
    a, g = apogee_galah
    merged = merge_outputs({"label": a.output}, a.match_ids(),
                           [("galah", g.output, g.match_ids(), "gaia_source_id", "galah")],
                           base_name="apogee")
    ds = merged.dataset
    assert ds.n == 12 and list(ds.outputs) == ["label", "galah"]
    assert ds["galah"].names == ("teff", "logg", "fe_h", "Mg_fe")
    # rows line up: the same star in both outputs
    m = merged.matches[0]
    assert np.allclose(ds["label"].values[:, 0], a.output.values[m.left, 0])
    assert np.allclose(ds["galah"].values[:, 0], g.output.values[m.right, 0])
    # two surveys, same stars: Teff agrees to ~100 K (one real 700 K outlier)
    assert np.median(np.abs(ds["label"].values[:, 0] - ds["galah"].values[:, 0])) < 150
    assert ds.extras["gaia_source_id"].tolist() == a.ids["gaia_source_id"][m.left].tolist()
    write_dataset(tmp_path / "transfer.h5", ds)
    back = read_dataset(tmp_path / "transfer.h5")
    assert list(back.outputs) == ["label", "galah"] and back.ids.tolist() == ds.ids.tolist()


def test_a_left_join_through_a_bridge_keeps_the_unmatched_star(apogee_galah):
    a, g = apogee_galah
    ids = np.array(["2M08390607+2247353", "2M00000000+0000000", "2M22512911+0730335"])
    flux = Output.create(np.ones((3, 4)), np.full((3, 4), 0.01), kind="spectrum")
    # GALAH straight on Gaia ids: the spectra have none -> a clear error
    with pytest.raises(DataError, match="carry no gaia_source_id"):
        merge_outputs({"flux": flux}, {"apogee_id": ids},
                      [("galah", g.output, g.match_ids(), "gaia_source_id", "galah.fits")])
    # via the allStar table (APOGEE_ID -> Gaia DR3), left join keeps the unmatched star
    merged = merge_outputs(
        {"flux": flux}, {"apogee_id": ids},
        [("label", a.output, a.match_ids(), "apogee_id", "allstar.fits"),
         ("galah", g.output, g.match_ids(), "gaia_source_id", "galah.fits")], how="left")
    ds = merged.dataset
    assert ds.n == 3 and merged.matched["galah"].tolist() == [True, False, True]
    assert ds["galah"].missing[1].all() and not ds["galah"].missing[0].any()
    inner = merge_outputs(
        {"flux": flux}, {"apogee_id": ids},
        [("label", a.output, a.match_ids(), "apogee_id", "allstar.fits"),
         ("galah", g.output, g.match_ids(), "gaia_source_id", "galah.fits")])
    assert inner.dataset.ids.tolist() == [ids[0], ids[2]]


def test_occam_duplicates_are_reported():
    o = read_label_table(shared("apogee-clusters", "occam_member-DR16.fits"), ["FE_H"])
    with pytest.raises(DataError, match=r"occam_member-DR16\.fits: 490 duplicated apogee_id"):
        crossmatch(["2M00262464+6354460"], o.ids["apogee_id"],
                   right_name=o.source)
