"""starlux: the Lux model (Horta, Price-Whelan, Hogg, Ness & Casey 2025).

A generative, multi-output latent-variable model that learns stellar labels and
spectra together from noisy and incomplete training data.
"""

from importlib.metadata import PackageNotFoundError, version

from . import config as _config  # noqa: F401  (enables float64 in JAX)
from .config import enable_compilation_cache
from .data import DataError, Dataset, Output

try:
    __version__ = version("starlux")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+local"

__all__ = ["Dataset", "Output", "DataError", "enable_compilation_cache", "__version__"]
