"""The errors of the file layer, and what the command line makes of them."""

from __future__ import annotations

import pytest

from starlux.cli import main
from starlux.data import DataError
from starlux.io.errors import FileFormatError, OutputBusyError


def test_a_file_format_error_is_a_data_error_and_a_busy_output_an_os_error():
    assert issubclass(FileFormatError, DataError) and issubclass(FileFormatError, ValueError)
    assert issubclass(OutputBusyError, OSError)
    assert not issubclass(OutputBusyError, DataError)


@pytest.mark.parametrize("exc", [FileFormatError("x.fits: file is truncated"),
                                 OutputBusyError("p.h5: being written by process 12")])
def test_both_become_one_line_and_exit_code_2_on_the_command_line(monkeypatch, capsys, exc):
    import starlux.commands.train as train

    def fail(args):
        raise exc

    monkeypatch.setattr(train, "run", fail)
    assert main(["train", "t.npz", "--out", "m.h5"]) == 2
    assert capsys.readouterr().err == f"starlux train: error: {exc}\n"
