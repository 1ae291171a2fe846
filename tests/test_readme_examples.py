"""Every fenced ``python`` block of README.md and docs/*.md runs as written in an empty
folder: the blocks of one page run in order, as one script, in a fresh temporary
directory (so no example depends on files it did not make itself)."""

from __future__ import annotations

import os
import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    """The fenced python blocks of a Markdown page, in order."""
    return FENCE.findall(page.read_text(encoding="utf-8"))


PAGES_WITH_CODE = [p for p in PAGES if python_blocks(p)]


def test_the_readme_has_python_examples():
    assert python_blocks(ROOT / "README.md")


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: p.name)
def test_every_python_example_on_the_page_runs_in_an_empty_folder(page, tmp_path,
                                                                  monkeypatch):
    if page.name == "scaling.md":
        pytest.skip("scaling.md shows commands on survey-sized files (allspectra.h5, a "
                    "Dask cluster) that an example cannot make in seconds")
    if page.name == "xp-tutorial.md":
        pytest.skip("xp-tutorial.md runs on the shared Gaia XP x APOGEE file (104 MB, not "
                    "shipped) after shell commands that train for minutes")
    script = tmp_path / f"{page.stem}_examples.py"
    script.write_text("\n\n".join(python_blocks(page)), encoding="utf-8")
    work = tmp_path / "empty"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    runpy.run_path(str(script), run_name="__main__")
    assert os.getcwd() == str(work)
