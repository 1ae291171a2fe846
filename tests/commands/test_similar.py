"""``starlux similar``: reference ids from a text file, the ranking as CSV, and bad
options refused with one line naming them."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from starlux import Dataset, Output
from starlux.cli import main
from starlux.io.datasets import write_dataset
from starlux.model import Lux
from tests.evaluate.helpers import make_latent

from .cli_helpers import check_bad_input

CASES = {
    "similar_refuses_a_negative_top": (
        ["similar", "{model}", "{train_npz}", "--reference", "0", "--out", "{dir}/s.csv",
         "--top", "-3"], "argument --top: must be at least 1"),
    "similar_names_reference_ids_not_in_the_data": (
        ["similar", "{model}", "{train_npz}", "--reference", "nope", "--out", "{dir}/s.csv"],
        "train.npz: --reference: 1 reference id(s) not in the dataset: nope"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_the_problem(case, files, capsys):
    check_bad_input(CASES[case], files, capsys)
    assert not (files["dir"] / "s.csv").exists()


def _twins(tmp_path):
    """A model file, and a search file of 60 objects, near-twins of objects 3 and 17,
    and the two objects themselves (``ref-3``, ``ref-17``)."""
    ds = make_latent(n=120, m=2, p=4, d=24, seed=2)
    model = Lux(latents=4, calibrate=False, progress=False).fit(ds)
    rng = np.random.default_rng(1)
    f = ds["flux"]
    twins = f.values[[3, 17]] + 1e-3 * rng.normal(size=(2, f.dim))
    vals = np.concatenate([f.values[60:120], twins, f.values[[3, 17]]])
    errs = np.concatenate([f.errors[60:120], f.errors[[3, 17]], f.errors[[3, 17]]])
    ids = np.r_[ds.ids[60:120], ["twin-3", "twin-17", "ref-3", "ref-17"]]
    search = Dataset(outputs={"flux": Output.create(vals, errs, kind="spectrum")}, ids=ids)
    model.save(str(tmp_path / "m.h5"))
    write_dataset(tmp_path / "search.npz", search)
    return tmp_path / "m.h5", tmp_path / "search.npz"


def test_references_from_a_text_file_rank_their_twins_first(tmp_path):
    model, search = _twins(tmp_path)
    (tmp_path / "refs.txt").write_text("# references\nref-3\nref-17\n")
    out = tmp_path / "similar.csv"
    rc = main(["similar", str(model), str(search), "--reference", str(tmp_path / "refs.txt"),
               "--top", "3", "--out", str(out)])
    assert rc == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 3 and {rows[0]["id"], rows[1]["id"]} == {"twin-3", "twin-17"}
    assert "ref-3" not in {r["id"] for r in rows}
