"""Output paths checked before any work: never an input, always writable."""

from __future__ import annotations

import pytest

from starlux.data import DataError
from starlux.io.paths import check_distinct_files, check_output, same_file


def test_two_spellings_of_one_file_are_the_same_file_even_before_it_exists(tmp_path,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert same_file(tmp_path / "a.h5", tmp_path / "x" / ".." / "a.h5")  # neither exists
    (tmp_path / "a.h5").write_text("x")
    (tmp_path / "b.h5").symlink_to(tmp_path / "a.h5")
    assert same_file(tmp_path / "b.h5", type(tmp_path)("a.h5"))
    assert not same_file(tmp_path / "a.h5", tmp_path / "c.h5")


def test_an_output_that_is_an_input_is_refused_naming_the_flag(tmp_path):
    data = tmp_path / "d.h5"
    data.write_text("x")
    with pytest.raises(DataError, match=r"d\.h5: --out is the input file .*d\.h5; writing "
                                        r"it would destroy the input"):
        check_output(data, [None, tmp_path / "m.h5", data])
    with pytest.raises(DataError, match="out_path is the input file"):
        check_output(data, [data], flag="out_path")
    assert check_output(tmp_path / "p.h5", [data, None]) == tmp_path / "p.h5"


def test_a_file_where_a_folder_is_meant_and_the_reverse_are_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(DataError, match="--out must be a folder"):
        check_output(tmp_path / "f", folder=True)
    with pytest.raises(DataError, match="--out is a folder; give a file name"):
        check_output(tmp_path)
    assert check_output(tmp_path / "new" / "deeper", folder=True) == tmp_path / "new" / "deeper"


def test_an_output_below_a_file_cannot_be_written(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(DataError, match=r"cannot write there \(.*f is not a folder\)"):
        check_output(tmp_path / "f" / "sub" / "p.h5")


def test_an_input_given_twice_is_refused_with_both_spellings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.csv").write_text("x")
    (tmp_path / "b.csv").write_text("y")
    check_distinct_files(["a.csv", "b.csv"], "--catalog")
    with pytest.raises(DataError, match=r"^a\.csv: given twice to --catalog$"):
        check_distinct_files(["a.csv", "a.csv"], "--catalog")
    with pytest.raises(DataError, match=r"given twice to --catalog \(as a\.csv\)"):
        check_distinct_files(["a.csv", str(tmp_path / "a.csv")], "--catalog")
