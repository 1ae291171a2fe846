"""Sub-commands of the ``starlux`` command line (each: add_arguments, run)."""
