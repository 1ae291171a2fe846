"""Errors of the file layer, in a module of their own so that every reader can raise
them without importing another reader (no import circles)."""

from __future__ import annotations

from ..data import DataError

__all__ = ["FileFormatError", "OutputBusyError"]


class FileFormatError(DataError):
    """A file that cannot be read as what it claims to be (names the file)."""


class OutputBusyError(OSError):
    """Another process is writing the same output file (names the file and the pid)."""
