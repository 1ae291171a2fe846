"""Label names read the way a paper writes them, with their units."""

from __future__ import annotations

from starlux.labels import axis_label, delta_label, find_label, format_value, label_info


def test_survey_column_names_get_their_printed_names_and_units():
    assert label_info("TEFF").unit == "K" and "T_" in label_info("TEFF").tex
    assert label_info("LOGG").unit == "dex"
    assert label_info("PARAM_M_H").text == "[M/H]"
    assert label_info("MG_FE").text == "[Mg/Fe]" and label_info("MG_FE").unit == "dex"
    assert label_info("X_H_FE").text == "[Fe/H]"
    assert label_info("VMACRO").unit == "km / s"


def test_unknown_names_keep_their_own_name_and_no_unit():
    info = label_info("my_label")
    assert info.text == "my_label" and info.unit == ""
    assert axis_label("my_label") == "my_label"


def test_axis_and_residual_labels_carry_the_unit():
    assert axis_label("TEFF", "catalogue").endswith("(K)")
    assert delta_label("FE_H") == "Δ [Fe/H] (dex)"


def test_values_print_to_a_sensible_precision():
    assert format_value("TEFF", 4321.6) == "4322 K"
    assert format_value("MG_FE", -0.001) == "0.00"


def test_diagram_axes_are_found_by_alias():
    assert find_label(["teff", "logg", "m_h"], "feh") == "m_h"
    assert find_label(["PARAM_M_H", "FE_H"], "feh") == "FE_H"
    assert find_label(["TEFF"], "mgfe") is None
