"""File input and output: datasets, models, predictions and survey files."""

from .datasets import FileFormatError, atomic_path, read_dataset, write_dataset

__all__ = ["read_dataset", "write_dataset", "atomic_path", "FileFormatError"]
