"""Spectral figures: lines break at chip gaps, and the axis is a pixel axis when the
data have no wavelengths."""

from __future__ import annotations

import numpy as np

from starlux.evaluate.spectrum_plots import spectra_comparison, with_gaps, x_axis


def test_lines_break_where_the_wavelength_step_jumps():
    wl = np.r_[np.arange(10.0), np.arange(100.0, 110.0)]
    x, y = with_gaps(wl, np.ones(20))
    assert x.size == 21 and np.isnan(x[10]) and np.isnan(y[10])
    x, _ = with_gaps(np.arange(10.0), np.ones(10))
    assert not np.isnan(x).any()


def test_spectra_without_wavelengths_are_drawn_against_pixels(tmp_path):
    assert x_axis(None, 5)[1] == "pixel" and x_axis(np.ones(5), 5)[1] == "wavelength (Å)"
    data = np.ones((2, 100))
    spectra_comparison(None, data, np.zeros_like(data, bool), data, None, ["a", "b"],
                       tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0
