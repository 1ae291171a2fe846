"""The one label-table builder: columns, units, error parts and metadata from the
prediction array layout."""

from __future__ import annotations

import numpy as np

from starlux import __version__
from starlux.tables import ERROR_PARTS, label_table, table_meta


def _arrays(n: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "id": np.array([f"s{i}" for i in range(n)]),
        "label": rng.normal(size=(n, 2)), "label_err": np.full((n, 2), 0.5),
        "label_fisher_err": np.full((n, 2), 0.3), "label_map_err": np.full((n, 2), 0.4),
        "label_model_err": np.array([0.1, 0.2]), "label_cov": np.zeros((n, 2, 2)),
        "label_names": np.array(["TEFF", "MG_FE"]),
        "galah": rng.normal(size=(n, 1)), "galah_err": np.ones((n, 1)),
        "galah_cov": np.zeros((n, 1, 1)), "galah_names": np.array(["teff"]),
        "flux": rng.normal(size=(n, 7)), "flux_err": np.ones((n, 7)),
        "chi2_flux": np.arange(n, dtype=float), "n_rejected_flux": np.arange(n),
        "z": rng.normal(size=(n, 3)),
    }


def test_every_label_output_gets_its_columns_and_spectra_none():
    t = label_table(_arrays())
    assert t.colnames == ["id", "TEFF", "TEFF_ERR", "TEFF_FISHER_ERR", "TEFF_MAP_ERR",
                          "TEFF_MODEL_ERR", "MG_FE", "MG_FE_ERR", "MG_FE_FISHER_ERR",
                          "MG_FE_MAP_ERR", "MG_FE_MODEL_ERR", "galah_teff", "galah_teff_err",
                          "chi2_flux", "n_rejected_flux"]
    assert len(t) == 4 and t["id"][2] == "s2"


def test_values_units_and_descriptions_come_from_the_arrays_and_the_label_names():
    a = _arrays()
    t = label_table(a)
    np.testing.assert_array_equal(t["MG_FE"], a["label"][:, 1])
    np.testing.assert_array_equal(t["MG_FE_MODEL_ERR"], [0.2] * 4)  # one value per label
    assert str(t["TEFF"].unit) == "K" and str(t["MG_FE_ERR"].unit) == "dex"
    assert t["TEFF_MAP_ERR"].description == ERROR_PARTS["map_err"]
    assert "predicted by starlux" in t["TEFF"].description
    assert "'flux'" in t["chi2_flux"].description


def test_the_outputs_can_be_chosen_and_metadata_is_kept():
    meta = table_meta(["flux", "label"], model="m.h5", extra={"RUN": 7})
    t = label_table(_arrays(), outputs=["galah"], meta=meta)
    assert [c for c in t.colnames if "teff" in c] == ["galah_teff", "galah_teff_err"]
    assert "TEFF" not in t.colnames
    assert t.meta["INPUTS"] == "flux,label" and t.meta["MODEL"] == "m.h5"
    assert t.meta["STLXVER"] == __version__ and t.meta["RUN"] == 7
    assert all(len(k) <= 8 for k in t.meta if k != "comments")  # plain FITS cards
    assert "MODEL" not in table_meta(["flux"])
    assert table_meta(["flux"], model_sha256="ab" * 32)["MODELSHA"] == "ab" * 32


def test_error_columns_follow_the_case_of_their_label():
    a = _arrays()
    a["label_names"] = np.array(["teff", "Mg_Fe"])
    t = label_table(a)
    assert "teff_err" in t.colnames and "teff_model_err" in t.colnames
    assert "Mg_Fe_ERR" in t.colnames  # mixed case: the catalogue convention, upper
