"""Metrics compare residuals with the error they should have: the predicted error
against the truth, the catalogue error added in quadrature against a catalogue."""

from __future__ import annotations

import numpy as np

from starlux.evaluate.metrics import format_metrics, label_metrics, metrics_to_csv


def _draw(n: int = 20000, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(n, 1))
    pred = truth + rng.normal(size=(n, 1)) * 0.3
    cat = truth + rng.normal(size=(n, 1)) * 0.4
    return truth, pred, cat


def test_against_the_truth_the_predicted_error_alone_is_used():
    truth, pred, _ = _draw()
    row = label_metrics(pred, np.full_like(pred, 0.3), truth, ["X"])[0]
    assert abs(row["z_std"] - 1.0) < 0.03 and row["reference"] == "truth"
    assert abs(row["within_1sigma"] - 0.683) < 0.02


def test_against_a_catalogue_its_error_is_added_in_quadrature():
    _, pred, cat = _draw()
    row = label_metrics(pred, np.full_like(pred, 0.3), cat, ["X"],
                        reference_err=np.full_like(cat, 0.4))[0]
    assert abs(row["z_std"] - 1.0) < 0.03  # sqrt(0.3^2 + 0.4^2) = 0.5
    assert "quadrature" in row["reference"]


def test_tables_are_formatted_by_astropy_and_written_by_the_csv_module(tmp_path):
    truth, pred, _ = _draw(50)
    rows = label_metrics(pred, np.full_like(pred, 0.3), truth, ["NAME, WITH COMMA"])
    text = format_metrics(rows, title="t")
    assert "RMSE" in text and "against the truth" in text
    metrics_to_csv(rows, tmp_path / "m.csv")
    assert '"NAME, WITH COMMA"' in (tmp_path / "m.csv").read_text()
