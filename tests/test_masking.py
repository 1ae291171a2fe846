"""ASPCAP element windows: reading, label names, mapping onto other grids."""

from __future__ import annotations

import numpy as np
import pytest

from starlux.data import DataError
from starlux.masking import label_element, label_masks, read_aspcap_windows

from .conftest import SHARED_DATA, shared_data_reason
from .evaluate.helpers import write_windows

DR17 = SHARED_DATA / "apogee-masks-windows" / "aspcap_dr17_windows"
EMU_WL = SHARED_DATA / "apogee-nn-emulators" / "apogee_wavelength.npz"


@pytest.mark.parametrize("name, element", [
    ("MG_FE", "Mg"), ("Mg_fe", "Mg"), ("mg_h", "Mg"), ("FE_H", "Fe"), ("M_H", "Fe"),
    ("TIII_FE", "TiII"), ("C_FE", "C"), ("CI_FE", "CI"), ("X_H_FE", "Fe"),
    ("TEFF", None), ("LOGG", None), ("EU_FE", None), ("ALPHA_M", None), ("VMACRO", None),
])
def test_each_label_names_the_element_whose_windows_it_uses(name, element):
    assert label_element(name, ["Mg", "Fe", "TiII", "Ti", "C", "CI", "N"]) == element


def test_windows_are_moved_onto_another_wavelength_grid(tmp_path):
    src = np.exp(np.linspace(np.log(15000.0), np.log(15100.0), 101))
    mg = np.zeros(101)
    mg[40:45] = 0.5
    write_windows(tmp_path / "win", src, {"Mg": mg, "Fe": np.ones(101)})
    w = read_aspcap_windows(tmp_path / "win")
    assert w.elements == ["Fe", "Mg"]
    # a target grid at the same pixels plus points outside the windows' grid
    tgt = np.r_[14990.0, src, 15110.0]
    m = w.on_grid(tgt)
    assert m["Mg"].sum() == 5 and np.flatnonzero(m["Mg"]).tolist() == list(range(41, 46))
    assert not m["Fe"][0] and not m["Fe"][-1] and m["Fe"][1:-1].all()
    masks = label_masks(["TEFF", "MG_FE", "FE_H"], w, tgt)
    assert set(masks) == {"MG_FE", "FE_H"}
    with pytest.raises(DataError):
        read_aspcap_windows(tmp_path)  # no wave.dat


@pytest.mark.skipif(not DR17.is_dir(), reason=shared_data_reason(DR17))
def test_the_real_dr17_windows_are_read():
    w = read_aspcap_windows(DR17, elements=["Mg", "Fe", "Al"])
    assert w.wavelength.shape == (7514,)
    assert (w.weights["Mg"] > 0).sum() == 106
    if EMU_WL.is_file():
        wl = np.load(EMU_WL)["wavelength"]
        m = w.on_grid(wl, elements=["Mg"])["Mg"]
        assert m.shape == (7214,) and 50 < m.sum() <= 106
