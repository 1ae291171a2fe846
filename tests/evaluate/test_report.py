"""The report: optional figures are skipped cleanly (every file written by ``starlux
report``: tests/commands/test_report.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from starlux import Dataset
from starlux.evaluate.report import make_report, render_index
from starlux.evaluate.report_sections import Report
from starlux.model import Lux

from .helpers import make_latent

WL = np.linspace(15600.0, 15900.0, 40)


@pytest.fixture(scope="module")
def trained():
    train = make_latent(n=160, m=4, p=6, d=40, seed=0, wavelength=WL)
    test = make_latent(n=80, m=4, p=6, d=40, seed=1, wavelength=WL)
    return Lux(latents=6, calibrate=False, progress=False).fit(train), test


def test_report_skips_diagrams_without_known_labels(tmp_path, trained):
    model, test = trained
    names = ("A", "B", "C", "D")
    model = copy.deepcopy(model)
    model.specs["label"].names = names
    ds = Dataset.from_arrays(flux=test["flux"].values, flux_err=test["flux"].errors,
                             label=test["label"].values, label_err=test["label"].errors,
                             label_names=names, ids=test.ids, wavelength=WL)
    rep = make_report(model, ds, tmp_path, n_realizations=0, tsne=False, progress=False)
    skipped = dict(rep.skipped)
    assert "Kiel diagram" in skipped and "Tinsley-Wallerstein diagram" in skipped
    assert not (tmp_path / "kiel.png").exists()
    assert (tmp_path / "one_to_one_A.png").exists() and (tmp_path / "index.html").exists()


def test_the_index_page_lists_each_section_its_figures_and_what_was_skipped(tmp_path):
    rep = Report(out=tmp_path, index=tmp_path / "index.html")
    rep.add(tmp_path / "a.png", "First section", "caption of a")
    rep.add(tmp_path / "b.png", "Second section", "caption of b", wide=True)
    rep.skipped.append(("t-SNE latent map", "scikit-learn is not installed"))
    page = render_index(rep, "my title", ["an intro line"])
    assert "<title>my title" in page and "an intro line" in page
    assert page.index("First section") < page.index("Second section")
    assert "src='a.png'" in page and "caption of b" in page
    assert "scikit-learn is not installed" in page


def test_calibration_captions_say_how_well_the_error_bars_are_known(tmp_path):
    train = make_latent(n=160, m=2, p=4, d=40, seed=0, wavelength=WL)
    test = make_latent(n=60, m=2, p=4, d=40, seed=1, wavelength=WL)
    model = Lux(latents=4, progress=False, n_iter=2).fit(train)
    rep = make_report(model, test, tmp_path, n_realizations=0, tsne=False, progress=False)
    captions = [f.caption for f in rep.figures if f.section == "Error calibration"]
    assert captions and all("knows this label's error bars only to" in c for c in captions)


def test_the_report_of_a_model_with_a_perceptron_label_map_has_every_figure(tmp_path):
    train = make_latent(n=160, m=4, p=6, d=40, seed=0, wavelength=WL)
    test = make_latent(n=80, m=4, p=6, d=40, seed=1, wavelength=WL)
    model = Lux(latents=6, calibrate=False, progress=False,
                transforms={"label": "mlp:8x1"}).fit(train)
    rep = make_report(model, test, tmp_path, n_realizations=0, tsne=False, progress=False)
    linear = make_report(Lux(latents=6, calibrate=False, progress=False).fit(train), test,
                         tmp_path / "linear", n_realizations=0, tsne=False, progress=False)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
        p.name for p in (tmp_path / "linear").glob("*.png"))
    assert dict(rep.skipped) == dict(linear.skipped)
