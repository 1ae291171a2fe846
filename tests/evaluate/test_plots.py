"""Validation figures: each is written whole, with the numbers it claims to show."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from starlux.evaluate import plots


def _texts(monkeypatch) -> list[str]:
    """Capture the text of every figure saved (then closed) by ``savefig_atomic``."""
    seen: list[str] = []
    real = plots.savefig_atomic

    def spy(fig, path, dpi=plots.DPI):
        seen.extend(t.get_text() for ax in fig.axes for t in ax.texts)
        seen.extend(ax.get_xlabel() for ax in fig.axes)
        real(fig, path, dpi=dpi)

    monkeypatch.setattr(plots, "savefig_atomic", spy)
    return seen


def test_a_figure_is_saved_atomically_in_the_format_of_its_suffix(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    plots.savefig_atomic(fig, tmp_path / "line.png")
    assert (tmp_path / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)  # closed
    fig, _ = plt.subplots()
    plots.savefig_atomic(fig, tmp_path / "line.pdf")
    assert (tmp_path / "line.pdf").read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.pdf", "line.png"]


def test_the_one_to_one_plot_states_bias_and_rmse_in_the_labels_unit(tmp_path, monkeypatch):
    texts = _texts(monkeypatch)
    ref = np.array([4000.0, 4500.0, 5000.0, np.nan])
    pred = ref + np.array([10.0, -10.0, 30.0, 0.0])
    plots.one_to_one(pred, ref, "TEFF", tmp_path / "teff.png", pred_err=np.full(4, 20.0))
    assert (tmp_path / "teff.png").stat().st_size > 0
    box = next(t for t in texts if t.startswith("N = "))
    assert "N = 3" in box and "bias = 10 K" in box and "RMSE = 19.1 K" in box
    assert "mean error = 20 K" in box


def test_one_plot_is_written_per_label(tmp_path):
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(30, 2))
    paths = plots.one_to_one_all(ref + 0.1, ref, ["LOGG", "FE_H"], tmp_path)
    assert [p.name for p in paths] == ["one_to_one_LOGG.png", "one_to_one_FE_H.png"]
    assert all(p.stat().st_size > 0 for p in paths)


def test_binned_quantiles_are_the_percentiles_within_each_bin():
    x = np.repeat([1.0, 10.0], 10)
    y = np.r_[np.arange(10.0), 100 + np.arange(10.0)]
    centres, (med, lo, hi) = plots.binned_quantiles(x, y, n_bins=2, min_count=5)
    assert centres.size == 2 and centres[0] < 10 < centres[1] * 2
    np.testing.assert_allclose(med, [4.5, 104.5])
    np.testing.assert_allclose(lo, np.percentile(np.arange(10.0), 16) + [0.0, 100.0])
    assert hi[0] == pytest.approx(np.percentile(np.arange(10.0), 84))
    empty, parts = plots.binned_quantiles(x[:3], y[:3], min_count=5)
    assert empty.size == 0 and all(p.size == 0 for p in parts)


@pytest.mark.parametrize("n, shape, spare", [(3, (1, 3), False), (5, (1, 5), False),
                                             (7, (2, 4), True), (9, (2, 5), True)])
def test_panels_fill_their_rows_and_a_spare_slot_holds_the_legend(n, shape, spare):
    fig, axes, slot = plots.panel_grid(n, legend_slot=n > 5)
    assert len(axes) == n and (slot is not None) == spare
    grid = fig.axes[0].get_subplotspec().get_gridspec()
    assert (grid.nrows, grid.ncols) == shape
    plt.close(fig)


def test_an_snr_axis_is_logarithmic_only_for_a_wide_range():
    fig, (a, b) = plt.subplots(1, 2)
    plots.snr_axis(a, np.array([10.0, 20.0, 40.0]))
    plots.snr_axis(b, np.array([5.0, 50.0, 500.0]))
    assert a.get_xscale() == "linear" and b.get_xscale() == "log"
    assert a.get_xlabel() == b.get_xlabel() == "SNR"
    plt.close(fig)


def test_the_label_figures_are_written_from_small_inputs(tmp_path):
    rng = np.random.default_rng(2)
    n = 60
    snr = rng.uniform(20, 300, n)
    ref = rng.normal(size=(n, 2))
    pred = ref + rng.normal(size=(n, 2)) / snr[:, None]
    err = np.c_[1 / snr, 1 / snr]
    plots.residuals_vs_snr(pred, ref, ["TEFF", "LOGG"], snr, tmp_path / "res.png",
                           pred_err=err, reference_err=err)
    plots.calibration_plot(pred[:, 0] - ref[:, 0], err[:, 0], snr, "TEFF", tmp_path / "cal.png")
    plots.chi2_hist({"spectra": rng.chisquare(5, n) / 5}, tmp_path / "chi2.png")
    plots.precision_vs_snr(snr, err, 1.1 * err, ["TEFF", "LOGG"], tmp_path / "prec.png", 3)
    plots.latent_map(rng.normal(size=(n, 2)), {"TEFF": ref[:, 0]}, tmp_path / "map.png")
    d = {"TEFF": 4500 + 300 * ref[:, 0], "LOGG": 2.5 + ref[:, 1], "FE_H": ref[:, 0] / 5}
    plots.label_diagram(d, d, "TEFF", "LOGG", tmp_path / "kiel.png", color="FE_H", invert=True)
    names = ["res.png", "cal.png", "chi2.png", "prec.png", "map.png", "kiel.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    assert all((tmp_path / f).stat().st_size > 1000 for f in names)
