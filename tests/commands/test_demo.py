"""``starlux demo``: its options and their defaults (the run itself: tests/test_demo.py)."""

from __future__ import annotations

import pytest

from starlux.cli import main


def test_demo_help_shows_defaults(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "starlux-demo" in text and "(default: real)" in text
