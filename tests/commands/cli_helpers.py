"""Helpers for the command tests: run ``starlux`` in-process, check one-line errors."""

from __future__ import annotations

from starlux.cli import main


def run_cli(argv: list, capsys) -> tuple[int, str, str]:
    """Exit code, stdout, stderr of ``starlux ARGV`` (argparse's exits included)."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, err: str, message: str) -> None:
    """A non-zero exit, no traceback, and exactly one error line that holds ``message``."""
    assert rc != 0
    assert "Traceback" not in err
    errors = [line for line in err.strip().splitlines() if ": error: " in line]
    assert len(errors) == 1, err
    assert message in errors[0], err


def check_bad_input(case: tuple[list[str], str], files: dict, capsys) -> None:
    """Run one ``(command line, expected message)`` case on the ``files`` fixture
    (``{name}`` in either stands for ``files[name]``): a one-line error, and neither
    a model nor a prediction written."""
    argv, message = case
    argv = [a.format(**files) for a in argv]
    rc, _, err = run_cli(argv, capsys)
    assert_one_line_error(rc, err, message.format(**files))
    assert not (files["dir"] / "m.h5").exists() and not (files["dir"] / "p.npz").exists()
