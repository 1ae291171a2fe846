"""Label catalogues: DR17 allStar-like, GALAH DR3, OCCAM, DR16 rows, CSV/Parquet tables."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from astropy.table import Table
from io_helpers import ALLSTAR, GALAH, shared

from starlux.data import DataError
from starlux.io.catalogs import (
    detect_catalog_kind,
    read_allstar,
    read_catalog,
    read_galah_dr3,
    read_label_table,
    read_table,
    table_colnames,
)
from starlux.io.datasets import FileFormatError


def test_allstar_labels_come_with_their_errors_and_flags():
    path = shared(*ALLSTAR)
    t = read_allstar(path, ["TEFF", "LOGG", "FE_H", "N_FE"])
    raw = Table.read(path)
    assert t.n == 1612 and t.output.names == ("TEFF", "LOGG", "FE_H", "N_FE")
    assert np.array_equal(t.output.values[:, 0], np.asarray(raw["teff"], float))
    assert np.array_equal(t.output.errors[:, 1], np.asarray(raw["logg_err"], float))
    assert t.columns["N_FE"] == ("n_fe", "n_fe_err", "n_fe_flag")
    flagged = np.asarray(raw["n_fe_flag"]) != 0
    assert flagged.sum() == 426
    assert np.array_equal(t.output.missing[:, 3], flagged)
    assert np.all(np.isnan(t.output.values[flagged, 3]))
    assert t.mask_summary["N_FE"]["n_fe_flag != 0"] == 426
    assert "426 missing" in t.describe()
    assert t.ids["apogee_id"][0] == "2M03242060+0758421"
    assert t.ids["gaia_source_id"].dtype == np.int64
    assert detect_catalog_kind(table_colnames(path)) == "allstar"
    # flags can be ignored on request
    assert not read_allstar(path, ["N_FE"], use_flags=False).output.missing.any()


def test_unknown_label_names_a_close_match():
    with pytest.raises(DataError, match=r"unknown label column.*'TEF'.*teff") as err:
        read_allstar(shared(*ALLSTAR), ["TEF", "LOGG"])
    assert "Apogee_data_filtered_1612.fits" in str(err.value)


def test_a_column_missing_for_every_star_is_an_error():
    # P_FE is blank for every star of this DR17 selection
    with pytest.raises(DataError, match=r"Apogee_data_filtered_1612\.fits: column 'p_fe'"):
        read_allstar(shared(*ALLSTAR), ["TEFF", "P_FE"])
    t = read_allstar(shared(*ALLSTAR), ["P_FE"], allow_empty=True)
    assert t.output.missing.all()


def test_galah_flags_mask_their_label_or_the_whole_row(tmp_path):
    keep = ["star_id", "sobject_id", "dr3_source_id", "flag_sp", "teff", "e_teff", "fe_h",
            "e_fe_h", "flag_fe_h", "Mg_fe", "e_Mg_fe", "flag_Mg_fe"]
    src = Table.read(shared(*GALAH))[keep][:40]
    src["flag_sp"][3] = 1
    src["flag_Mg_fe"][5] = 32
    path = tmp_path / "galah_small.fits"
    src.write(path)
    t = read_galah_dr3(path, ["teff", "fe_h", "Mg_fe"])
    assert t.output.missing[3].all()                       # flag_sp != 0: whole row
    assert t.output.missing[5].tolist() == [False, False, True]
    assert np.allclose(t.output.errors[0, 2], src["e_Mg_fe"][0])
    assert t.mask_summary["Mg_fe"]["flag_sp != 0"] == 1
    assert t.mask_summary["Mg_fe"]["flag_Mg_fe != 0"] == 1
    assert t.ids["apogee_id"][0] == "2M" + src["star_id"][0].strip()
    assert detect_catalog_kind(src.colnames) == "galah"
    assert read_catalog(path, ["teff"]).n == 40


def test_the_real_galah_table_is_read_whole():
    t = read_galah_dr3(shared(*GALAH), ["teff", "logg", "fe_h", "Mg_fe"])
    assert t.n == 1061
    assert (t.ids["gaia_source_id"] > 0).all()


def test_occam_sentinel_values_become_missing():
    path = shared("apogee-clusters", "occam_member-DR16.fits")
    t = read_label_table(path, ["FE_H"])
    raw = np.asarray(Table.read(path)["FE_H"], float)
    assert t.mask_summary["FE_H"]["value <= -9999"] == np.sum(raw <= -9999) > 0
    assert t.output.missing[:, 0].sum() >= np.sum(raw <= -9999)


def test_dr16_allstar_rows_are_read_and_a_bad_aspcapflag_masks_the_row(tmp_path):
    t = read_allstar(shared("apogee-label-catalogs", "published_clusters_dr16_allstar_rows.npy"),
                     ["TEFF", "LOGG", "MG_FE"])
    assert t.n == 360 and not t.output.missing.any()
    assert "gaia_source_id" not in t.ids  # DR16 GAIA_SOURCE_ID is Gaia DR2: not used
    tab = Table({"APOGEE_ID": ["2M00000001+0000001", "2M00000002+0000002", "x"],
                 "TEFF": [4500.0, 4600.0, -9999.0], "TEFF_ERR": [50.0, 60.0, 70.0],
                 "MG_FE": [0.1, 0.2, 0.3], "MG_FE_ERR": [0.02, 0.02, 0.02],
                 "MG_FE_FLAG": [0, 0, 0],
                 "ASPCAPFLAG": np.array([0, 1 << 23, 0], dtype=np.int64)})
    path = tmp_path / "allStar-small.fits"
    tab.write(path)
    s = read_allstar(path, ["TEFF", "MG_FE"])
    assert s.output.missing.tolist() == [[False, False], [True, True], [True, False]]
    assert s.mask_summary["TEFF"]["ASPCAPFLAG bad bits [23]"] == 1
    assert s.mask_summary["TEFF"]["value <= -9999"] == 1


def test_csv_and_parquet_catalogues_find_their_error_and_flag_columns(tmp_path):
    tab = Table({"apogee_id": ["2M00000001+0000001", "2M00000002+0000002",
                               "2M00000003+0000003"],
                 "teff": [4500.0, np.nan, 4700.0], "e_teff": [50.0, 60.0, 70.0],
                 "feh": [0.1, 0.2, 0.3], "feh_err": [0.05, 0.05, 0.05],
                 "feh_flag": [0, 1, 0]})
    tab.write(tmp_path / "lab.csv", format="ascii.csv")
    (tmp_path / "blank.csv").write_text(
        "apogee_id,teff,e_teff\n2M00000001+0000001,4500,50\n2M00000002+0000002,,60\n")
    t = read_label_table(tmp_path / "lab.csv", ["teff", "feh"])
    assert t.columns["teff"][1] == "e_teff" and t.columns["feh"][2] == "feh_flag"
    assert t.output.missing.tolist() == [[False, False], [True, True], [False, False]]
    b = read_label_table(tmp_path / "blank.csv", ["teff"])
    assert b.output.missing[:, 0].tolist() == [False, True]
    assert b.mask_summary["teff"]["blank in file"] == 1
    tab.write(tmp_path / "lab.parquet")
    p = read_label_table(tmp_path / "lab.parquet", ["teff", "feh"])
    assert np.array_equal(p.output.values, t.output.values, equal_nan=True)
    with pytest.raises(DataError, match=r"lab\.csv: unknown error \(for 'feh'\) column.*'nope'"):
        read_label_table(tmp_path / "lab.csv", ["feh"], errors={"feh": "nope"})
    tab.remove_column("e_teff")
    tab.write(tmp_path / "noerr.csv", format="ascii.csv")
    with pytest.raises(DataError, match=r"noerr\.csv: label 'teff'.*no error column"):
        read_label_table(tmp_path / "noerr.csv", ["teff"])


def test_parquet_without_pyarrow_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(FileFormatError, match=r"x\.parquet: reading Parquet needs pyarrow"):
        read_table(tmp_path / "x.parquet")


def test_bad_catalogue_files_are_refused_naming_the_file(tmp_path):
    raw = shared(*ALLSTAR).read_bytes()
    (tmp_path / "trunc.fits").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(FileFormatError, match=r"trunc\.fits: .*truncated"):
        read_allstar(tmp_path / "trunc.fits", ["TEFF"])
    (tmp_path / "ragged.csv").write_text("a,b\n1,2,3\n4\n")
    with pytest.raises(FileFormatError, match=r"ragged\.csv: cannot read"):
        read_label_table(tmp_path / "ragged.csv", ["a"])
    (tmp_path / "text.csv").write_text("apogee_id,teff,teff_err\nx,hot,1\n")
    with pytest.raises(DataError, match=r"text\.csv: column 'teff' is not numeric"):
        read_label_table(tmp_path / "text.csv", ["teff"])
    with pytest.raises(FileFormatError, match="unknown table format"):
        read_label_table(tmp_path / "x.xlsx", ["teff"])
    with pytest.raises(DataError, match="no 'flag_sp' column"):
        read_galah_dr3(shared(*ALLSTAR), ["teff"])
