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


def test_gaia_xp_spectra_are_drawn_in_nm_and_apogee_spectra_in_angstrom():
    from starlux.evaluate.spectrum_plots import is_gaia_xp_grid, wavelength_unit

    xp = np.arange(3360.0, 10220.0, 20.0)  # 336-1020 nm, 2 nm steps, stored in Å
    x, label = x_axis(xp, xp.size)
    assert label == "wavelength (nm)" and x[0] == 336.0 and x[-1] == 1020.0
    assert is_gaia_xp_grid(np.arange(4000.0, 8000.0, 10.0))  # a GaiaXPy 1 nm sampling
    apogee = np.linspace(15100.0, 17000.0, 8575)
    assert wavelength_unit(apogee) == "Å" and not is_gaia_xp_grid(None)
    assert wavelength_unit(np.arange(3800.0, 9000.0, 1.0)) == "Å"  # higher resolution


def test_the_spectra_figure_draws_the_error_band_and_the_zoom_in_angstrom(tmp_path):
    import matplotlib.pyplot as plt

    xp = np.arange(3360.0, 10220.0, 20.0)
    rng = np.random.default_rng(0)
    data = 1 + 0.01 * rng.normal(size=(2, xp.size))
    err = np.full_like(data, 0.01)
    shown = []
    real_savefig = plt.Figure.savefig

    def keep(fig, *a, **k):
        shown.append([ax for ax in fig.axes])
        return real_savefig(fig, *a, **k)

    plt.Figure.savefig = keep
    try:
        spectra_comparison(xp, data, np.zeros_like(data, bool), np.ones_like(data),
                           2 * np.ones_like(data), ["a", "b"], tmp_path / "s.png",
                           wave_range=(5000.0, 6000.0), errors=err, noise=2 * err)
    finally:
        plt.Figure.savefig = real_savefig
    top, resid = shown[0][0], shown[0][1]
    assert top.get_xlim()[0] >= 490 and top.get_xlim()[1] <= 610  # 500-600 nm
    assert len(top.collections) == 1 and len(resid.collections) == 1  # the ±1σ bands
    # the panels show the data and the model from the spectrum, not the far-off one
    assert top.get_ylim()[1] < 1.5 and resid.get_ylim()[1] < 0.1
