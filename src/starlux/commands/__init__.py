"""Sub-commands of the ``starlux`` command line.

Each command module has ``add_arguments(parser)`` and ``run(args) -> int``; it checks
its options and output path before any work and raises on failure, and
:mod:`starlux.cli` alone turns errors into one line and an exit code. Shared pieces:
:mod:`~starlux.commands.options` (one list syntax, checked numbers) and
:mod:`~starlux.commands.checks` (the data's size and labels).
"""
